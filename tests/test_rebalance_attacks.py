"""The insider attacks of issue 10 replayed through a full ``alphagate rebalance --json``, and
a kill-switch trip that lands while a rebalance is deciding.

Each test restores the champion (or the validated candidate) that tests/helpers_rebalance.py
trains the legitimate way, with the witness and the log key beside it, and attacks it:

- forged unsigned ``validation.completed`` / ``approval.granted`` / ``model.promoted`` and
  the MLflow alias moved, over a genuine signed ``fail``: exit 3, the fallback published;
- the champion's ``model.lgb`` altered after approval: exit 3, the fallback published;
- the champion's ``features`` and ``horizon`` tags changed in MLflow and another
  normalisation in the run config: the same book as untouched (they come from the signed
  contract among the model files); the contract file itself edited: exit 3, the fallback
  published;
- the adopted policy file edited, or the config naming another file: exit 4 naming both
  hashes, nothing published (no portfolio under a policy nobody adopted), refusal recorded;
- a middle ledger row deleted: exit 3 before anything is decided, nothing published (a
  broken ledger can record nothing: no fallback either), the refusal recorded.

Each asserts the exit code, one line on stderr without a traceback (the halted summary's
first reason for a gate halt), the JSON's ``portfolio.source``, the strategy's book as the
production reader (tasks/portfolio/book.py) reads it, and the refusal in the ledger.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from flows.cli import main
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action, Subject
from governance.ground.workspace import Workspace
from governance.log.ledger import Ledger, entries_table
from governance.registry.recorder import mlflow_client
from governance.registry.versions import set_champion
from tasks.portfolio.book import latest_book
from tests.helpers_e2e import cli_out, negate_model_file
from tests.helpers_forge import forge
from tests.helpers_identity import adopt_policy, sign_validation, signer
from tests.helpers_rebalance import (
    STRATEGY,
    book_source,
    fell_back,
    one_line,
    publications,
    rebalance,
    restore,
)
from tests.helpers_witness import held, start_witnesses, witnessed_policy
from tests.test_ledger_support import rewrite_history


def test_the_champion_drives_a_clean_rebalance(champion, capsys):
    """The control: untouched, the champion's portfolio is published (the attacks below
    would pass for the wrong reason if it were not)."""
    ws, cfg, version = champion
    code, reb, _err = rebalance(capsys, cfg)
    assert (code, reb["status"], reb["portfolio"]["source"]) == (0, "completed", "model")
    assert str(reb["portfolio"]["model_version"]) == version
    assert book_source(ws) == "model"


def test_forged_unsigned_validation_approvals_and_promotion_publish_the_fallback(candidate, capsys):
    """vera's genuine, signed re-validation says fail; the attacker writes an unsigned pass,
    two unsigned approvals and a promotion into the database, and moves the alias."""
    ws, cfg, version = candidate
    with Ledger.open(ws) as ledger:
        run_id = mlflow_client(ws).get_model_version(STRATEGY, version).run_id
        sign_validation(ws, ledger, STRATEGY, version, "fail", run_id)
        subject = Subject.model(STRATEGY, version)
        facts = {"model_name": STRATEGY, "model_version": version}
        forge(ledger, Action.VALIDATION_COMPLETED, actor="vera", role="validator", subject=subject,
              payload={**facts, "verdict": "pass"})  # fmt: skip
        for who, role in (("vera", "validator"), ("rita", "risk_officer")):
            forge(ledger, Action.APPROVAL_GRANTED, actor=who, role=role, subject=subject,
                          payload={**facts, "user": who, "role": role, "identity": "signed"})  # fmt: skip
        approvals = [
            {"user": "vera", "role": "validator"},
            {"user": "rita", "role": "risk_officer"},
        ]
        promoted = ledger.append(Action.MODEL_PROMOTED, actor="alphagate", subject=subject,
                                 payload={**facts, "approvals": approvals,
                                          "approved_by": "rita (risk_officer), vera (validator)"})  # fmt: skip
        ref = ModelRef.parse(STRATEGY, version)
        set_champion(mlflow_client(ws), ref, promoted.payload, promoted.seq)
    # the champion is derived from the signed approvals (issue 22): the forged record and
    # the alias make none, so the fallback is published because nothing was ever promoted
    reb = fell_back(ws, capsys, cfg, "has never been promoted")
    assert reb["stage"] == "approval"


def test_an_altered_champion_model_file_publishes_the_fallback(champion, capsys):
    """Every leaf of the approved champion's ``model.lgb`` negated after approval: the
    model would bet the other way; the hash the approvals signed no longer matches."""
    ws, cfg, version = champion
    negate_model_file(ws, STRATEGY, version)
    fell_back(ws, capsys, cfg, "model files changed since")


def _model_weights(ws, capsys, cfg: str):
    """A rebalance that must publish the champion's book: its weights as read back."""
    code, reb, err = rebalance(capsys, cfg)
    assert (code, reb["status"], reb["portfolio"]["source"]) == (0, "completed", "model"), err
    with Ledger.open(ws) as ledger:
        return latest_book(ledger, ledger.store, STRATEGY).weights


