"""Issue 22, "derived state is derived": what follows from signed acts (a completed reset,
the champion, the current book) is computed from them each time it is needed, never read
from an entry that records it. The attacker is dana, a developer holding only her own key
(or one officer with her own), with a shell and the ledger database
(tests/helpers_forge.py writes rows past ``Ledger.append``, as a DBA can).
"""

from __future__ import annotations

import json

import pytest

from flows.cli import main
from governance.decisions import killswitch
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from governance.identity.signing import append_signed
from governance.log.ledger import Ledger
from tests.helpers_identity import CAST, POLICY, enrol_cast, signer

#: The shipped policy with every tier asking three officers for a reset.
THREE = POLICY.read_text().replace("reset_approvals: 2", "reset_approvals: 3")


def _backend(request, workspace, monkeypatch):
    from test_ledger_support import backend_url

    return backend_url(request, request.param, workspace, monkeypatch)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def three(request, workspace, monkeypatch, tmp_path):
    """A workspace whose adopted policy asks three officers for a reset (rob is the third),
    on SQLite or PostgreSQL, and a run config naming that policy."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(THREE)
    assert THREE.count("reset_approvals: 3") == 2  # both shipped tiers
    with _backend(request, workspace, monkeypatch):
        enrol_cast(workspace, (*CAST, ("rob", "risk_officer")), monkeypatch=monkeypatch,
                   policy=policy)  # fmt: skip
        cfg = tmp_path / "run.yaml"
        cfg.write_text("policy: {file: policy.yaml}\n")
        yield workspace, cfg


def _status(capsys) -> dict:
    capsys.readouterr()
    assert main(["killswitch", "status", "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_a_reset_needs_the_adopted_policys_officers_whatever_the_steps_sign(three, capsys):
    """rita and omar each sign a reset step of the live trip with ``needed: 2`` (their own
    keys, ``Ledger.append``): the adopted policy asks three, so omar's completing step re-arms
    nothing; rob's step as the third distinct officer does. Without the policy's count in the
    fold, the two signed steps re-armed the switch (checked by hand: the first assert fails)."""
    ws, cfg = three
    assert main(["killswitch", "trip", "--as", "rita", "--reason", "live"]) == 0
    with Ledger.open(ws) as ledger:
        trip = ledger.last(action=Action.KILLSWITCH_TRIPPED)
        step = {"reason": "mine", "incident": "I-9", "needed": 2, "trip_seq": trip.seq}
        append_signed(ledger, signer(ws, "rita", ledger), Action.KILLSWITCH_RESET_PENDING,
                      subject="killswitch", payload={**step, "officers": ["rita"]})  # fmt: skip
        append_signed(ledger, signer(ws, "omar", ledger), Action.KILLSWITCH_RESET,
                      subject="killswitch", payload={**step, "officers": ["rita", "omar"]})  # fmt: skip
        state = killswitch.status(ledger)
    assert state.tripped and state.seq == trip.seq
    assert state.pending_reset["officers"] == ["rita"] and state.pending_reset["needed"] == 3
    reset = ["killswitch", "reset", "--config", str(cfg), "--reason", "ok", "--incident", "I-1"]
    assert main([*reset, "--as", "omar"]) == 0  # the second officer: still pending
    status = _status(capsys)
    assert status["state"] == "tripped" and status["pending_reset"]["officers"] == ["rita", "omar"]
    assert main([*reset, "--as", "rob"]) == 0
    assert _status(capsys)["state"] == "armed"
    with Ledger.open(ws) as ledger:
        done = ledger.last(action=Action.KILLSWITCH_RESET)
    assert done.actor == "rob" and done.payload["officers"] == ["rita", "omar", "rob"]
    assert done.payload["needed"] == 3


def test_two_officers_do_not_re_arm_a_switch_whose_policy_asks_three(three, capsys):
    """The ordinary path: two officers' CLI resets leave the switch tripped, pending, naming
    the adopted policy's count."""
    _ws, cfg = three
    assert main(["killswitch", "trip", "--as", "rita", "--reason", "live"]) == 0
    reset = ["killswitch", "reset", "--config", str(cfg), "--reason", "ok", "--incident", "I-1"]
    assert main([*reset, "--as", "rita"]) == 0
    assert main([*reset, "--as", "omar"]) == 0
    status = _status(capsys)
    assert status["state"] == "tripped" and status["pending_reset"]["needed"] == 3


