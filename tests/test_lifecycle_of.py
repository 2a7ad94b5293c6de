"""One stage vocabulary (issue 29 after issue 24): the lifecycle is a reading of the
standing's stage, never a second fold of the ledger (governance/decisions/lifecycle.py).

Every :class:`Stage` maps to one lifecycle stage, as written here (not read from the code);
the end-to-end values are pinned by tests/test_paper_stage.py and tests/test_one_view.py.
"""

from __future__ import annotations

import pytest

from governance.decisions.lifecycle import STAGES, lifecycle_of
from governance.decisions.standing import Stage
from governance.policy.schema import Tier, load_policy
from tests.import_graph import ROOT

#: stage -> (lifecycle stage, with a verdict, not in paper)
WRITTEN = {
    Stage.NOT_VALIDATED: "candidate",
    Stage.FAILED: "candidate",
    Stage.IN_REVIEW: "candidate",
    Stage.AWAITING_APPROVAL: "validated",
    Stage.PAPER: "paper",
    Stage.CHAMPION: "live",
    Stage.SUPERSEDED: "superseded",
    Stage.REJECTED: "validated",
    Stage.RETIRED: "retired",
}


def _high():
    policy, _ = load_policy(ROOT / "configs" / "policy.yaml")
    return policy.tiers["high"]


@pytest.mark.parametrize("stage", list(Stage))
def test_every_stage_reads_as_one_lifecycle_stage(stage):
    facts = {
        Stage.NOT_VALIDATED: {"verdict": None},
        Stage.FAILED: {"verdict": "fail"},
        Stage.IN_REVIEW: {"open_findings": True},
        Stage.PAPER: {"paper_days": 3},
        Stage.REJECTED: {"rejected_by": ["omar"]},
    }.get(stage, {})
    args = {"verdict": "pass", "paper_days": None, "rejected_by": [], "unacceptable": False,
            "open_findings": False, **facts}  # fmt: skip
    life = lifecycle_of(stage.value, tier=_high(), **args)
    assert life.stage == WRITTEN[stage]
    assert life.stage in (*STAGES, "superseded")
    assert life.to_json()["stages"] == list(STAGES)


def test_paper_days_and_the_next_step():
    tier = _high()
    need = tier.paper.min_days
    life = lifecycle_of("paper", tier=tier, paper_days=2, verdict="pass", rejected_by=[],
                        unacceptable=False, open_findings=False)  # fmt: skip
    assert (life.paper_days, life.min_paper_days, life.paper_required) == (2, need, True)
    assert life.next_step.startswith(f"{need - 2} more paper days")
    # in paper, a rejection stands: no paper day helps, and the step says so
    life = lifecycle_of("rejected", tier=tier, paper_days=2, verdict="pass",
                        rejected_by=["omar"], unacceptable=False, open_findings=False)  # fmt: skip
    assert (life.stage, life.next_step) == (
        "paper", "none: rejected by omar; a new version must fix it")  # fmt: skip


def test_a_finding_never_acceptable_names_no_step_that_cannot_help():
    life = lifecycle_of("failed", tier=Tier(), paper_days=None, verdict="pass", rejected_by=[],
                        unacceptable=True, open_findings=True)  # fmt: skip
    assert life.stage == "candidate" and life.next_step.startswith("none:")
    assert "findings accept" not in life.next_step
    assert not life.paper_required and life.min_paper_days is None