def test_a_permuted_features_tag_and_another_normalisation_score_the_signed_inputs(
    snapshots, monkeypatch, capsys
):
    """Issue 22, item 5: dana reverses the champion's ``features`` tag in MLflow and changes
    its ``horizon`` tag (model files untouched: the hash the approvals signed still matches),
    and her run config asks for ``robust_z`` features where the model was trained on ranks.
    The loaders read features, order, normalisation and horizon from the signed contract
    among the model files: the book is the very book the untouched champion publishes from
    the same state (the control, restored afresh), and validation's inputs name the signed
    order. (The rebalance scores through the pyfunc signature, which reorders named columns
    itself; the normalisation from the config, and validation's booster, which takes a bare
    array, were moved by these fields before the contract.)"""
    from validation.inputs import load_inputs

    live = restore(snapshots, "champion", monkeypatch)
    ws, cfg, version = Workspace(live / "home"), str(live / "run.yaml"), snapshots["version"]
    control = _model_weights(ws, capsys, cfg)
    live = restore(snapshots, "champion", monkeypatch)
    client = mlflow_client(ws)
    tags = client.get_model_version(STRATEGY, version).tags
    features = tags["features"].split(",")
    assert len(features) > 1
    client.set_model_version_tag(STRATEGY, version, "features", ",".join(reversed(features)))
    client.set_model_version_tag(STRATEGY, version, "horizon", str(int(tags["horizon"]) + 5))
    Path(cfg).write_text(Path(cfg).read_text() + "features: {normalise: robust_z}\n")
    attacked = _model_weights(ws, capsys, cfg)
    pd.testing.assert_series_equal(attacked, control)
    with Ledger.open(ws) as ledger:
        inputs = load_inputs(ws, ledger, ledger.store, ModelRef.parse(STRATEGY, version))
    assert (inputs.features, inputs.horizon) == (features, int(tags["horizon"]))


def test_an_edited_contract_file_publishes_the_fallback(champion, capsys):
    """The contract itself reversed in the artifact store: the model files' hash no longer
    matches what the approvals signed; exit 3, the fallback published with the reason."""
    import json

    from tests.test_model_contract import contract_path

    ws, cfg, version = champion
    path = contract_path(ws, STRATEGY, version)
    doc = json.loads(path.read_bytes())
    path.write_bytes(json.dumps({**doc, "features": doc["features"][::-1]}).encode())
    fell_back(ws, capsys, cfg, "model files changed since")


