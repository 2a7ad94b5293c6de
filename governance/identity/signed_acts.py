"""The ``ledger verify`` check that every recorded human decision is a valid signed act.

For each entry of an action in :data:`SIGNED_ACTS`, the signature must verify, by the
entry's actor, with the key that actor had registered *at the time*, in a role allowed for
the act at the time (governance/identity/duties.py), over a document for that very action
(:func:`governance.identity.users.act_problems`). An unsigned entry of such an action is a forgery:
``Ledger.append`` refuses one (:func:`refused_at_append`, installed in the log by
``governance.identity``), but a database administrator writes rows without it, so only the
signature says a person decided.

Also checked: the user entries themselves (the registry fold's refusals) and that the
``users.json`` cache matches the registry.

Exempt: automatic kill-switch trips by ``alphagate`` (they can only make things safer) and
declared (unsigned) Prefect-form answers, which count only where the tier's policy allows
declared identities (governance/decisions/ui_approval.py).
"""

from __future__ import annotations

from types import SimpleNamespace

from governance.ground.vocabulary import SIGNED_ACTIONS, Action, Area, area
from governance.ground.workspace import Workspace
from governance.identity.duties import ROLES, Act
from governance.identity.enrolment import cache_problem
from governance.identity.users import SYSTEM_ACTOR, act_problems, load_registry
from governance.log.bound import install_admission, replayed
from governance.log.chain import VerifyReport

#: Ledger actions that must be signed acts, and the act whose roles they need.
SIGNED_ACTS: dict[str, Act] = {
    Action.MODEL_TRAINED: Act.DEVELOP,
    Action.VALIDATION_COMPLETED: Act.VALIDATE,
    Action.APPROVAL_GRANTED: Act.APPROVE,
    Action.APPROVAL_PAPER: Act.APPROVE,
    Action.APPROVAL_REJECTED: Act.REJECT,
    Action.KILLSWITCH_TRIPPED: Act.TRIP,
    Action.KILLSWITCH_RESET_PENDING: Act.RESET,
    Action.KILLSWITCH_RESET: Act.RESET,
    Action.POLICY_ADOPTION_SIGNED: Act.ADOPT_POLICY,
    Action.POLICY_ADOPTED: Act.ADOPT_POLICY,
    Action.FINDING_ACCEPTANCE_PENDING: Act.ACCEPT_FINDING,
    Action.FINDING_ACCEPTED: Act.ACCEPT_FINDING,
    Action.MODEL_RETIRED: Act.RETIRE,
    Action.MODEL_OWNER_SET: Act.SET_OWNER,
    Action.MODEL_ATTESTED: Act.ATTEST,
    Action.OVERLAY_SIGNED: Act.OVERLAY,
    Action.RESTRICTION_SIGNED: Act.OVERLAY,
    Action.FINDING_ASSIGNED: Act.ASSIGN_FINDING,
    Action.RECORDS_DISPOSED: Act.DISPOSE,
    Action.LOG_KEY_ROTATED: Act.ENROL,  # an admin's act (governance/policy/witnesses.py)
}

assert set(SIGNED_ACTS) == SIGNED_ACTIONS, "SIGNED_ACTS must map every signed action"


def exempt(entry) -> bool:
    """Automatic trips and declared form answers carry no signature by design."""
    p = entry.payload or {}
    if entry.action == Action.KILLSWITCH_TRIPPED and entry.actor == SYSTEM_ACTOR:
        return True
    return area(entry.action) == Area.APPROVAL and p.get("identity") == "declared"


def act_problems_of(registry, entry) -> list[str]:
    """Why ``entry`` is not a valid signed act (empty when it is, or is exempt)."""
    act = SIGNED_ACTS.get(entry.action)
    if act is None or exempt(entry):
        return []
    return act_problems(registry, entry, ROLES[act])


def refused_at_append(tx, action, actor, role, subject, payload) -> list[str]:
    """Why ``Ledger.append`` refuses an entry of a signed action: the rule of
    :func:`act_problems_of` on the registry as the write transaction ``tx`` reads it, for
    the entry about to be appended (the signer enrolled before it, in an allowed role)."""
    if SIGNED_ACTS.get(action) is None:  # most appends: nothing to build
        return []
    entry = SimpleNamespace(seq=tx.size + 1, action=action, actor=actor, role=role,
                            subject=subject, payload=payload)  # fmt: skip
    if exempt(entry):
        return []
    return act_problems_of(load_registry(tx), entry)


install_admission(refused_at_append)


def signed_act_problems(ledger, registry=None, after_seq: int = 0) -> list[tuple[int, str]]:
    """``[(seq, reason)]`` of every signed-act entry after ``after_seq`` that does not hold."""
    registry = registry or load_registry(ledger)
    out = [(seq, why) for seq, why in registry.problems if seq > after_seq]
    acts = ledger.entries(action=tuple(SIGNED_ACTS))
    for seq, first in replayed(acts).items():
        if seq > after_seq:
            out.append((seq, f"seq {seq} replays the signed document of seq {first}"))
    for e in acts:
        problems = act_problems_of(registry, e) if e.seq > after_seq else []
        if problems:
            out.append((e.seq, f"{e.action} seq {e.seq} by {e.actor}: " + "; ".join(problems)))
    return sorted(out)


def signed_acts_hold(ws: Workspace, ledger) -> VerifyReport | None:
    """Workspace check: every decision is a valid signed act; ``users.json`` is the fold."""
    registry = load_registry(ledger)
    problems = signed_act_problems(ledger, registry)
    if problems:
        seq, reason = problems[0]
        return VerifyReport(ok=False, entries=ledger.head()[0], first_bad_seq=seq, reason=reason)
    cached = cache_problem(ws, registry)
    if cached:
        return VerifyReport(ok=False, entries=ledger.head()[0], first_bad_seq=None, reason=cached)
    return None
