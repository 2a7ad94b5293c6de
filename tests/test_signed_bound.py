"""Issue 22: a signature means what it signs. The attacker is dana, a developer holding only
her own key, with a shell and the ledger database (tests/helpers_forge.py writes her rows
past ``Ledger.append``, as a DBA can). Each attack replays a genuine signed entry of
someone else with an unsigned field changed, or verbatim:

- ``Ledger.append`` refuses it (exit 3, :class:`TamperDetected`, one line naming the field);
- written into the database anyway, it decides nothing (the readers take the facts of the
  signed document and count each document once) and ``ledger verify`` names its seq (exit 3).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from flows.cli import main
from governance.decisions import killswitch
from governance.decisions.approvals import approve
from governance.decisions.model_use import drive_decision
from governance.decisions.promotion import compute_state, facts_for, latest_validation
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from governance.log.ledger import Ledger
from governance.policy.adoption import policy_in_force
from governance.policy.schema import load_policy
from tests.helpers_forge import forge
from tests.helpers_identity import (
    POLICY,
    enrol_cast,
    promoted_version,
    sign_validation,
    signer,
    tiny_version,
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def env(request, workspace, monkeypatch, tmp_path):
    """The test cast enrolled (keys in the keyring), on SQLite or a scratch PostgreSQL
    ledger, and a run config beside a copy of the shipped policy."""
    from test_ledger_support import backend_url

    with backend_url(request, request.param, workspace, monkeypatch):
        enrol_cast(workspace, monkeypatch=monkeypatch)
        cfg = tmp_path / "run.yaml"
        shutil.copy(POLICY, tmp_path / "policy.yaml")
        cfg.write_text("policy: {file: policy.yaml, tier: high}\n")
        yield workspace, cfg


def _verify(capsys) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["ledger", "verify", "--json"])
    return code, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _copy(entry, **changes) -> dict:
    """``entry``'s payload with top-level (unsigned) fields changed: the signature kept."""
    return {**entry.payload, **changes}


def _as(entry) -> dict:
    return {"actor": entry.actor, "role": entry.role, "subject": entry.subject}


def test_a_drill_reset_replayed_onto_a_live_trip_re_arms_nothing(env, capsys):
    """omar's completing reset of an earlier drill, replayed with the live trip's seq."""
    ws, cfg = env
    reset = ["killswitch", "reset", "--config", str(cfg), "--reason", "ok", "--incident", "I-1"]
    assert main(["killswitch", "trip", "--as", "rita", "--reason", "drill"]) == 0
    assert main([*reset, "--as", "rita"]) == 0
    assert main([*reset, "--as", "omar"]) == 0
    assert main(["killswitch", "trip", "--as", "rita", "--reason", "live"]) == 0
    with Ledger.open(ws) as ledger:
        assert killswitch.status(ledger).tripped
        drill = ledger.last(action=Action.KILLSWITCH_RESET)
        live = ledger.last(action=Action.KILLSWITCH_TRIPPED)
        bad = forge(ledger, Action.KILLSWITCH_RESET, **_as(drill),
                    payload=_copy(drill, trip_seq=live.seq))  # fmt: skip
        with pytest.raises(Exception, match="already recorded"):  # verbatim: counts once
            ledger.append(Action.KILLSWITCH_RESET, **_as(drill), payload=drill.payload)
        state = killswitch.status(ledger)
    assert state.tripped and state.seq == live.seq
    code, report = _verify(capsys)
    assert code == 3 and report["first_bad_seq"] == bad.seq
    reason = report["reason"]  # either of its two faults is named first
    assert "trip_seq" in reason or f"replays the signed document of seq {drill.seq}" in reason


def test_a_fail_verdict_replayed_as_pass_and_an_old_pass_replayed_decide_nothing(env, capsys):
    """vera signed pass, then fail on revalidation; dana appends the fail with its
    top-level verdict set to pass, and a verbatim copy of the old pass after it."""
    ws, _cfg = env
    version, run_id = tiny_version(ws, "boundV")
    with Ledger.open(ws) as ledger:
        old_pass = ledger.last(action=Action.VALIDATION_COMPLETED)
        fail = sign_validation(ws, ledger, "boundV", version, "fail", run_id)
        flipped = forge(ledger, Action.VALIDATION_COMPLETED, **_as(fail),
                        payload=_copy(fail, verdict="pass"))  # fmt: skip
        verbatim = forge(
            ledger, Action.VALIDATION_COMPLETED, **_as(old_pass), payload=old_pass.payload
        )
        latest = latest_validation(ledger, ModelRef.parse("boundV", version))
    assert (latest.verdict, latest.seq) == ("fail", fail.seq)
    code, report = _verify(capsys)
    assert code == 3 and report["first_bad_seq"] == flipped.seq
    reason = report["reason"]
    assert "verdict" in reason or f"replays the signed document of seq {fail.seq}" in reason
    assert verbatim.seq > flipped.seq  # named too once the first is gone: see the property


