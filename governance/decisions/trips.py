"""The automatic trips a gate's halt causes (``kill_switch.trip_on_<trigger>`` policy flags).

- :func:`trip_on_live_data_halt`: a critical data-quality failure of the data a rebalance
  runs on (``trip_on_data_quality_critical``).
- :func:`trip_on_model_book_halt`: the model portfolio refused by its pre-trade or stress
  limits (``trip_on_pretrade_breach``: a stress limit is a pre-trade limit) or an optimiser
  failure (``trip_on_optimiser_failure``). Other halts (the champion cannot score:
  ``Gate.SCORING``; its inputs outside the validated domain: ``Gate.BOUNDARY``) say nothing
  about the model's behaviour in the market: the fallback is published with the reason, the
  switch stays.

- :func:`escalate_overdue`: an owned finding escalated past its due date under a tier whose
  ``findings.escalation.action`` is ``trip`` (governance/findings/overdue.py); it also
  records each escalation once (``finding.escalated``).

Each trips the strategy's own switch (actor ``alphagate``, ``killswitch.auto_trip``) with the
halt's reasons (at most 500 characters) and returns the new state, or None when nothing
tripped.
"""

from __future__ import annotations

from governance.decisions.killswitch import Trigger, auto_trip, effective, trip
from governance.findings.overdue import record_escalations
from governance.ground.errors import Gate, GateHalt
from governance.policy.escalation import BreachAction

#: The gates whose halt of the model portfolio trips the switch, and the trigger each names.
MODEL_BOOK_TRIGGERS = {
    Gate.PRETRADE: Trigger.PRETRADE_BREACH,
    Gate.STRESS: Trigger.PRETRADE_BREACH,  # a stress limit is a pre-trade limit
    Gate.OPTIMISER: Trigger.OPTIMISER_FAILURE,
}


def _reason(exc: GateHalt) -> str:
    return "; ".join(exc.reasons)[:500]


def trip_on_live_data_halt(target, tier, exc: GateHalt, strategy: str):
    """Trip ``strategy``'s switch on a critical data-quality failure of its live data."""
    if exc.gate is not Gate.DATA_QUALITY:
        return None
    return auto_trip(target, tier, Trigger.DATA_QUALITY_CRITICAL, _reason(exc), strategy=strategy)


def trip_on_model_book_halt(target, tier, exc: GateHalt, strategy: str):
    """Trip ``strategy``'s switch when its model portfolio was refused by a gate that judges
    the model's behaviour in the market (:data:`MODEL_BOOK_TRIGGERS`)."""
    trigger = MODEL_BOOK_TRIGGERS.get(exc.gate)
    if trigger is None:
        return None
    evidence = {"gate": exc.gate.value}
    return auto_trip(target, tier, trigger, _reason(exc), evidence, strategy=strategy)


def escalate_overdue(target, late, strategy: str, evidence: dict | None = None):
    """Record each escalated finding of ``late`` (``governance.findings.overdue.overdue``)
    once, then trip ``strategy``'s switch (trigger ``finding_overdue``) when one is escalated
    under ``action: trip``, unless the switch is tripped already; the new state, or None."""
    record_escalations(getattr(target, "ledger", target), late, evidence=evidence)
    acting = [o for o in late if o.escalated and o.action is BreachAction.TRIP]
    if not acting or effective(target, strategy).tripped:
        return None
    reason = "; ".join(o.line() for o in acting)[:500]
    facts = {"findings": [o.to_json() for o in acting], **(evidence or {})}
    return trip(target, None, reason, Trigger.FINDING_OVERDUE, evidence=facts, strategy=strategy)