def test_findings_accept_reads_the_signed_verdict_not_the_last_entry(workspace, monkeypatch):
    """dev-ro trained the model, then became a risk officer; vera's signed verdict names
    dev-ro's run. dev-ro writes, past ``Ledger.append``, a later copy of that verdict whose
    ``model_run_id`` names another run: ``findings accept`` read the last
    ``validation.completed`` unchecked, found no developer and let dev-ro accept her own
    model's finding. It reads the valid signed verdict, verified as read: refused (exit 4,
    recorded), and the acceptance documents sign the genuine verdict's entry hash."""
    from test_findings import SHAP, _accept, _validate

    from governance.ground.errors import Forbidden
    from governance.identity.enrolment import change_role
    from tests.helpers_forge import forge

    enrol_cast(workspace, (*CAST, ("dev-ro", "developer")), monkeypatch=monkeypatch)
    with Ledger.open(workspace) as ledger:
        append_signed(ledger, signer(workspace, "dev-ro", ledger), Action.MODEL_TRAINED,
                      subject="strategy:m", payload={"mlflow_run_id": "run-m1"})  # fmt: skip
        change_role(workspace, ledger, signer(workspace, "ada", ledger), "dev-ro", "risk_officer")
        genuine = _validate(ledger, [SHAP], model_run_id="run-m1")
        forge(ledger, Action.VALIDATION_COMPLETED, actor="vera", role="validator",
              subject="model:m/v1", payload={**genuine.payload, "model_run_id": "run-x"})  # fmt: skip
        with pytest.raises(Forbidden, match="separation of duties"):
            _accept(workspace, ledger, "F-m-v1-1", user="dev-ro")
        refused = ledger.last(action=Action.FINDING_ACCEPTANCE_REFUSED)
        assert refused.actor == "dev-ro"
        entry, _ = _accept(workspace, ledger, "F-m-v1-1", user="rita")
    assert entry.payload["signed"]["validation_entry_hash"] == genuine.entry_hash


def test_findings_accept_fails_closed_on_a_verdict_edited_after_verification(
    workspace, monkeypatch, capsys
):
    """The verdict's row edited in place after a ``ledger verify`` (payload and both
    hashes recomputed, as a DBA can): ``findings accept`` reads it through read-time
    verification, so it stops (exit 3, naming the entry) and signs nothing."""
    from test_findings import SHAP, _accept, _validate
    from test_ledger_support import raw_sql

    from governance.ground.canonical import canonical_json, sha256_bytes
    from governance.ground.errors import TamperDetected
    from governance.log.chain import compute_entry_hash

    enrol_cast(workspace, monkeypatch=monkeypatch)
    with Ledger.open(workspace) as ledger:
        genuine = _validate(ledger, [SHAP], model_run_id="run-m1")
        ledger.append(Action.GATE_PRETRADE, actor="alphagate", subject="portfolio:x", payload={})
        url = ledger.url
    capsys.readouterr()
    assert main(["ledger", "verify"]) == 0
    payload = {**genuine.payload, "model_run_id": "run-x"}
    text = canonical_json(payload).decode()
    fields = {**genuine.__dict__, "payload_hash": sha256_bytes(text.encode())}
    raw_sql(url, "UPDATE ledger_entries SET payload = :p, payload_hash = :ph, entry_hash = :eh"
            " WHERE seq = :s", p=text, ph=fields["payload_hash"],
            eh=compute_entry_hash(fields), s=genuine.seq)  # fmt: skip
    with Ledger.open(workspace) as ledger:
        before = ledger.head()[0]
        with pytest.raises(TamperDetected, match=f"ledger entry {genuine.seq}"):
            _accept(workspace, ledger, "F-m-v1-1", user="rita")
        assert ledger.head()[0] == before


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def env(request, workspace, monkeypatch):
    """The test cast enrolled under the shipped policy, on SQLite or PostgreSQL."""
    with _backend(request, workspace, monkeypatch):
        enrol_cast(workspace, monkeypatch=monkeypatch)
        yield workspace