def test_one_validators_approval_replayed_as_the_officers_is_not_four_eyes(env, capsys):
    """vera approves; dana replays vera's approval with the top-level user (and actor) rita."""
    ws, _cfg = env
    version, _ = tiny_version(ws, "boundA")
    tier = load_policy(POLICY)[0].tier("high")
    with Ledger.open(ws) as ledger:
        h = policy_in_force(ledger).policy_hash
        out = approve(ws, ledger, ModelRef.parse("boundA", version), signer(ws, "vera", ledger), "ok",
                      tier=tier, tier_name="high", policy_hash=h)  # fmt: skip
        vera = out.entry
        forged = {**_as(vera), "actor": "rita", "role": "risk_officer"}
        bad = forge(ledger, Action.APPROVAL_GRANTED, **forged,
                    payload=_copy(vera, user="rita", role="risk_officer"))  # fmt: skip
        state = compute_state(
            ws, ledger, facts_for(ws, ledger, ModelRef.parse("boundA", version)), tier
        )
    assert [g["user"] for g in state.granted] == ["vera"]
    assert state.missing == ("risk_officer",) and not state.champion
    code, report = _verify(capsys)
    assert code == 3 and report["first_bad_seq"] == bad.seq


def test_adoptions_replayed_with_another_policy_hash_adopt_nothing(env, capsys, tmp_path):
    """rita's and omar's signed adoption of the shipped policy, replayed naming the hash of
    dana's loosened file: the policy in force stays the one they signed."""
    ws, _cfg = env
    loose = tmp_path / "loose.yaml"
    loose.write_text(Path(POLICY).read_text().replace("trip_on_", "# trip_on_"))
    from governance.ground.canonical import sha256_file

    theirs = sha256_file(POLICY)
    with Ledger.open(ws) as ledger:
        assert policy_in_force(ledger).policy_hash == theirs
        bad = None
        for action in (Action.POLICY_ADOPTION_SIGNED, Action.POLICY_ADOPTED):
            e = ledger.last(action=action)
            f = forge(ledger, action, **_as(e), payload=_copy(e, policy_hash=sha256_file(loose)))
            bad = bad or f
        assert policy_in_force(ledger).policy_hash == theirs
    code, report = _verify(capsys)
    assert code == 3 and report["first_bad_seq"] == bad.seq


