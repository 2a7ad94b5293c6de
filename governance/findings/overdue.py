"""Overdue remediation escalates per the tier (issue 27, item 4; SR 26-2 "issue tracking").

An **open** finding whose owner and due date are a valid signed assignment
(governance/findings/owners.py: the due date is read from the signed document only) is
*overdue* once the day is past its due date. Under the tier's ``findings.escalation``
(governance/policy/escalation.py):

- more than ``warn_after_days`` past the due date: a warning (``status``, monitoring);
- more than ``action_after_days`` past it: *escalated* — the tier's ``action`` applies at
  the point of use (:func:`governance.findings.review.use_checks`): ``warn`` only says so,
  ``fallback`` and ``trip`` refuse the version's use (the rebalance publishes the fallback)
  and ``trip`` also trips the strategy's switch when monitoring notices it
  (governance/decisions/trips.py ``escalate_overdue``).

An escalation is recorded once per finding and assignment as ``finding.escalated`` (actor
``alphagate``: recording it only adds scrutiny). A due date edited in the ledger's database
after the assignment breaks the assignment's entry: read-time verification refuses the
command (exit 3), and the decision at use fails closed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from governance.findings import register as findings_register
from governance.findings.owners import owners
from governance.findings.register import Status, load_register
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from governance.identity.users import SYSTEM_ACTOR
from governance.log.ledger import ANY_PAYLOAD
from governance.policy.escalation import BreachAction, EscalationPolicy

__all__ = ["Overdue", "overdue", "record_escalations"]


@dataclass(frozen=True)
class Overdue:
    """One open finding past its signed due date."""

    finding_id: str
    ref: ModelRef  # the version the finding is about
    owner: str
    due: str
    plan: str
    assigned_seq: int
    days: int  # days past the due date
    escalated: bool  # more than ``action_after_days`` past it
    action: BreachAction  # the tier's escalation action

    @property
    def acts(self) -> bool:
        """Whether the version may not drive: escalated under ``fallback`` or ``trip``."""
        return self.escalated and self.action is not BreachAction.WARN

    def line(self) -> str:
        head = f"finding {self.finding_id} is {self.days} days past its due date {self.due}"
        tail = f" (owner {self.owner}, assignment seq {self.assigned_seq})"
        if self.escalated:
            tail += f"; escalated: {self.action.value}"
        return head + tail

    def to_json(self) -> dict:
        return {"id": self.finding_id, "owner": self.owner, "due": self.due, "plan": self.plan,
                "days_overdue": self.days, "assigned_seq": self.assigned_seq,
                "escalated": self.escalated, "action": self.action.value}  # fmt: skip


def overdue(
    ledger, ref: ModelRef, policy: EscalationPolicy, day: dt.date | None = None
) -> list[Overdue]:
    """The open findings of the version ``ref`` more than ``warn_after_days`` past their
    signed due date on ``day`` (default today, UTC), oldest due first."""
    day = day or findings_register.today()  # the module's clock (tests move it)
    register = load_register(ledger, as_of=day)
    records = [r for r in register.of_version(ref) if r.status is Status.OPEN]
    if not records:
        return []
    assigned = owners(ledger, register)
    out = []
    for r in records:
        a = assigned.get(r.id)
        if a is None:
            continue
        days = (day - dt.date.fromisoformat(a.due)).days
        if days > policy.warn_after_days:
            out.append(Overdue(r.id, r.ref, a.owner, a.due, a.plan, a.seq,
                               days, days > policy.action_after_days, policy.action))  # fmt: skip
    return sorted(out, key=lambda o: (o.due, o.finding_id))


def record_escalations(ledger, found, *, evidence: dict | None = None) -> list:
    """Record ``finding.escalated`` once per escalated finding of ``found`` and assignment
    (the ledger's idempotency key); the entries recorded now or before."""
    out = []
    for o in found:
        if not o.escalated:
            continue
        out.append(
            system_finding_event(
                ledger,
                Action.FINDING_ESCALATED,
                o.ref,
                o.finding_id,
                {**o.to_json(), **(evidence or {})},
                key=str(o.assigned_seq),
                replay_ignores=ANY_PAYLOAD,  # the days past due grow: once is once
            )
        )
    return out


def system_finding_event(
    ledger, action: str, ref: ModelRef, finding_id: str, fields: dict, *, key: str, **append
):
    """Record ``action`` about finding ``finding_id`` of a version as the system (a lapse
    noticed, not anyone's decision): the version's subject, its name, version and the
    finding in the payload beside ``fields``, once per ``key`` (the ledger's idempotency
    key ``<action>:<finding>:<key>``). Returns the entry recorded now or before."""
    return ledger.append(
        action,
        actor=SYSTEM_ACTOR,
        role="system",
        subject=ref.subject,
        payload={"model_name": ref.name, "model_version": ref.version_text,
                 "finding_id": finding_id, **fields},
        idempotency_key=f"{action}:{finding_id}:{key}",
        **append,
    )  # fmt: skip
