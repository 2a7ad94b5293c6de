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

Issue 5: a reset needs two distinct risk officers (policy ``kill_switch.reset_approvals``),
neither the champion's developer, each with a reason and an incident reference.

Trip and reset are compare-and-append: the state is folded and the new entry appended in one
serialised ledger transaction (:meth:`governance.ledger.Ledger.transaction`), so two officers
resetting at once complete exactly one reset, and a trip landing while a reset is decided is
never overridden. A ``killswitch.reset`` counts only when its recorded ``officers`` are the
pending officers plus its own actor (:func:`fold`). :func:`record_if_armed` lets a stage
record its output only while the switch is armed, in the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from governance.context import RunContext
from governance.errors import Forbidden, InputError
from governance.users import SYSTEM_ACTOR, Role, require_role, role_of
from governance.workspace import Workspace

SUBJECT = "killswitch"
TRIPPED = "killswitch.tripped"
RESET_PENDING = "killswitch.reset_pending"
RESET = "killswitch.reset"
RESET_REFUSED = "killswitch.reset_refused"


def subject_for(strategy: str | None = None) -> str:
    """Ledger subject of the workspace-wide switch (None) or of one strategy's."""
    return SUBJECT if strategy is None else f"{SUBJECT}:{strategy}"


class SwitchState(StrEnum):
    ARMED = "armed"
    TRIPPED = "tripped"


class Trigger(StrEnum):
    """Automatic triggers; each maps to a ``kill_switch.trip_on_<value>`` policy flag."""

    DATA_QUALITY_CRITICAL = "data_quality_critical"
    CHAMPION_VALIDATION_FAIL = "champion_validation_fail"
    MONITORING_BREACH = "monitoring_breach"
    OPTIMISER_FAILURE = "optimiser_failure"
    PRETRADE_BREACH = "pretrade_breach"
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


def fold(entries: list) -> KillSwitchState:
    """Fold ``killswitch.*`` ledger entries (in seq order) into the current state."""
    state = KillSwitchState(SwitchState.ARMED)
    for e in entries:
        p = e.payload or {}
        if e.action == TRIPPED:
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
        elif e.action == RESET_PENDING and state.tripped:
            pending = state.pending_reset or {
                "officers": [], "reasons": [], "incidents": [],
                "needed": p.get("needed", 2), "since": e.ts,
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
        elif e.action == RESET and state.tripped and _completes(state, e):
            state = KillSwitchState(
                SwitchState.ARMED, e.ts, e.actor, p.get("reason"), None, None, e.seq
            )
    return state


def _completes(state: KillSwitchState, reset) -> bool:
    """A reset completes the pending one only if it names exactly those officers and itself."""
    pending = (state.pending_reset or {}).get("officers", [])
    return (reset.payload or {}).get("officers") == [*pending, reset.actor]


def _ledger_of(target) -> Any:
    return getattr(target, "ledger", target)


def status(ledger, strategy: str | None = None) -> KillSwitchState:
    """Current :class:`KillSwitchState` of one level, the workspace-wide switch (None) or
    ``strategy``'s own, of a ledger, a ``RunContext`` or a ledger transaction."""
    ledger = _ledger_of(ledger)
    subject = subject_for(strategy)
    entries = [e for e in ledger.entries(subject=subject) if e.action.startswith("killswitch.")]
    return fold(sorted(entries, key=lambda e: e.seq))


def effective(ledger, strategy: str | None) -> KillSwitchState:
    """The switch that governs ``strategy``: the workspace-wide one when it is tripped,
    else the strategy's own (None: the workspace-wide one)."""
    above = status(ledger)
    return above if above.tripped or strategy is None else status(ledger, strategy)


def strategies(ledger) -> list[str]:
    """Strategies with a switch of their own (any ``killswitch:<strategy>`` entry), sorted."""
    prefix = f"{SUBJECT}:"
    return sorted(
        {
            e.subject.removeprefix(prefix)
            for e in _ledger_of(ledger).entries()
            if e.action.startswith("killswitch.") and e.subject.startswith(prefix)
        }
    )


def status_json(ledger) -> dict:
    """``killswitch status --json``: the workspace-wide switch's fields (shared/DESIGN.md)
    and ``strategies``, each strategy's own switch by name."""
    return {
        **status(ledger).to_json(),
        "strategies": {name: status(ledger, name).to_json() for name in strategies(ledger)},
    }


def _append(target, tx, action: str, actor: str, role: str, payload: dict, subject: str = SUBJECT):
    """Append in ``tx``; through ``RunContext.record`` when given one (adds ``flow_run_id``)."""
    if isinstance(target, RunContext):
        payload = {**payload, "policy_hash": target.policy_hash}
        return target.record(action, subject=subject, payload=payload, tx=tx)
    return tx.append(action, actor=actor, role=role, subject=subject, payload=payload)


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
    user: str,
    reason: str,
    trigger: Trigger | str | None = None,
    *,
    ws: Workspace | None = None,
    evidence: dict | None = None,
    strategy: str | None = None,
) -> KillSwitchState:
    """Trip the switch (workspace-wide, or ``strategy``'s own); return its new state.

    Parameters
    ----------
    target : Ledger or RunContext
    user : str
        A risk officer or developer (by hand), or ``"alphagate"`` for an automatic trip,
        which must name its ``trigger``.
    reason : str
        Why; required.
    trigger : Trigger, optional
    ws : Workspace, optional
        Where users live (default: ``target.ws`` or ``ALPHAGATE_HOME``).
    evidence : dict, optional
        Facts behind an automatic trip (gate reasons, breach values, hashes).
    strategy : str, optional
        Trip only this strategy's switch (default: the workspace-wide one).
    """
    if not reason or not reason.strip():
        raise InputError("killswitch trip: --reason: required")
    if user == SYSTEM_ACTOR:
        if trigger is None:
            raise InputError("killswitch trip: an automatic trip must name its trigger")
        role = "system"
    else:
        ws = ws or getattr(target, "ws", None) or Workspace.from_env()
        acting = require_role(ws, user, {Role.RISK_OFFICER, Role.DEVELOPER}, "killswitch trip")
        role = acting.role.value
    payload = {
        "reason": reason,
        "trigger": Trigger(trigger or Trigger.MANUAL).value,
        "evidence": evidence or {},
    }
    if strategy is not None:
        payload["strategy"] = strategy
    with _ledger_of(target).transaction() as tx:
        _append(target, tx, TRIPPED, user, role, payload, subject_for(strategy))
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
    return trip(target, SYSTEM_ACTOR, reason, trigger, evidence=evidence, strategy=strategy)