def test_one_officer_alone_re_arms_nothing(env, capsys):
    """rita signs, with her own key, a completing reset of the live trip listing only
    herself (``needed: 1``, no pending step): a reset needs the policy's number of distinct
    officers (never fewer than two), so the switch stays tripped."""
    from governance.identity.signing import append_signed

    ws, _cfg = env
    assert main(["killswitch", "trip", "--as", "rita", "--reason", "live"]) == 0
    with Ledger.open(ws) as ledger:
        trip = ledger.last(action=Action.KILLSWITCH_TRIPPED)
        append_signed(ledger, signer(ws, "rita", ledger), Action.KILLSWITCH_RESET, subject="killswitch",
                      payload={"reason": "mine", "incident": "I-9", "needed": 1,
                               "officers": ["rita"], "trip_seq": trip.seq})  # fmt: skip
        state = killswitch.status(ledger)
    assert state.tripped and state.seq == trip.seq and state.pending_reset is None


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (("max_weight: 0.10", "max_weight: 5"), "pretrade.max_weight"),
        (("max_weight: 0.10", "max_weight: -1"), "pretrade.max_weight"),
        (("max_pbo: 0.5", "max_pbo: 7"), "validation.max_pbo"),
        (("max_days: 180", "max_days: 100000"), "acceptance.max_days"),
    ],
)
def test_a_policy_out_of_bounds_cannot_be_signed(
    workspace, monkeypatch, capsys, tmp_path, edit, field
):
    """``policy adopt`` validates the file before anyone signs it: exit 2, one line naming
    the field, nothing recorded."""
    enrol_cast(workspace, monkeypatch=monkeypatch)
    text = Path(POLICY).read_text()
    assert edit[0] in text
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace(edit[0], edit[1], 1))
    with Ledger.open(workspace) as ledger:
        before = ledger.head()[0]
    capsys.readouterr()
    assert main(["policy", "adopt", str(bad), "--as", "rita"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and field in err and "Traceback" not in err
    with Ledger.open(workspace) as ledger:
        assert not [e for e in ledger.entries(after_seq=before) if e.action.startswith("policy.")]


def _champion(ws, name: str) -> tuple[str, str]:
    """A tiny version promoted the legitimate way, driving: (version, run id)."""
    version, run_id = promoted_version(ws, name)
    with Ledger.open(ws) as ledger:
        assert drive_decision(ws, ledger, name).allowed
    return version, run_id


@pytest.mark.parametrize("rehash", [False, True], ids=["payload", "payload-and-hashes"])
def test_a_trip_edited_after_verification_is_caught_at_use(env, capsys, rehash):
    """rita trips the switch; ``ledger verify`` passes (the verified head is kept outside
    the workspace); then the DBA edits the trip's row in place so that the fold no longer
    sees a valid trip (its reason changed: the signature breaks), and in the second variant
    also recomputes its payload and entry hashes. The incremental check at use re-hashes
    only what was added since the verified head, so only read-time verification sees it:
    the decision fails closed naming the entry, and ``ledger verify`` says 3 as well."""
    from test_ledger_support import raw_sql

    from governance.ground.canonical import canonical_json, sha256_bytes
    from governance.log.chain import compute_entry_hash

    ws, _cfg = env
    _champion(ws, "boundR")
    assert main(["killswitch", "trip", "--as", "rita", "--reason", "live"]) == 0
    with Ledger.open(ws) as ledger:  # a later entry: the trip is not the head
        trip = ledger.last(action=Action.KILLSWITCH_TRIPPED)
        ledger.append(Action.GATE_PRETRADE, actor="alphagate", subject="portfolio:x", payload={})
    assert _verify(capsys)[0] == 0
    with Ledger.open(ws) as ledger:
        assert not drive_decision(ws, ledger, "boundR").allowed
        url = ledger.url
    payload = {**trip.payload, "reason": "edited"}
    text = canonical_json(payload).decode()
    fields = {**trip.__dict__, "payload_hash": sha256_bytes(text.encode())}
    sets = {"p": text, "s": trip.seq}
    stmt = "UPDATE ledger_entries SET payload = :p"
    if rehash:
        stmt += ", payload_hash = :ph, entry_hash = :eh"
        sets.update(ph=fields["payload_hash"], eh=compute_entry_hash(fields))
    raw_sql(url, stmt + " WHERE seq = :s", **sets)
    with Ledger.open(ws) as ledger:
        assert not killswitch.status(ledger).tripped  # what an unverified read now believes
        decision = drive_decision(ws, ledger, "boundR")
    assert not decision.allowed
    assert f"ledger entry {trip.seq} (killswitch.tripped)" in decision.reasons[0]
    assert _verify(capsys)[0] == 3


def test_a_fail_revalidation_of_the_champion_trips_its_switch(env):
    """``trip_on_champion_validation_fail`` acts: vera's signed FAIL on the champion trips the
    strategy's switch (automatic, its trigger named, the validation's seq as evidence) and
    the champion no longer drives; a FAIL on a version that is not the champion trips
    nothing."""
    from governance.decisions.revalidation import trip_if_champion_failed

    ws, _cfg = env
    version, run_id = _champion(ws, "boundF")
    other, other_run = tiny_version(ws, "boundF")
    tier = load_policy(POLICY)[0].tier("high")
    with Ledger.open(ws) as ledger:
        fail = sign_validation(ws, ledger, "boundF", other, "fail", other_run)
        assert (
            trip_if_champion_failed(
                ws, ledger, tier, ModelRef.parse("boundF", other), "fail", fail.seq
            )
            is None
        )
        assert not killswitch.effective(ledger, "boundF").tripped
        fail = sign_validation(ws, ledger, "boundF", version, "fail", run_id)
        state = trip_if_champion_failed(
            ws, ledger, tier, ModelRef.parse("boundF", version), "fail", fail.seq
        )
        assert state is not None and state.tripped
        assert state.trigger == "champion_validation_fail" and state.by == "alphagate"
        assert killswitch.effective(ledger, "boundF").tripped
        trip = ledger.last(action=Action.KILLSWITCH_TRIPPED)
        assert trip.payload["evidence"]["validation_seq"] == fail.seq
        assert not drive_decision(ws, ledger, "boundF").allowed
