"""Separation of duties: which role may do which act, and who may never do it.

One rule, :func:`duty_refusal`, serves validation, approvals (command line and Prefect
form), kill-switch trips and resets, enrolment and policy adoption; ``ledger verify`` checks
recorded acts against the same table (:data:`ROLES`).

- The developer of a version (the signer of its ``model.trained`` entry) never validates,
  approves or rejects it, and never resets a switch while their model is the champion.
- The developer never retires their own version (governance/decisions/retirement.py), never
  names the owner of a model they developed, attests it or signs an overlay on it.
- Nobody gives the same approval or reset step twice: a second, distinct person must.
- ``admin`` enrols, revokes and changes roles and does nothing else; nobody else enrols.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from governance.ground.errors import Forbidden
from governance.ground.vocabulary import Action
from governance.identity.users import Registry, Role, load_registry, valid_acts
from governance.log.ledger import Ledger


class Act(StrEnum):
    """Human acts that need a role."""

    DEVELOP = "develop"
    VALIDATE = "validate"
    APPROVE = "approve"
    REJECT = "reject"
    TRIP = "killswitch trip"
    RESET = "killswitch reset"
    ENROL = "users"
    ADOPT_POLICY = "policy adopt"
    ACCEPT_FINDING = "findings accept"
    RETIRE = "retire"
    SET_OWNER = "models owner"
    ATTEST = "models attest"
    OVERLAY = "overlay"
    ASSIGN_FINDING = "findings assign"
    DISPOSE = "archive dispose"


ROLES: dict[Act, frozenset[Role]] = {
    Act.DEVELOP: frozenset({Role.DEVELOPER}),
    Act.VALIDATE: frozenset({Role.VALIDATOR}),
    Act.APPROVE: frozenset({Role.VALIDATOR, Role.RISK_OFFICER}),
    Act.REJECT: frozenset({Role.VALIDATOR, Role.RISK_OFFICER}),
    Act.TRIP: frozenset({Role.RISK_OFFICER, Role.DEVELOPER}),
    Act.RESET: frozenset({Role.RISK_OFFICER}),
    Act.ENROL: frozenset({Role.ADMIN}),
    Act.ADOPT_POLICY: frozenset({Role.RISK_OFFICER}),
    # the tier's validation.acceptance.role narrows this (governance/findings/accept.py)
    Act.ACCEPT_FINDING: frozenset({Role.RISK_OFFICER, Role.VALIDATOR}),
    # a retirement ends a version's use (governance/decisions/retirement.py)
    Act.RETIRE: frozenset({Role.RISK_OFFICER}),
    # the inventory of record: an officer names the owner; the named owner attests
    # (governance/decisions/stewardship.py)
    Act.SET_OWNER: frozenset({Role.RISK_OFFICER}),
    Act.ATTEST: frozenset({Role.RISK_OFFICER}),
    # post-model adjustments and restrictions of use (governance/decisions/overlays.py)
    # the tier's overlays.role narrows this
    Act.OVERLAY: frozenset({Role.RISK_OFFICER, Role.VALIDATOR}),
    # a finding's owner, due date and plan (governance/findings/owners.py)
    Act.ASSIGN_FINDING: frozenset({Role.RISK_OFFICER, Role.VALIDATOR}),
    # disposal of an archive past its retention (governance/evidence/disposal.py); the
    # policy's records.dispose_role narrows this
    Act.DISPOSE: frozenset({Role.RISK_OFFICER, Role.VALIDATOR}),
}

_PAST = {
    Act.APPROVE: "approved",
    Act.REJECT: "rejected",
    Act.RESET: "asked for the reset of",
    Act.ADOPT_POLICY: "signed the adoption of",
}

#: Acts the developer of the thing decided on may not take.
_NOT_BY_DEVELOPER = {
    Act.VALIDATE, Act.APPROVE, Act.REJECT, Act.RESET, Act.RETIRE, Act.SET_OWNER, Act.ATTEST,
    Act.OVERLAY, Act.ASSIGN_FINDING,
}  # fmt: skip


def duty_refusal(
    act: Act,
    user: str | None,
    role: str | Role | None,
    *,
    developer: str | None = None,
    already: Iterable[str] = (),
    subject: str = "",
) -> str | None:
    """Why ``user`` (with ``role``) may not take ``act`` on ``subject``, or None.

    Parameters
    ----------
    act : Act
    user, role : str
        The acting user and their role at the time (None: unknown user).
    developer : str, optional
        The developer of the model concerned (for a reset: of the champion).
    already : iterable of str
        Users who already gave this act on the same subject (approvals, reset steps).
    subject : str
        What is decided on, for the message (``alphagate-demo v3``).
    """
    what = f" {subject}" if subject else ""
    if not user:
        return f"{act}: needs an acting user (--as USER --key FILE)"
    if role is None:
        return f"{act}: unknown user {user!r}"
    if act in _NOT_BY_DEVELOPER and developer is not None and user == developer:
        return (
            f"{act}: {user!r} developed{what or ' it'} and may not {act.value.split()[-1]} it"
            " (separation of duties)"
        )
    allowed = ROLES[act]
    if Role(role) not in allowed:
        need = "/".join(sorted(r.value for r in allowed))
        return f"{act}: {user!r} has role {Role(role).value}, needs {need}"
    if user in set(already):
        done = _PAST.get(act, f"took {act.value} on")
        return f"{act}: {user!r} already {done}{what or ' it'}; a distinct second person must"
    return None


def require(act: Act, signer, **kw) -> None:
    """:class:`Forbidden` with :func:`duty_refusal`'s reason when ``signer`` may not act."""
    reason = duty_refusal(act, signer.name, signer.role, **kw)
    if reason:
        raise Forbidden(reason)


def developer_of(ledger: Ledger, run_id: str | None, registry: Registry | None = None):
    """The developer of the model logged by MLflow run ``run_id``: the signer of the valid
    signed ``model.trained`` entry for that run (never an MLflow tag); None when there is
    none, or when several different people signed one."""
    if not run_id:
        return None
    registry = registry or load_registry(ledger)
    signers = {
        e.actor
        for e in valid_acts(
            registry, ledger.entries(action=Action.MODEL_TRAINED), ROLES[Act.DEVELOP]
        )
        if e.payload.get("mlflow_run_id") == run_id
    }
    return next(iter(signers)) if len(signers) == 1 else None
