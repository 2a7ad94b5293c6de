"""An overdue finding escalates per the tier (issue 27, item 4): a warning, then the action.

The champion of ``late`` carries a finding raised in use, assigned by vera's signed act to
dana with a due date. Under an adopted policy whose tier escalates with ``action: trip``
``action_after_days: 10``: ten days past the due date it only warns; eleven days past it the
champion may not drive (the rebalance falls back), monitoring's escalation records
``finding.escalated`` once and trips the strategy's switch (actor ``alphagate``, trigger
``finding_overdue``). Under the default escalation (``warn``) nothing but the warning
happens. The attack: the due date edited in the ledger's database after the assignment
(the payload alone, or with its hashes recomputed) — ``status`` is exit 3 naming the entry
and the decision at use fails closed.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml

from flows.cli import main
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from tests.helpers_identity import POLICY, adopt_policy, enrol_cast, promoted_version, signer
from tests.test_readtime_commands import edit_in_place

NAME = "late"
DATA = Path(__file__).resolve().parent / "data"
TODAY = dt.datetime.now(dt.UTC).date()
DUE = TODAY - dt.timedelta(days=35)  # assigned 40 days ago, due 5 days after
ESCALATION = {"warn_after_days": 0, "action_after_days": 10, "action": "trip"}


def _policy(tmp_path: Path, escalation: dict | None) -> Path:
    doc = yaml.safe_load(POLICY.read_text())
    if escalation is not None:
        doc["tiers"]["high"]["findings"] = {"escalation": escalation}
    path = tmp_path / "policy-live.yaml"  # the name tests/data/small.yaml gives its policy
    path.write_text(yaml.safe_dump(doc))
    return path


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "small.yaml"
    config.write_text((DATA / "small.yaml").read_text())
    return config


def _overdue_champion(workspace, monkeypatch, tmp_path, escalation) -> str:
    """The champion with one finding raised in use, assigned 40 days ago, due 35 days ago."""
    from governance.findings.escalation import finding, raise_once
    from governance.findings.owners import assign
    from governance.log.ledger import Ledger

    enrol_cast(workspace, monkeypatch=monkeypatch)
    policy = _policy(tmp_path, escalation)
    with Ledger.open(workspace) as ledger:
        digest = adopt_policy(workspace, ledger, policy).policy_hash
    version, _ = promoted_version(workspace, NAME)
    with Ledger.open(workspace) as ledger:
        (record,) = raise_once(
            ledger, ModelRef.parse(NAME, version), [finding("dependency_changed", "cvxpy 1 -> 2", about="cvxpy")],
            origin="dependency",
        )  # fmt: skip
        assign(ledger, record.id, signer(workspace, "vera", ledger), owner="dana",
               due=DUE.isoformat(), plan="re-run validation under cvxpy 2", retest=None,
               max_days=180, policy_hash=digest, day=DUE - dt.timedelta(days=5))  # fmt: skip
    return record.id


def _tier(workspace, name=NAME):
    from governance.log.ledger import Ledger
    from governance.policy.tiers import tier_at_use

    with Ledger.open(workspace) as ledger:
        return tier_at_use(ledger, name).tier


def test_past_due_plus_n_days_the_tiers_action_happens(workspace, monkeypatch, tmp_path):
    from governance.decisions import killswitch
    from governance.decisions.model_use import model_may_drive
    from governance.decisions.promotion import latest_validation
    from governance.decisions.trips import escalate_overdue
    from governance.findings.review import use_checks
    from governance.log.ledger import Ledger

    fid = _overdue_champion(workspace, monkeypatch, tmp_path, ESCALATION)
    tier = _tier(workspace)
    with Ledger.open(workspace) as ledger:
        validation = latest_validation(ledger, ModelRef.parse(NAME, "1"))
        # ten days past due: a warning only; eleven: the tier's action (trip: no use)
        at = use_checks(ledger, ModelRef(NAME, 1), validation, tier, DUE + dt.timedelta(days=10))
        assert not at.blockers and [o.finding_id for o in at.overdue] == [fid]
        assert f"finding {fid} is 10 days past its due date" in at.warnings[-1]
        past = use_checks(ledger, ModelRef(NAME, 1), validation, tier, DUE + dt.timedelta(days=11))
        assert past.blockers[-1].endswith("escalated: trip")
        allowed, reasons, champion = model_may_drive(workspace, ledger, NAME)
        assert (allowed, champion) == (False, "1")
        assert [r for r in reasons if fid in r] == [
            f"finding {fid} is 35 days past its due date {DUE} (owner dana, assignment seq"
            f" {ledger.last(action=Action.FINDING_ASSIGNED).seq}); escalated: trip"
        ]
        # monitoring's escalation: recorded once, the strategy's switch tripped once
        now = use_checks(ledger, ModelRef(NAME, 1), validation, tier)
        state = escalate_overdue(ledger, now.overdue, NAME, {"monitoring_seq": 0})
        assert state is not None and state.tripped
        assert escalate_overdue(ledger, now.overdue, NAME, {"monitoring_seq": 1}) is None
        (entry,) = ledger.entries(action=Action.FINDING_ESCALATED)
        assert (entry.actor, entry.payload["finding_id"], entry.payload["days_overdue"]) == (
            "alphagate", fid, 35,
        )  # fmt: skip
        (trip,) = ledger.entries(action=Action.KILLSWITCH_TRIPPED)
        assert (trip.actor, trip.payload["trigger"]) == ("alphagate", "finding_overdue")
        assert killswitch.effective(ledger, NAME).tripped


def test_the_default_escalation_only_warns(workspace, monkeypatch, tmp_path, capsys):
    from governance.decisions.model_use import model_may_drive
    from governance.log.ledger import Ledger

    fid = _overdue_champion(workspace, monkeypatch, tmp_path, None)  # the live test policy
    with Ledger.open(workspace) as ledger:
        _, reasons, _ = model_may_drive(workspace, ledger, NAME)
    assert not [r for r in reasons if fid in r], reasons
    capsys.readouterr()
    config = _config(tmp_path)
    assert main(["status", "--config", str(config), "--model", NAME, "--json"]) == 0
    out = capsys.readouterr().out
    assert f"WARNING {fid} overdue: due {DUE}, owner dana; escalated: warn\n" in out
    report = json.loads(out.strip().splitlines()[-1])
    (row,) = report["overdue_findings"]
    assert (row["id"], row["days_overdue"], row["escalated"], row["action"]) == (
        fid, 35, True, "warn",
    )  # fmt: skip


@pytest.mark.parametrize("rehash", [False, True], ids=["payload", "payload-and-hashes"])
def test_a_due_date_edited_in_the_database_is_refused(workspace, monkeypatch, tmp_path, capsys,
                                                      rehash):  # fmt: skip
    from governance.decisions.model_use import model_may_drive
    from governance.log.ledger import Ledger

    _overdue_champion(workspace, monkeypatch, tmp_path, ESCALATION)
    config = _config(tmp_path)
    with Ledger.open(workspace) as ledger:  # the edited row is not the head
        ledger.append(Action.GATE_PRETRADE, actor="alphagate", subject="portfolio:x", payload={})
    capsys.readouterr()
    assert main(["ledger", "verify", "--json"]) == 0  # the verified head, outside the workspace
    with Ledger.open(workspace) as ledger:
        assigned = ledger.last(action=Action.FINDING_ASSIGNED)
        later = (TODAY + dt.timedelta(days=60)).isoformat()
        signed = {**assigned.payload["signed"], "due": later}
        edit_in_place(ledger, assigned, rehash, signed=signed)
    capsys.readouterr()
    assert main(["status", "--config", str(config), "--model", NAME]) == 3
    err = capsys.readouterr().err
    assert f"ledger entry {assigned.seq} ({Action.FINDING_ASSIGNED})" in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    with Ledger.open(workspace) as ledger:
        allowed, reasons, _ = model_may_drive(workspace, ledger, NAME)
    assert not allowed and reasons, reasons
