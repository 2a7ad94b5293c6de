"""What a breach of a deadline does, and a tier's ``findings:`` section (issue 27, item 4).

:class:`BreachAction` is the one vocabulary for what an expired acceptance, an overdue
revalidation (the tier's ``monitoring:``) or an overdue finding does.

``findings.escalation`` (:class:`EscalationPolicy`): an open finding with a signed owner and
due date (governance/findings/owners.py) that is more than ``warn_after_days`` past its due
date is a warning in ``status``; more than ``action_after_days`` past it, the tier's
``action`` applies (SR 26-2 "issue tracking": remediation by an agreed date, escalated when
missed; SS1/23 principle 4). Defaults keep the behaviour before this section existed: a
warning from the day after the due date, and ``warn`` as the action.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

from governance.ground.configio import StrictModel

__all__ = ["BreachAction", "EscalationPolicy", "FindingsPolicy"]


class BreachAction(StrEnum):
    """What a missed deadline does: ``warn`` (the model still drives, ``status`` and
    monitoring say so), ``fallback`` (the rebalance uses the tier's fallback until it is
    resolved) or ``trip`` (monitoring also trips the strategy's kill switch)."""

    WARN = "warn"
    FALLBACK = "fallback"
    TRIP = "trip"


class EscalationPolicy(StrictModel):
    """Days past an owned finding's due date before it warns, and before ``action``."""

    warn_after_days: int = Field(default=0, ge=0)
    action_after_days: int = Field(default=30, ge=0)
    action: BreachAction = BreachAction.WARN

    @model_validator(mode="after")
    def _action_after_warning(self) -> EscalationPolicy:
        if self.action_after_days < self.warn_after_days:
            raise ValueError(
                f"action_after_days ({self.action_after_days}) is before warn_after_days"
                f" ({self.warn_after_days})"
            )
        return self


class FindingsPolicy(StrictModel):
    """A tier's ``findings:`` section: how an overdue remediation escalates."""

    escalation: EscalationPolicy = Field(default_factory=EscalationPolicy)
