"""A tier's paper section (issue 24): the paper stage before capital and its graduation gate.

Its own module beside governance/policy/schema.py (which names it as ``Tier.paper``).
"""

from __future__ import annotations

from pydantic import Field

from governance.ground.configio import StrictModel

__all__ = ["PaperPolicy"]


class PaperPolicy(StrictModel):
    """A paper stage before capital (issue 24): after two officers approve a version for
    paper, it must be marked on paper for ``min_days`` trading days before the separate
    approval for live may be given (governance/decisions/paper.py), and then only when the
    graduation gate passes (validation/graduation.py): the paper record's mean daily rank IC
    and net return may not fall significantly below the holdout backtest's (one-sided,
    ``z < -z_level`` fails; 1.645: 5 %); the paper book's annualised tracking error against
    the backtest's rule re-run over the same days at most ``max_tracking_error``; its
    realised costs at most ``max_cost_ratio`` times the cost model's estimate.
    """

    min_days: int = Field(ge=1)
    z_level: float = Field(default=1.645, gt=0)
    max_tracking_error: float = Field(default=0.10, gt=0)
    max_cost_ratio: float = Field(default=1.5, gt=0)
