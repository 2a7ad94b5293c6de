"""The kill switch: ``armed`` or ``tripped``, folded from ``killswitch.*`` ledger entries.

There is no state file: the ledger is the state, so the switch's history is tamper-evident
and part of every evidence pack. Two levels: the workspace-wide switch (subject
``killswitch``) stops every strategy; each strategy (book, ``model.name``) has its own
(subject ``killswitch:<strategy>``), which automatic trips use, so one strategy's breach
does not stop another. A strategy may trade only when both are armed (:func:`effective`).
Entries:

- ``killswitch.tripped``: by hand (any risk officer or developer) or automatically (actor
  ``alphagate``) on one of the policy's triggers (:class:`Trigger`), with the evidence.
- ``killswitch.reset_pending``: the first risk officer asked for a reset.
- ``killswitch.reset``: the ``reset_approvals``-th distinct risk officer completed it.
- ``killswitch.reset_refused``: a refused reset (wrong role, same officer twice, the
  champion's developer); the refusal also raises :class:`Forbidden` (exit 4).

Issues 5 and 22: a reset needs the adopted policy's ``kill_switch.reset_approvals`` distinct
risk officers (never fewer than two), none the champion's developer, each with a reason and an
incident reference; a document's own ``needed`` can only ask for more.

Trip and reset are compare-and-append in one serialised ledger transaction, so two officers
resetting at once complete one reset and a trip landing meanwhile is never overridden; a
``killswitch.reset`` counts only when its ``officers`` are the pending officers plus its own
actor (:func:`fold`). :func:`record_if_armed` records a stage's output only while armed.

Every human trip and reset step is a signed act of the person (issue 10): the fold counts
only entries whose signature holds for the signer's registered key and role at the time, and
a reset step only for the trip it names (``trip_seq``), so a forged or replayed reset
re-arms nothing. Automatic trips (actor ``alphagate``) are unsigned: they only stop things.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from governance.decisions.context import RunContext
from governance.ground.errors import Forbidden, InputError
from governance.ground.vocabulary import Action, Area, Subject, area
from governance.identity.duties import ROLES, Act, duty_refusal, require
from governance.identity.users import SYSTEM_ACTOR, act_problems, load_registry
from governance.log.bound import replayed
from governance.policy.schema import MIN_RESET_APPROVALS
from governance.policy.tiers import reset_rule


class SwitchState(StrEnum):
    ARMED, TRIPPED = "armed", "tripped"


class Trigger(StrEnum):
    """Automatic triggers: a ``kill_switch.trip_on_<value>`` flag each (but trips.py's)."""

    DATA_QUALITY_CRITICAL = "data_quality_critical"
    CHAMPION_VALIDATION_FAIL = "champion_validation_fail"
    MONITORING_BREACH = "monitoring_breach"
    OPTIMISER_FAILURE = "optimiser_failure"
    PRETRADE_BREACH = "pretrade_breach"
    FINDING_OVERDUE = "finding_overdue"
    MANUAL = "manual"


@dataclass(frozen=True)
class KillSwitchState:
    """The switch as folded from the ledger.

    ``since``/``by``/``reason`` describe the trip (``None`` when armed and never tripped;
    after a reset they describe the reset). ``pending_reset`` is
    ``{officers, reasons, incidents, needed, since}`` while a reset awaits more officers.
    """

    state: SwitchState
    since: str | None = None
    by: str | None = None
    reason: str | None = None
    pending_reset: dict | None = None
    trigger: str | None = None
    seq: int | None = None

    @property
    def tripped(self) -> bool:
        return self.state is SwitchState.TRIPPED

    def to_json(self) -> dict:
        """The ``killswitch status --json`` object (shared/DESIGN.md)."""
        return {
            "state": self.state.value,
            "since": self.since,
            "by": self.by,
            "reason": self.reason,
            "pending_reset": self.pending_reset,
            "trigger": self.trigger,
        }


def _holds(e, registry) -> bool:
    """A human trip or reset step counts only as a valid signed act (governance/identity/duties.py)."""
    if registry is None or e.action == Action.KILLSWITCH_RESET_REFUSED:
        return True
    if e.action == Action.KILLSWITCH_TRIPPED and e.actor == SYSTEM_ACTOR:
        return True
    return not act_problems(
        registry, e, ROLES[Act.TRIP if e.action == Action.KILLSWITCH_TRIPPED else Act.RESET]
    )


def _needed_at(rule: list[tuple[int, int]], seq: int) -> int | None:
    """What ``rule`` asks of a reset step at ``seq`` (the adoption in force then), or None."""
    return next((n for since, n in reversed(rule) if since < seq), None)


def fold(entries: list, registry=None, rule: list[tuple[int, int]] = ()) -> KillSwitchState:
    """Fold ``killswitch.*`` ledger entries (in seq order) into the current state.

    With a ``registry`` (:func:`governance.identity.users.load_registry`), entries that are not valid
    signed acts are ignored, and a reset step counts only for the trip it names. ``rule``
    (:func:`reset_rule`): how many distinct officers the adopted policy in force at each
    step asks for; a completing step counts only with that many, whatever a document says.
    """
    state = KillSwitchState(SwitchState.ARMED)
    again = replayed(entries) if registry is not None else {}
    for e in entries:
        p = e.payload or {}
        stale = (
            e.action in (Action.KILLSWITCH_RESET_PENDING, Action.KILLSWITCH_RESET)
            and p.get("trip_seq") != state.seq
        )
        if e.seq in again or not _holds(e, registry) or (registry is not None and stale):
            continue
        if e.action == Action.KILLSWITCH_TRIPPED:
            if state.tripped:  # a further trip adds nothing but voids a pending reset
                state = KillSwitchState(
                    SwitchState.TRIPPED, state.since, state.by, state.reason, None,
                    state.trigger, state.seq,
                )  # fmt: skip
            else:
                state = KillSwitchState(
                    SwitchState.TRIPPED, e.ts, e.actor, p.get("reason"), None,
                    p.get("trigger"), e.seq,
                )  # fmt: skip
        elif e.action == Action.KILLSWITCH_RESET_PENDING and state.tripped:
            asked = [n for n in (p.get("needed"), _needed_at(rule, e.seq)) if isinstance(n, int)]
            pending = state.pending_reset or {
                "officers": [], "reasons": [], "incidents": [],
                "needed": max([MIN_RESET_APPROVALS, *asked]), "since": e.ts,
            }  # fmt: skip
            pending = {
                **pending,
                "officers": [*pending["officers"], e.actor],
                "reasons": [*pending["reasons"], p.get("reason")],
                "incidents": [*pending["incidents"], p.get("incident")],
            }
            state = KillSwitchState(
                state.state, state.since, state.by, state.reason, pending, state.trigger, state.seq
            )
        elif e.action == Action.KILLSWITCH_RESET and state.tripped and _completes(state, e, rule):
            state = KillSwitchState(
                SwitchState.ARMED, e.ts, e.actor, p.get("reason"), None, None, e.seq
            )
    return state


def _completes(state: KillSwitchState, reset, rule=()) -> bool:
    """A reset completes the pending one only if it names exactly those officers and itself,
    all distinct and as many as the first step asked, as the adopted policy in force asks
    (``rule``) and never fewer than :data:`~governance.policy.schema.MIN_RESET_APPROVALS`:
    one officer's own signed reset listing only herself re-arms nothing, nor do two
    officers' steps signed ``needed: 2`` where the policy asks three."""
    pending = state.pending_reset or {}
    officers = [*pending.get("officers", []), reset.actor]
    p = reset.payload or {}
    asked = (pending.get("needed"), p.get("needed"), _needed_at(rule, reset.seq))
    needed = max([MIN_RESET_APPROVALS, *(n for n in asked if isinstance(n, int))])
    return p.get("officers") == officers and len(set(officers)) >= needed


def _ledger_of(target) -> Any:
    return getattr(target, "ledger", target)


def status(ledger, strategy: str | None = None) -> KillSwitchState:
    """Current :class:`KillSwitchState` of one level, the workspace-wide switch (None) or
    ``strategy``'s own, of a ledger, a ``RunContext`` or a ledger transaction."""
    ledger = _ledger_of(ledger)
    subject = Subject.killswitch(strategy)
    entries = [e for e in ledger.entries(subject=subject) if area(e.action) == Area.KILLSWITCH]
    registry = load_registry(ledger)
    rule = reset_rule(ledger, registry, strategy)
    return fold(sorted(entries, key=lambda e: e.seq), registry, rule)


def effective(ledger, strategy: str | None) -> KillSwitchState:
    """The switch that governs ``strategy``: the workspace-wide one when it is tripped,
    else the strategy's own (None: the workspace-wide one)."""
    above = status(ledger)
    return above if above.tripped or strategy is None else status(ledger, strategy)


def strategies(ledger) -> list[str]:
    """Strategies with a switch of their own (any ``killswitch:<strategy>`` entry), sorted."""
    prefix = f"{Subject.KILLSWITCH}:"
    return sorted(
        {
            e.subject.removeprefix(prefix)
            for e in _ledger_of(ledger).entries()
            if area(e.action) == Area.KILLSWITCH and e.subject.startswith(prefix)
        }
    )


def status_json(ledger) -> dict:
    """``killswitch status --json``: the workspace-wide switch's fields (shared/DESIGN.md)
    and ``strategies``, each strategy's own switch by name."""
    return {
        **status(ledger).to_json(),
        "strategies": {name: status(ledger, name).to_json() for name in strategies(ledger)},
    }


def _append(target, tx, action: str, signer, payload: dict, subject: str = Subject.KILLSWITCH):
    """Append in ``tx`` the signed act of ``signer``, or (``signer`` None) an automatic
    entry of ``alphagate``, through ``RunContext.record`` when given one (``flow_run_id``)."""
    if signer is not None:
        return tx.append(
            action, actor=signer.name, role=signer.role, subject=subject,
            payload={**payload, **signer.signed_payload(action, payload, subject=subject)},
        )  # fmt: skip
    if isinstance(target, RunContext):
        import dataclasses

        payload = {**payload, "policy_hash": target.policy_hash}
        system = dataclasses.replace(target, actor=SYSTEM_ACTOR, role="system", signer=None)
        return system.record(action, subject=subject, payload=payload, tx=tx)
    return tx.append(action, actor=SYSTEM_ACTOR, role="system", subject=subject, payload=payload)


def record_if_armed(
    ctx, action: str, *, subject: str = "", payload=None, artifacts=None, strategy=None
):
    """Record ``action`` through ``ctx`` (a ``RunContext``) only while the switch that
    governs ``strategy`` (:func:`effective`; None: the workspace-wide one) is armed.

    The check and the append are one transaction: a trip recorded before this commits
    prevents the entry; a later trip applies to the next run. Returns the entry, or None
    when the switch is tripped (nothing recorded).
    """
    with ctx.ledger.transaction() as tx:
        if effective(tx, strategy).tripped:
            return None
        return ctx.record(action, subject=subject, payload=payload, artifacts=artifacts, tx=tx)


def trip(
    target,
    signer,
    reason: str,
    trigger: Trigger | str | None = None,
    *,
    evidence: dict | None = None,
    strategy: str | None = None,
) -> KillSwitchState:
    """Trip the switch (workspace-wide, or ``strategy``'s own); return its new state.

    Parameters
    ----------
    target : Ledger or RunContext
    signer : governance.identity.signing.Signer or None
        A risk officer or developer, who signs the trip; None for an automatic trip (actor
        ``alphagate``), which must name its ``trigger``.
    reason : str
        Why; required.
    trigger : Trigger, optional
    evidence : dict, optional
        Facts behind an automatic trip (gate reasons, breach values, hashes).
    strategy : str, optional
        Trip only this strategy's switch (default: the workspace-wide one).
    """
    if not reason or not reason.strip():
        raise InputError("killswitch trip: --reason: required")
    if signer is None and trigger is None:
        raise InputError("killswitch trip: an automatic trip must name its trigger")
    if signer is not None:
        require(Act.TRIP, signer)
    payload = {
        "reason": reason,
        "trigger": Trigger(trigger or Trigger.MANUAL).value,
        "evidence": evidence or {},
    }
    if strategy is not None:
        payload["strategy"] = strategy
    with _ledger_of(target).transaction() as tx:
        _append(
            target, tx, Action.KILLSWITCH_TRIPPED, signer, payload, Subject.killswitch(strategy)
        )
        return status(tx, strategy)


def auto_trip(
    target,
    tier,
    trigger: Trigger | str,
    reason: str,
    evidence: dict | None = None,
    *,
    strategy: str | None = None,
):
    """Trip automatically (actor ``alphagate``) when ``tier.kill_switch`` enables ``trigger``;
    ``strategy``: that strategy's switch only (what the flows' automatic trips use).

    Returns the new :class:`KillSwitchState`, or None when the policy disables the trigger.
    """
    trigger = Trigger(trigger)
    if not getattr(tier.kill_switch, f"trip_on_{trigger.value}"):
        return None
    return trip(target, None, reason, trigger, evidence=evidence, strategy=strategy)


def _refusal(tx, signer, message: str, extra: dict, subject: str = Subject.KILLSWITCH) -> Forbidden:
    tx.append(
        Action.KILLSWITCH_RESET_REFUSED,
        actor=signer.name,
        role=signer.role,
        subject=subject,
        payload={"refusal": message, **extra},
    )
    return Forbidden(message)


def reset(
    ledger,
    signer,
    reason: str,
    incident: str | None,
    tier,
    *,
    champion_developer: str | None = None,
    strategy: str | None = None,
) -> KillSwitchState:
    """Ask for, or complete, a reset of a tripped switch (workspace-wide, or ``strategy``'s
    own); return its new state.

    The first of ``tier.kill_switch.reset_approvals`` distinct risk officers records
    ``killswitch.reset_pending``; the last records ``killswitch.reset`` (armed again). The
    state is read and the entry appended in one ledger transaction.

    ``signer`` (a proven :class:`~governance.identity.signing.Signer`) signs the step, naming the trip
    it resets (``trip_seq``).

    Raises
    ------
    Forbidden
        Not a risk officer, the champion's developer, or an officer already on the pending
        reset (recorded as ``killswitch.reset_refused``).
    InputError
        The switch is armed, or the reason / incident reference is missing.
    """
    ledger = _ledger_of(ledger)
    with ledger.transaction() as tx:
        refused = _reset_in(tx, signer, reason, incident, tier, champion_developer, strategy)
        state = status(tx, strategy)
    if refused is not None:  # raised after the refusal's entry is committed
        raise refused
    return state


def _reset_in(
    tx, signer, reason, incident, tier, champion_developer, strategy=None
) -> Forbidden | None:
    policy = tier.kill_switch
    subject = Subject.killswitch(strategy)
    extra = {"reason": reason, "incident": incident}
    if strategy is not None:
        extra["strategy"] = strategy
    refusal = duty_refusal(
        Act.RESET, signer.name, signer.role, developer=champion_developer, subject="the champion"
    )
    if refusal:
        return _refusal(tx, signer, refusal, extra, subject)
    current = status(tx, strategy)
    if not current.tripped:
        which = "the kill switch" if strategy is None else f"{strategy!r}'s kill switch"
        raise InputError(f"killswitch reset: {which} is armed; nothing to reset")
    if not reason or not reason.strip():
        raise InputError("killswitch reset: --reason: required")
    if policy.reset_requires_incident and not (incident and incident.strip()):
        raise InputError("killswitch reset: --incident: required by the policy")
    pending = current.pending_reset or {"officers": []}
    refusal = duty_refusal(
        Act.RESET, signer.name, signer.role, already=pending["officers"], subject="this trip"
    )
    if refusal:
        return _refusal(tx, signer, refusal, extra, subject)
    officers = [*pending["officers"], signer.name]
    rule = reset_rule(tx, load_registry(tx), strategy)  # the adopted policy now, not the caller's
    needed = max(policy.reset_approvals, pending.get("needed") or 0, *(n for _, n in rule[-1:]))
    payload = {**extra, "needed": needed, "officers": officers, "trip_seq": current.seq}
    action = Action.KILLSWITCH_RESET if len(officers) >= needed else Action.KILLSWITCH_RESET_PENDING
    _append(None, tx, action, signer, payload, subject)
    return None