def _refusal(
    ws, tx, user: str | None, message: str, extra: dict, subject: str = SUBJECT
) -> Forbidden:
    tx.append(
        RESET_REFUSED,
        actor=user or "<none>",
        role=role_of(ws, user),
        subject=subject,
        payload={"refusal": message, **extra},
    )
    return Forbidden(message)


def reset(
    ledger,
    ws: Workspace,
    user: str | None,
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
        refused = _reset_in(tx, ws, user, reason, incident, tier, champion_developer, strategy)
        state = status(tx, strategy)
    if refused is not None:  # raised after the refusal's entry is committed
        raise refused
    return state


def _reset_in(
    tx, ws, user, reason, incident, tier, champion_developer, strategy=None
) -> Forbidden | None:
    policy = tier.kill_switch
    subject = subject_for(strategy)
    extra = {"reason": reason, "incident": incident}
    if strategy is not None:
        extra["strategy"] = strategy
    try:
        officer = require_role(ws, user, {Role.RISK_OFFICER}, "killswitch reset")
    except Forbidden as exc:
        return _refusal(ws, tx, user, str(exc), extra, subject)
    if champion_developer is not None and officer.name == champion_developer:
        msg = f"killswitch reset: {officer.name!r} developed the champion and may not reset"
        return _refusal(ws, tx, user, msg, extra, subject)
    current = status(tx, strategy)
    if not current.tripped:
        which = "the kill switch" if strategy is None else f"{strategy!r}'s kill switch"
        raise InputError(f"killswitch reset: {which} is armed; nothing to reset")
    if not reason or not reason.strip():
        raise InputError("killswitch reset: --reason: required")
    if policy.reset_requires_incident and not (incident and incident.strip()):
        raise InputError("killswitch reset: --incident: required by the policy")
    pending = current.pending_reset or {"officers": []}
    if officer.name in pending["officers"]:
        msg = (
            f"killswitch reset: {officer.name!r} already asked for this reset; a second,"
            " distinct risk officer must complete it"
        )
        return _refusal(ws, tx, user, msg, extra, subject)
    officers = [*pending["officers"], officer.name]
    payload = {**extra, "needed": policy.reset_approvals, "officers": officers}
    action = RESET if len(officers) >= policy.reset_approvals else RESET_PENDING
    tx.append(action, actor=officer.name, role=officer.role.value, subject=subject, payload=payload)
    return None
