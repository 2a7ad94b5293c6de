"""Findings with owners (issue 27): owner, due date, remediation plan and retest, signed.

A finding raised on a version in use gets an owner (the developer may own the fix), a due
date and a plan by a validator's signed assignment; ``findings list`` and ``status`` show them
and warn once the due date has passed. The attacks — the wrong role, the developer assigning
her own finding, a due date already passed, a replay, an unsigned or mis-bound document — are
refused (exit 4, recorded; exit 3 for a replay the ledger refuses) or count for nothing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from governance.ground.errors import TamperDetected
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from tests.helpers_e2e import cli_out
from tests.helpers_forge import forge
from tests.helpers_identity import enrol_cast, signer, tiny_version

NAME = "owned"
CONFIG = str(Path(__file__).resolve().parent / "data" / "small.yaml")  # the live test policy
TODAY = dt.datetime.now(dt.UTC).date()


def _due(days: int) -> str:
    return (TODAY + dt.timedelta(days=days)).isoformat()


def _finding(workspace, version) -> str:
    """One warning raised in use on the version, through the production writer."""
    from governance.findings.escalation import finding, raise_once
    from governance.log.ledger import Ledger

    with Ledger.open(workspace) as ledger:
        (record,) = raise_once(
            ledger, ModelRef.parse(NAME, version), [finding("dependency_changed", "cvxpy 1 -> 2", about="cvxpy")],
            origin="dependency",
        )  # fmt: skip
    return record.id


def _assign(capsys, fid, user, due, *extra):
    return cli_out(capsys, "findings", "assign", fid, "--owner", "dana", "--due", due,
                   "--plan", "re-run validation under cvxpy 2", "--config", CONFIG,
                   "--as", user, *extra)  # fmt: skip


def test_a_finding_gets_a_signed_owner_due_date_and_plan(workspace, monkeypatch, capsys):
    from governance.findings.owners import owners, with_owner
    from governance.findings.register import load_register
    from governance.log.ledger import Ledger

    enrol_cast(workspace, monkeypatch=monkeypatch)
    version, _ = tiny_version(workspace, NAME)  # dana develops, vera validates
    fid = _finding(workspace, version)
    code, out, err = _assign(capsys, fid, "vera", _due(10), "--retest", "IC within 1 se",
                             "--json")  # fmt: skip
    assert code == 0 and out["owner"] == "dana", err
    code, listed, _ = cli_out(capsys, "findings", "list", "--model", NAME, "--json")
    (row,) = listed["findings"]
    assert (row["id"], row["owner"], row["due"], row["overdue"]) == (fid, "dana", _due(10), False)
    assert row["plan"].startswith("re-run") and row["retest"] == "IC within 1 se"
    assert row["assigned_by"] == "vera"
    # Past the due date and still open: overdue (status warns).
    with Ledger.open(workspace) as ledger:
        register = load_register(ledger)
        later = TODAY + dt.timedelta(days=11)
        assert with_owner(register.get(fid), owners(ledger, register), later)["overdue"]


def test_finding_assignment_attacks_are_refused_or_count_for_nothing(workspace, monkeypatch,
                                                                     capsys):  # fmt: skip
    from flows.status import status_report
    from governance.findings.owners import owners
    from governance.identity.signing import append_signed
    from governance.log.ledger import Ledger
    from governance.policy.schema import load_policy
    from tests.helpers_identity import POLICY

    enrol_cast(workspace, monkeypatch=monkeypatch)
    version, _ = tiny_version(workspace, NAME)
    fid = _finding(workspace, version)
    # 1. Wrong role (another developer); the version's developer sets her own deadline.
    for user, why in (("dev-alice", "needs risk_officer/validator"), ("dana", "separation")):
        code, _, err = _assign(capsys, fid, user, _due(10))
        assert code == 4 and err.strip().count("\n") == 0 and why in err, err
    # 2. A due date already passed, or past the tier's longest (acceptance.max_days: 180).
    for due, why in ((_due(-1), "has passed"), (_due(181), "at most 180")):
        code, _, err = _assign(capsys, fid, "rita", due)
        assert code == 4 and why in err, err
    with Ledger.open(workspace) as ledger:
        assert len(ledger.entries(action=Action.FINDING_ASSIGNMENT_REFUSED)) == 4
        assert owners(ledger) == {}

    code, _, err = _assign(capsys, fid, "rita", _due(10))
    assert code == 0, err
    with Ledger.open(workspace) as ledger:
        genuine = ledger.entries(action=Action.FINDING_ASSIGNED)[-1]
        # 3. Replay: the same signed assignment again is refused by the ledger.
        with pytest.raises(TamperDetected):
            ledger.append(Action.FINDING_ASSIGNED, actor="rita", role="risk_officer",
                          subject=genuine.subject, payload=genuine.payload)  # fmt: skip
        # 4. A later deadline nobody allowed: unsigned under rita's name; signed by rita for
        #    another finding's digest; signed by the developer: none is in force.
        doc = {k: v for k, v in genuine.payload["signed"].items()
               if k not in ("act", "subject", "user", "signer_role", "doc_id", "time")}  # fmt: skip
        late = {**doc, "due": _due(170), "id": "x"}
        forge(ledger, Action.FINDING_ASSIGNED, actor="rita", role="risk_officer",
                      subject=genuine.subject, payload=late)  # fmt: skip
        append_signed(ledger, signer(workspace, "rita", ledger), Action.FINDING_ASSIGNED,
                      subject=genuine.subject, payload={**late, "finding_digest": "0" * 64})  # fmt: skip
        assert owners(ledger)[fid].due == _due(10)

        # status names the owner's deadline once it has passed (with the clock moved on)
        tier = load_policy(POLICY)[0].tier("high")
        monkeypatch.setattr("governance.findings.register.today",
                            lambda: TODAY + dt.timedelta(days=11))  # fmt: skip
        report = status_report(workspace, ledger, ModelRef.parse(NAME, version), tier)
    assert [(f["id"], f["owner"]) for f in report["overdue_findings"]] == [(fid, "dana")]