def _verify(capsys) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["ledger", "verify", "--json"])
    return code, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_a_replayed_promotion_and_the_alias_moved_back_bring_back_no_retired_champion(env, capsys):
    """v1 was champion, v2 replaced it (vera and rita approved each). dana appends v1's old,
    unsigned ``model.promoted`` again with ``Ledger.append`` and moves the MLflow alias back
    to v1: the champion is what the signed approvals make (v2), the alias is a view that now
    disagrees (registry drift: nothing drives), ``ledger verify`` names the replayed record
    (exit 3). Before, the last record and the alias made v1 drive again. Moving back is a
    signed decision: omar's lone approval of v1 on its old validation is refused (exit 4,
    recorded); a fresh validation and two fresh approvals make v1 the champion again."""
    from test_signed_bound import _champion

    from governance.decisions.approvals import approve
    from governance.decisions.model_use import drive_decision
    from governance.ground.errors import Forbidden
    from governance.policy.adoption import policy_in_force
    from governance.policy.schema import load_policy
    from governance.registry.recorder import mlflow_client
    from governance.registry.versions import CHAMPION, champion_version
    from tests.helpers_identity import sign_validation

    ws, name = env, "derivedB"
    v1, run1 = _champion(ws, name)
    v2, _ = _champion(ws, name)
    client = mlflow_client(ws)
    with Ledger.open(ws) as ledger:
        assert drive_decision(ws, ledger, name).version == v2
        old = next(e for e in ledger.entries(action=Action.MODEL_PROMOTED)
                   if str(e.payload["model_version"]) == v1)  # fmt: skip
        replay = ledger.append(Action.MODEL_PROMOTED, actor=old.actor, role=old.role,
                               subject=old.subject, payload=old.payload)  # fmt: skip
        client.set_registered_model_alias(name, CHAMPION, v1)
        decision = drive_decision(ws, ledger, name)
    assert not decision.allowed and decision.version == v2
    assert any("registry drift" in r and f"v{v1}" in r for r in decision.reasons)
    code, report = _verify(capsys)
    assert code == 3 and report["first_bad_seq"] == replay.seq
    assert "counts once" in report["reason"]
    client.set_registered_model_alias(name, CHAMPION, v2)  # the alias put back: v2 drives
    tier = load_policy(POLICY)[0].tier("high")
    with Ledger.open(ws) as ledger:
        assert drive_decision(ws, ledger, name).allowed
        h = policy_in_force(ledger).policy_hash
        kw = {"tier": tier, "tier_name": "high", "policy_hash": h}
        with pytest.raises(Forbidden, match="moving the champion back takes a fresh validation"):
            approve(ws, ledger, ModelRef.parse(name, v1), signer(ws, "omar", ledger), "back", **kw)
        assert ledger.last(action=Action.APPROVAL_REFUSED).actor == "omar"
        sign_validation(ws, ledger, name, v1, "pass", run1)
        for who in ("vera", "rita"):
            out = approve(
                ws, ledger, ModelRef.parse(name, v1), signer(ws, who, ledger), "back", **kw
            )
        assert out.promoted is not None and out.promoted.payload["completed_seq"] == out.entry.seq
        decision = drive_decision(ws, ledger, name)
    assert decision.allowed and decision.version == v1
    assert champion_version(client, name) == v1


def _book(weights: dict, source: str):
    """A one-account rebalance through the production writer's shapes."""
    import pandas as pd

    from tasks.portfolio.book import MAIN, AccountBook, PortfolioResult, trade_list

    w = pd.Series(weights, dtype=float)
    return PortfolioResult(
        "2026-01-02", source, (AccountBook(MAIN, w, trade_list(None, w, 0.0), source),)
    )


@pytest.mark.parametrize("how", ["append", "sql"])
@pytest.mark.parametrize("what", ["concentrated", "not-the-champion"])
def test_a_forged_publication_is_never_the_current_book(env, capsys, how, what):
    """A genuine fallback book (20 names at 5 %) is published; dana appends a
    ``portfolio.published`` as the model's book, with ``Ledger.append`` or as a DBA: 100 %
    in one name under the champion's version, or 5 % weights under a version that never was
    champion. The book readers (the next rebalance's start, its trades and turnover, risk,
    monitoring, orders) ignore it and ``ledger verify`` names it (exit 3). Before, it was
    the current book."""
    from test_signed_bound import _champion

    from governance.decisions.context import RunContext
    from tasks.portfolio.book import (
        book_history,
        current_holdings,
        latest_publication,
        publish,
        write_rebalance,
    )
    from tests.helpers_forge import forge_unchecked

    ws, name = env, "derivedP"
    version, _ = _champion(ws, name)
    names = [f"A{i:02d}" for i in range(20)]
    ctx = RunContext.open(ws, actor="dana", role="developer")
    try:
        genuine_book = write_rebalance(ctx.store, _book(dict.fromkeys(names, 0.05), "fallback"))
        genuine = publish(ctx, genuine_book, name, {"model_name": name, "model_version": None,
                                                    "reasons": ["no champion yet"]})  # fmt: skip
        weights, named = (
            ({"A00": 1.0}, version) if what == "concentrated"
            else (dict.fromkeys(names, 0.05), str(int(version) + 7))
        )  # fmt: skip
        forged_book = write_rebalance(ctx.store, _book(weights, "model"))
        payload = {"strategy": name, "source": "model", "asof": "2026-01-03", "model_name": name,
                   "model_version": named, "reasons": [], "artifacts": forged_book.artifacts}  # fmt: skip
        row = {"actor": "dana", "role": "developer", "subject": f"book:{name}", "payload": payload}
        if how == "append":
            forged = ctx.ledger.append(Action.PORTFOLIO_PUBLISHED, **row)
        else:
            forged = forge_unchecked(ctx.ledger, Action.PORTFOLIO_PUBLISHED, **row)
        ledger = ctx.ledger
        assert latest_publication(ledger, name).seq == genuine.seq
        held = current_holdings(ledger, ledger.store, name)["main"]
        assert held.to_dict() == dict.fromkeys(names, 0.05)
        assert len(book_history(ledger, ledger.store, name)) == 1
    finally:
        ctx.close()
    code, report = _verify(capsys)
    assert code == 3 and report["first_bad_seq"] == forged.seq
    assert ("outside the" if what == "concentrated" else "champion") in report["reason"]