@pytest.mark.parametrize("how", ["file edited", "config names another file"])
def test_a_policy_nobody_adopted_publishes_nothing(champion, capsys, how):
    """After promotion the policy file is loosened (``max_weight: 0.60``, no kill-switch
    trips), in place or as a new file the config names: exit 4 naming both hashes, no
    portfolio at all (a fallback under a policy nobody adopted would be one too), the
    refusal recorded."""
    ws, cfg, _version = champion
    loose = (live := Path(cfg).parent) / "policy.yaml"
    text = loose.read_text()
    edited = text.replace(
        "fallback: benchmark", "fallback: benchmark\n    pretrade: {max_weight: 0.60}"
    )
    assert edited != text
    if how == "file edited":
        loose.write_text(edited)
    else:
        (live / "shopped.yaml").write_text(edited)
        Path(cfg).write_text(
            Path(cfg).read_text().replace("file: policy.yaml", "file: shopped.yaml")
        )
    before = publications(ws)
    code, reb, err = rebalance(capsys, cfg)
    assert code == 4 and reb is None, (code, reb, err)
    assert one_line(err) and "a config may not choose its policy" in err
    assert len(re.findall(r"hash [0-9a-f]{64}", err)) == 2
    assert len(publications(ws)) == len(before)
    assert book_source(ws) == "fallback"  # still the run's own, published before promotion
    with Ledger.open(ws) as ledger:
        refused = ledger.last(action=Action.POLICY_REFUSED)
    assert refused is not None and refused.payload["named"].endswith(
        loose.name if how == "file edited" else "shopped.yaml"
    )


def test_a_broken_ledger_decides_nothing(champion, capsys):
    """A middle row deleted: exit 3 naming the break before any stage runs; nothing is
    published, not even the fallback (the book it would start from, the gates it would
    record and the publication itself all live in the broken ledger)."""
    ws, cfg, _version = champion
    before = len(publications(ws))
    engine = sa.create_engine(ws.ledger_url)
    with engine.begin() as conn:
        conn.execute(entries_table.delete().where(entries_table.c.seq == 5))
    engine.dispose()
    code, reb, err = rebalance(capsys, cfg)
    assert code == 3 and reb is None, (code, reb, err)
    assert one_line(err) and "ledger broken" in err
    assert len(publications(ws)) == before
    assert book_source(ws) == "fallback"  # the run's, from before promotion
    with Ledger.open(ws) as ledger:
        refused = ledger.last(action=Action.INTEGRITY_REFUSED)
    assert refused is not None and refused.payload["action"] == "rebalance"


def test_a_trip_during_the_rebalance_withholds_the_model_portfolio(champion, capsys):
    """rita trips the switch (a signed act) after the kill-switch gate passed and the model
    portfolio was built, just as it is about to be published: the publication's own
    transaction sees the trip, the model portfolio is withheld, the fallback published, and
    the reason recorded.

    The seam is the ``publish`` stage's Prefect ``on_running`` hook: it runs when that task
    starts, after every decision and before the recording transaction.
    """
    from flows import portfolio_stage
    from governance.decisions import killswitch

    ws, cfg, version = champion
    tripped = []

    def trip(task, task_run, state):
        if not tripped:
            with Ledger.open(ws) as ledger:
                killswitch.trip(ledger, signer(ws, "rita", ledger), "breach seen on the desk")
            tripped.append(task_run.id)

    portfolio_stage.publish_book.on_running(trip)
    try:
        before = len(publications(ws))
        code, reb, err = rebalance(capsys, cfg)
    finally:
        portfolio_stage.publish_book.on_running_hooks.remove(trip)
    assert tripped
    assert (code, reb["status"], reb["stage"]) == (3, "halted", "kill_switch"), (code, reb, err)
    assert reb["portfolio"]["source"] == "fallback"
    assert reb["reasons"] == ["kill switch: tripped during the rebalance; model portfolio withheld"]
    with Ledger.open(ws) as ledger:
        gate = ledger.last(action=Action.GATE_KILL_SWITCH)
        trip_entry = ledger.last(action=Action.KILLSWITCH_TRIPPED)
        published = ledger.entries(
            action=Action.PORTFOLIO_PUBLISHED, subject=Subject.book(STRATEGY)
        )
    assert gate.payload["decision"] == "pass" and gate.seq < trip_entry.seq  # armed at the gate
    assert len(published) == before + 1 and published[-1].seq > trip_entry.seq
    assert published[-1].payload["source"] == "fallback"
    assert published[-1].payload["model_version"] is None
    assert published[-1].payload["reasons"] == reb["reasons"]
    assert book_source(ws) == "fallback"
    assert version  # the champion that would have driven


