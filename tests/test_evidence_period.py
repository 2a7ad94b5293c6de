"""``alphagate evidence export --strategy NAME --from DATE --to DATE`` (issue 24 item 7).

A scripted life through the real acts: a tiny real LightGBM version trained, validated and
promoted under four eyes; then, on scripted days (the ledger's clock is the one thing set
by the test, so that entries fall on known days), monitoring runs, a trip, a warning that
escalates to a finding, and a run after the window. The period's pack holds the window's
entries and what they depend on (the live version's promotion, its signed approvals and
validation, the standing at the window's start), nothing stamped after the window, and
verifies offline.
"""

from __future__ import annotations

import datetime as dt
import json
import zipfile

import pytest

from flows.cli import main
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from governance.policy.schema import Tier
from tests.helpers_identity import enrol_cast, signer, tiny_version

NAME = "period"


def _monitor(ws, ok: bool, as_of: str):
    from flows.monitoring import record_monitoring
    from governance.decisions.context import RunContext
    from validation.monitoring import MonitoringReport
    from validation.monitoring_checks import Check, CheckResult, Status

    check = CheckResult(Check.DRAWDOWN, Status.OK if ok else Status.WARNING, 0.05, 0.25, "dd")
    report = MonitoringReport(as_of, (check,), {"model": {"name": NAME, "version": 1}})
    ctx = RunContext.open(ws, actor="alphagate", role="system", run_key=f"mon-{as_of}")
    try:
        return record_monitoring(ctx, Tier(), report).entry
    finally:
        ctx.close()


@pytest.fixture
def lived(workspace, monkeypatch):
    import governance.log.txn as txn
    from governance.decisions import killswitch
    from governance.decisions.approvals import approve
    from governance.log.ledger import Ledger
    from governance.policy.adoption import policy_in_force
    from governance.policy.tiers import tier_at_use

    enrol_cast(workspace, monkeypatch=monkeypatch)
    v1, _ = tiny_version(workspace, NAME)
    with Ledger.open(workspace) as ledger:
        t = tier_at_use(ledger, NAME)
        for user in ("vera", "rita"):
            approve(
                workspace, ledger, ModelRef.parse(NAME, v1), signer(workspace, user, ledger), "ok",
                tier=t.tier, tier_name=t.name, policy_hash=policy_in_force(ledger).policy_hash,
            )  # fmt: skip
    clock = {"day": None}

    def stamp(now=None):
        return f"{clock['day']}T10:00:00.{len(stamped):06d}Z" if clock["day"] else real(now)

    real, stamped = txn.utc_timestamp, []
    monkeypatch.setattr(txn, "utc_timestamp", lambda now=None: stamped.append(1) or stamp(now))
    seqs = {}
    for day, what in [("2027-01-04", "before"), ("2027-01-05", "trip"), ("2027-01-11", "warn"),
                      ("2027-01-12", "inside"), ("2027-01-20", "after")]:  # fmt: skip
        clock["day"] = day
        if what == "trip":
            with Ledger.open(workspace) as ledger:
                killswitch.trip(ledger, signer(workspace, "rita", ledger), "drill", strategy=NAME)
                seqs[what] = ledger.last(action=Action.KILLSWITCH_TRIPPED).seq
        else:
            seqs[what] = _monitor(workspace, what != "warn", day).seq
    clock["day"] = None
    return seqs


def test_a_period_pack_holds_the_window_and_what_it_rests_on(workspace, lived, tmp_path, capsys):
    from governance.log.ledger import Ledger

    pack = tmp_path / "period.zip"
    code = main(["evidence", "export", "--strategy", NAME, "--from", "2027-01-10",
                 "--to", "2027-01-15", "--out", str(pack)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert main(["evidence", "verify", str(pack)]) == 0
    with zipfile.ZipFile(pack) as z:
        entries = {e["seq"]: e for e in json.loads(z.read("ledger/entries.json"))}
        manifest = json.loads(z.read("manifest.json"))
    assert manifest["subject"] == f"period:{NAME}:2027-01-10:2027-01-15"
    with Ledger.open(workspace) as ledger:
        raised = ledger.last(action=Action.FINDING_RAISED)
        promoted = ledger.last(action=Action.MODEL_PROMOTED)
        validation = ledger.last(action=Action.VALIDATION_COMPLETED)
    # the window: two monitoring runs and the finding the warning raised
    assert {lived["warn"], lived["inside"], raised.seq} <= set(entries)
    # the standing at its start: the last monitoring before it, the trip, the live version's
    # promotion with its signed approvals, and the validation they were given on
    approvals = [a["seq"] for a in promoted.payload["approvals"]]
    assert {lived["before"], lived["trip"], promoted.seq, validation.seq, *approvals} <= set(
        entries
    )
    # nothing stamped after the window
    assert lived["after"] not in entries
    assert all(str(e["ts"])[:10] <= "2027-01-15" for e in entries.values())


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--strategy", NAME, "--from", "2027-01-10"], "needs --from DATE and --to DATE"),
        (["--strategy", NAME, "--from", "Jan 10", "--to", "2027-01-15"], "--from 'Jan 10'"),
        (["--strategy", NAME, "--from", "2027-01-15", "--to", "2027-01-10"], "before --from"),
        (["--strategy", NAME, "--from", "2020-01-01", "--to", "2020-01-02"], "no ledger entries"),
        (["--model-version", "1", "--from", "2027-01-10"], "go with --strategy only"),
    ],
)
def test_bad_periods_are_one_line_exit_2(workspace, monkeypatch, tmp_path, capsys, argv, needle):
    enrol_cast(workspace, monkeypatch=monkeypatch)
    capsys.readouterr()
    assert main(["evidence", "export", *argv, "--out", str(tmp_path / "p.zip")]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert not (tmp_path / "p.zip").exists()


def test_the_days_are_utc_and_inclusive():
    from governance.evidence.period import in_window

    start, end = dt.date(2027, 1, 10), dt.date(2027, 1, 15)
    assert in_window("2027-01-10T00:00:00.000000Z", start, end)
    assert in_window("2027-01-15T23:59:59.999999Z", start, end)
    assert not in_window("2027-01-16T00:00:00.000000Z", start, end)
