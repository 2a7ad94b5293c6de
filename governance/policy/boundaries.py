"""The ``boundaries:`` section of a policy tier: what a live input outside the domain a
version was validated on does (issue 24; the check is validation/boundaries.py)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from governance.ground.configio import StrictModel

__all__ = ["BoundaryAction", "BoundaryPolicy"]


class BoundaryAction(StrEnum):
    """What a live input outside the validated domain does: ``warn`` (the model drives, a
    finding is raised) or ``fallback`` (the rebalance publishes the tier's fallback too)."""

    WARN = "warn"
    FALLBACK = "fallback"


class BoundaryPolicy(StrictModel):
    """Operating boundaries (issue 24; PRA SS1/23): the domain a version was validated on,
    checked at each use (validation/boundaries.py). ``z`` widens each bound by its sampling
    error: 3.09 is one-sided 0.1 %, so four families of checks at twelve monthly rebalances
    give about one false alarm in twenty years of a stable market."""

    action: BoundaryAction = BoundaryAction.WARN
    z: float = Field(default=3.09, gt=0)
    window: int = Field(default=63, ge=10)  # days of the volatility regime's estimate