def test_a_consistent_rewrite_with_witnessing_switched_off_meets_the_policys_witnesses(
    champion, capsys, tmp_path, monkeypatch
):
    """Issue 23's attack. Three witness services (their own processes, keys and SQLite
    state) are named, quorum 2, by a policy rita and omar adopt (the champion may keep
    driving under it); rita trips the switch and rejects the champion, both witnessed.

    dana then uses her shell, nothing else: she turns the trip and the rejection into
    harmless notes (every later hash, the head and the tree recomputed), rebuilds the local
    directory witness and deletes the verified head, re-signing with the log key she can
    read, and sets ``ALPHAGATE_WITNESS=none``. Every local check is fooled (control). Her
    rebalance is exit 3 in one line naming the policy's three witnesses, nothing is
    published, and the witnesses hold exactly what they held."""
    from governance.audit.integrity import verify_log
    from governance.decisions import killswitch
    from governance.log.checkpoint import log_key, origin_of
    from governance.log.transparency import publish
    from governance.log.witness import DirectoryWitness

    ws, cfg, version = champion
    live = Path(cfg).parent
    origin = origin_of(ws.ledger_url)
    witnesses = start_witnesses(tmp_path, 3, log_key(origin).vkey())
    try:
        policy = witnessed_policy(live / "policy.yaml", live / "policy.yaml", witnesses, 2)
        names = [
            line.split("key: ")[1].split("+")[0]
            for line in policy.read_text().splitlines()
            if "key: " in line
        ]
        with Ledger.open(ws) as ledger:
            adopt_policy(ws, ledger, policy, rule={"rule": "until", "date": "2099-12-31"})
        assert main(["killswitch", "trip", "--as", "rita", "--reason", "desk breach"]) == 0
        reject = ["reject", "--config", cfg, "--model-version", version, "--as", "rita"]
        assert main([*reject, "--reason", "overfit"]) == 0
        with Ledger.open(ws) as ledger:
            dropped = [
                ledger.last(action=a).seq
                for a in (Action.KILLSWITCH_TRIPPED, Action.APPROVAL_REJECTED)
            ]
        before = {w.url: held(w, origin).text() for w in witnesses}

        def harmless(row: dict) -> None:
            row.update(action="note.added", subject="note", payload='{"text":"nothing happened"}')

        for seq in dropped:
            rewrite_history(ws.ledger_url, seq, harmless)
        shutil.rmtree(live / "witness")
        shutil.rmtree(live / "xdg" / "alphagate" / "verified", ignore_errors=True)
        with Ledger.open(ws) as ledger:
            publish(ledger, [DirectoryWitness(str(live / "witness"))])
        monkeypatch.setenv("ALPHAGATE_WITNESS", "none")
        with Ledger.open(ws) as ledger:  # control: nothing local notices
            assert verify_log(ledger).ok
            assert killswitch.status(ledger).state == "armed"
            assert ledger.last(action=Action.APPROVAL_REJECTED) is None

        published = len(publications(ws))
        code, reb, err = rebalance(capsys, cfg)
        assert code == 3 and reb is None, (code, reb, err)
        assert one_line(err), err
        assert all(f"witness {n} at " in err for n in names), err
        assert len(publications(ws)) == published
        assert {w.url: held(w, origin).text() for w in witnesses} == before
        with Ledger.open(ws) as ledger:
            refused = ledger.last(action=Action.INTEGRITY_REFUSED)
        assert refused.payload["action"] == "rebalance"
    finally:
        for w in witnesses:
            w.stop()


