"""Issue 22 with issue 24's paper stage: the derived champion re-checks graduation.

``approve`` refuses a live approval in a tier with a paper stage until the version entered
paper, was marked ``min_days`` and passed the graduation gate; but the champion is derived
from the signed approvals (governance/registry/champion.py), so approvers who sign their
live approvals past ``approve`` (the project's own ``Ledger.append``) completed a live
promotion without any of it. Now the derivation asks for the paper entry (signed
``approval.paper`` acts), the marks and each counted approval's signed graduation pass.
"""

from __future__ import annotations

import yaml

from governance.decisions.approvals import record_signed_decision
from governance.decisions.promotion import facts_for, latest_validation
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action, Subject
from governance.log.ledger import Ledger
from governance.registry.champion import champion
from tests.helpers_identity import POLICY, adopt_policy, enrol_cast, signer, tiny_version

NAME, MIN_DAYS = "ptier", 3


def _paper_policy(ws, tmp_path):
    """The shipped policy with a paper stage in its ``high`` tier (the default tier), adopted."""
    policy = yaml.safe_load(POLICY.read_text())
    policy["version"] = "paper-derived-1"
    policy["tiers"]["high"]["paper"] = {"min_days": MIN_DAYS}
    path = tmp_path / "policy-paper.yaml"
    path.write_text(yaml.safe_dump(policy))
    with Ledger.open(ws) as ledger:
        return adopt_policy(ws, ledger, path).policy_hash


def _sign(ws, ledger, version, who, h, action=Action.APPROVAL_GRANTED, graduation=None):
    """``who``'s signed approval of ``version``, written past ``approve``."""
    facts = facts_for(ws, ledger, ModelRef.parse(NAME, version))
    return record_signed_decision(
        ledger, facts, latest_validation(ledger, ModelRef.parse(NAME, version)), signer=signer(ws, who, ledger),
        decision="approve", reason="ok", policy_hash=h, tier_name="high", action=action,
        graduation=graduation,
    )  # fmt: skip


def _setup(workspace, monkeypatch, tmp_path):
    enrol_cast(workspace, monkeypatch=monkeypatch)
    h = _paper_policy(workspace, tmp_path)
    version, _ = tiny_version(workspace, NAME)
    return version, h


def test_live_approvals_past_approve_without_paper_promote_nothing(
    workspace, monkeypatch, tmp_path
):
    """vera and rita sign live approvals of a validated version that never entered paper:
    four eyes and a pass, but no champion."""
    version, h = _setup(workspace, monkeypatch, tmp_path)
    with Ledger.open(workspace) as ledger:
        for who in ("vera", "rita"):
            _sign(workspace, ledger, version, who, h, graduation={"passed": True})
        assert champion(ledger, NAME) is None


def test_live_approvals_need_the_marks_and_a_signed_graduation_pass(
    workspace, monkeypatch, tmp_path
):
    """The version entered paper (signed paper approvals) and was marked ``min_days``; live
    approvals that sign no graduation pass complete nothing; with fewer marks neither; the
    control: the same approvals signing the pass complete it (the derivation would pass for
    the wrong reason if nothing ever completed in a paper tier)."""
    version, h = _setup(workspace, monkeypatch, tmp_path)
    subject = Subject.model(NAME, version)
    with Ledger.open(workspace) as ledger:
        for who in ("vera", "rita"):
            _sign(workspace, ledger, version, who, h, action=Action.APPROVAL_PAPER)
        for day in range(MIN_DAYS - 1):
            ledger.append(Action.PAPER_MARKED, actor="alphagate", role="system", subject=subject,
                          payload={"as_of": f"2026-01-0{day + 1}"})  # fmt: skip
        # MIN_DAYS - 1 marks: a signed pass does not make up for the missing day
        vera = _sign(workspace, ledger, version, "vera", h, graduation={"passed": True})
        rita = _sign(workspace, ledger, version, "rita", h, graduation={"passed": True})
        assert champion(ledger, NAME) is None
    with Ledger.open(workspace) as ledger:  # a fresh version: the last day marked
        version, _ = tiny_version(workspace, NAME)
        subject = Subject.model(NAME, version)
        for who in ("vera", "rita"):
            _sign(workspace, ledger, version, who, h, action=Action.APPROVAL_PAPER)
        for day in range(MIN_DAYS):
            ledger.append(Action.PAPER_MARKED, actor="alphagate", role="system", subject=subject,
                          payload={"as_of": f"2026-02-0{day + 1}"})  # fmt: skip
        _sign(workspace, ledger, version, "vera", h)
        _sign(workspace, ledger, version, "rita", h)
        assert champion(ledger, NAME) is None  # no graduation pass signed
    with Ledger.open(workspace) as ledger:  # the control
        version, _ = tiny_version(workspace, NAME)
        subject = Subject.model(NAME, version)
        for who in ("vera", "rita"):
            _sign(workspace, ledger, version, who, h, action=Action.APPROVAL_PAPER)
        for day in range(MIN_DAYS):
            ledger.append(Action.PAPER_MARKED, actor="alphagate", role="system", subject=subject,
                          payload={"as_of": f"2026-03-0{day + 1}"})  # fmt: skip
        _sign(workspace, ledger, version, "vera", h, graduation={"passed": True})
        completing = _sign(workspace, ledger, version, "rita", h, graduation={"passed": True})
        found = champion(ledger, NAME)
        assert found is not None and (found.version, found.seq) == (int(version), completing.seq)
    assert vera.seq < rita.seq
