"""The review path and the use-time findings checks: may a verdict promote, may it drive?

A ``review`` verdict is promotable once every warning finding its validation raised is
accepted (governance/findings/accept.py); a ``fail`` verdict only if the tier also lets
its critical findings be accepted (never in ``high``/``medium``). The approval documents
sign the accepted findings' ids and digests (:func:`accepted_findings`) and the promotion
entry lists them.

At the moment of use (:func:`use_checks`, called by ``model_may_drive``) and in daily
monitoring, two more facts weigh, each acted on per the tier's ``monitoring`` policy
(``warn``, ``fallback`` or ``trip``):

- an acceptance that has **expired** (``on_acceptance_expired``);
- a **revalidation** that has fallen due (:func:`revalidation_due`; SR 26-2: by the
  tier's cadence ``revalidation_days`` — materiality — or at once after a kill-switch
  trip whose trigger the tier lists in ``revalidate_on``);
- an owned finding of the version **overdue** for remediation (the tier's
  ``findings.escalation``, governance/findings/overdue.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from governance.findings.overdue import Overdue, overdue, system_finding_event
from governance.findings.register import FindingRecord, Register, Status, load_register, today
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from governance.policy.schema import BreachAction, Severity, Tier

SWITCH = "killswitch"

#: A monitoring run's ledger action (flows/monitoring.py records it; history and views read it).


def blocking(register: Register, validation_seq: int) -> list[FindingRecord]:
    """Findings the validation ``validation_seq`` raised that weigh on its verdict."""
    return [r for r in register.raised_by(validation_seq) if r.severity is not Severity.INFO]


def unaccepted(register: Register, validation_seq: int) -> list[FindingRecord]:
    """Warning and critical findings of that validation not accepted now."""
    return [r for r in blocking(register, validation_seq) if r.status is not Status.ACCEPTED]


def off_tier(register: Register, validation) -> list[str]:
    """Why accepted findings of ``validation`` (ValidationFacts) count for nothing: each was
    accepted under another tier than the validation's (governance/policy/tiers.py)."""
    return [
        f"the acceptance of {r.id} (ledger seq {r.acceptance.seq}) was made under tier"
        f" {r.acceptance.tier!r}, not the validation's tier {validation.tier!r}: evidence"
        " under another tier counts for nothing"
        for r in blocking(register, validation.seq)
        if r.status is Status.ACCEPTED and r.acceptance.tier != validation.tier
    ]


def accepted_findings(ledger, validation) -> list[dict]:
    """``[{id, digest, until}]`` of the accepted findings of ``validation`` (ValidationFacts).

    What approval documents sign and ``model.promoted`` lists; empty for a clean pass.
    """
    if validation is None:
        return []
    register = load_register(ledger)
    return [
        {"id": r.id, "digest": r.digest, "until": r.acceptance.until}
        for r in blocking(register, validation.seq)
        if r.status is Status.ACCEPTED
    ]


def _unaccepted_line(who: str, validation, records) -> str:
    ids = ", ".join(f"{r.id} ({r.severity.value} {r.check}, {r.status.value})" for r in records)
    return f"{who} latest validation verdict is {validation.verdict}; findings not accepted: {ids}"


def _no_findings(who: str, validation, register: Register) -> str | None:
    """Fail closed: a non-pass verdict whose validation names no finding cannot be accepted
    into a pass (a legacy or hand-made entry); nor can a verdict alphagate does not know."""
    if validation.verdict not in ("review", "fail"):
        return f"{who} latest validation verdict is {validation.verdict}, not pass"
    if not blocking(register, validation.seq):
        return (
            f"{who} latest validation verdict is {validation.verdict}, not pass, and it"
            " recorded no finding that could be accepted"
        )
    return None


def review_blockers(ledger, version, validation) -> list[str]:
    """Why a non-``pass`` verdict does not (yet) let ``version`` be promoted; empty: it may."""
    register = load_register(ledger)
    bad = _no_findings(f"v{version}", validation, register)
    if bad:
        return [bad]
    left = unaccepted(register, validation.seq)
    out = [_unaccepted_line(f"v{version}", validation, left)] if left else []
    return out + off_tier(register, validation)