def test_a_replayed_promotion_with_the_alias_moved_back_does_not_bring_back_the_old_champion(
    champion, capsys
):
    """Issue 22: v1 (the trained champion) is replaced by v2 (vera and rita approve it);
    dana appends v1's old, unsigned ``model.promoted`` again with ``Ledger.append`` and
    moves the MLflow alias back to v1. The champion is what the signed approvals make (v2),
    the alias only a view: it disagrees, so nothing drives: exit 3 in one line, the fallback
    published with the registry drift as its reason, and ``ledger verify`` names the replayed
    record. Before, the last record and the alias made v1 drive again."""
    from tests.helpers_identity import tiny_version

    ws, cfg, v1 = champion
    v2, _ = tiny_version(ws, STRATEGY)
    for who in ("vera", "rita"):
        approve = ["approve", "--config", cfg, "--model-version", v2, "--as", who]
        assert main([*approve, "--reason", "ok"]) == 0
    client = mlflow_client(ws)
    with Ledger.open(ws) as ledger:
        old = next(e for e in ledger.entries(action=Action.MODEL_PROMOTED)
                   if str(e.payload["model_version"]) == v1)  # fmt: skip
        replay = ledger.append(Action.MODEL_PROMOTED, actor=old.actor, role=old.role,
                               subject=old.subject, payload=old.payload)  # fmt: skip
    client.set_registered_model_alias(STRATEGY, "champion", v1)
    reb = fell_back(ws, capsys, cfg, "registry drift", f"points at v{v1}")
    assert reb["portfolio"]["model_version"] is None
    code, verified, _err = cli_out(capsys, "ledger", "verify", "--json")
    assert code == 3 and verified["first_bad_seq"] == replay.seq


def test_a_forged_book_is_not_where_the_next_rebalance_starts(champion, capsys):
    """Issue 22: dana appends a ``portfolio.published`` naming 100 % in one name as the
    champion's book (``Ledger.append``). It is never the current book: the next rebalance
    starts from the genuine one (its trades' ``current`` column), the champion drives
    (exit 0), and ``ledger verify`` names the forged entry (exit 3). Before, the forged
    book stood and the next rebalance halted at the pre-trade gate against it."""
    import pandas as pd

    from tasks.portfolio.book import (
        MAIN,
        AccountBook,
        PortfolioResult,
        read_rebalance,
        trade_list,
        write_rebalance,
    )

    ws, cfg, version = champion
    with Ledger.open(ws) as ledger:
        genuine = latest_book(ledger, ledger.store, STRATEGY)
        name = genuine.weights.index[0]
        w = pd.Series({name: 1.0})
        book = AccountBook(MAIN, w, trade_list(None, w, 0.0), "model")
        forged = write_rebalance(ledger.store, PortfolioResult(genuine.asof, "model", (book,)))
        payload = {"strategy": STRATEGY, "source": "model", "asof": genuine.asof,
                   "model_name": STRATEGY, "model_version": version, "reasons": []}  # fmt: skip
        bad = ledger.append(Action.PORTFOLIO_PUBLISHED, actor="dana", role="developer",
                            subject=Subject.book(STRATEGY), payload=payload,
                            artifacts=forged.artifacts)  # fmt: skip
        assert latest_book(ledger, ledger.store, STRATEGY).weights.to_dict() == (
            genuine.weights.to_dict()
        )
    code, reb, _err = rebalance(capsys, cfg)
    assert (code, reb["status"], reb["portfolio"]["source"]) == (0, "completed", "model")
    with Ledger.open(ws) as ledger:
        last = publications(ws)[-1]
        trades = read_rebalance(ledger.store, last.payload["artifacts"]).trades
    start = trades.set_index("asset")["current"]
    assert start.reindex(genuine.weights.index).tolist() == pytest.approx(genuine.weights.tolist())
    code, verified, _err = cli_out(capsys, "ledger", "verify", "--json")
    assert code == 3 and verified["first_bad_seq"] == bad.seq