@dataclass(frozen=True)
class Due:
    """When the next revalidation of a version is due, and why."""

    date: dt.date
    reason: str
    at_once: bool = False  # a trigger: due from that day on, not after it

    def overdue(self, day: dt.date) -> bool:
        return day >= self.date if self.at_once else day > self.date

    def to_json(self) -> dict:
        return {"date": self.date.isoformat(), "reason": self.reason, "at_once": self.at_once}


def revalidation_due(ledger, validation, tier: Tier) -> Due | None:
    """The next revalidation of the version validated by ``validation`` (ValidationFacts).

    Cadence: the validation's date plus ``monitoring.revalidation_days``; a kill-switch
    trip after it (of the workspace-wide switch or the model's own) whose trigger is in
    ``monitoring.revalidate_on`` brings it forward to the trip's date. None when never
    validated.
    """
    if validation is None:
        return None
    entry = ledger.entries(action=Action.VALIDATION_COMPLETED, after_seq=validation.seq - 1)[0]
    validated = dt.date.fromisoformat(entry.ts[:10])
    policy = tier.monitoring
    due = Due(
        validated + dt.timedelta(days=policy.revalidation_days),
        f"every {policy.revalidation_days} days (validated {validated.isoformat()})",
    )
    # the workspace-wide switch, or the model's own (strategy = model name)
    switches = {SWITCH, f"{SWITCH}:{entry.payload.get('model_name')}"}
    for trip in ledger.entries(action=Action.KILLSWITCH_TRIPPED, after_seq=validation.seq):
        trigger = (trip.payload or {}).get("trigger")
        if trip.subject in switches and trigger in policy.revalidate_on:
            day = dt.date.fromisoformat(trip.ts[:10])
            return Due(day, f"kill switch tripped on {trigger} on {day}", at_once=True)
    return due


@dataclass(frozen=True)
class UseCheck:
    """The findings side of "may the champion drive?": refusals and warnings."""

    blockers: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    expired: tuple[FindingRecord, ...] = ()
    due: Due | None = None
    overdue: tuple[Overdue, ...] = ()  # owned findings past their due date (warned or escalated)


def _acts(action: BreachAction) -> bool:
    return action is not BreachAction.WARN


def use_checks(
    ledger, ref: ModelRef, validation, tier: Tier, day: dt.date | None = None
) -> UseCheck:
    """Findings, acceptances and revalidation cadence of the champion ``ref`` on ``day``,
    and its owned findings overdue for remediation."""
    day = day or today()
    version = ref.version
    if validation is None:
        return UseCheck(blockers=(f"champion v{version} has no validation",))
    register = load_register(ledger, as_of=day)
    policy = tier.monitoring
    blockers, warnings = [], []
    who = f"champion v{version}"
    bad = _no_findings(who, validation, register) if validation.verdict != "pass" else None
    if bad:
        blockers.append(bad)
    left = unaccepted(register, validation.seq) if validation.verdict != "pass" else []
    expired = [r for r in left if r.status is Status.EXPIRED]
    never = [r for r in left if r.status is not Status.EXPIRED]
    if never:
        blockers.append(_unaccepted_line(who, validation, never))
    if validation.verdict != "pass":
        blockers += off_tier(register, validation)
    for r in expired:
        line = f"acceptance of {r.id} expired on {r.acceptance.until}"
        (blockers if _acts(policy.on_acceptance_expired) else warnings).append(line)
    due = revalidation_due(ledger, validation, tier)
    if due is not None and due.overdue(day):
        line = f"revalidation of v{version} was due {due.date.isoformat()} ({due.reason})"
        (blockers if _acts(policy.on_revalidation_due) else warnings).append(line)
    late = overdue(ledger, ref, tier.findings.escalation, day)
    for o in late:
        (blockers if o.acts else warnings).append(o.line())
    return UseCheck(tuple(blockers), tuple(warnings), tuple(expired), due, tuple(late))


def record_expiries(ledger, expired, *, monitoring_seq: int | None = None) -> list:
    """Record ``finding.expired`` once per expired acceptance (monitoring noticed it)."""
    out = []
    for r in expired:
        out.append(
            system_finding_event(
                ledger, Action.FINDING_EXPIRED, r.ref, r.id,
                {"until": r.acceptance.until, "acceptance_seq": r.acceptance.seq,
                 "monitoring_seq": monitoring_seq},
                key=str(r.acceptance.seq),
            )
        )  # fmt: skip
    return out
