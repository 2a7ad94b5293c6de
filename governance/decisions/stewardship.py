"""The inventory of record's signed acts: naming a model's owner, and the owner's attestation.

``alphagate models owner --model NAME --owner USER --smf NAME --purpose TEXT --users TEXT``:
a risk officer who developed no version of the model signs an owner document
(:data:`governance.registry.stewardship.OWNER_KIND`: the model, the owner — an enrolled risk
officer who developed none of it either —, the accountable senior manager (SS1/23's SMF),
the purpose and users, the policy in force and the ledger head it answers), recorded as
``model.owner_set`` (subject ``model:<name>``).

``alphagate models attest --model NAME``: the owner in force signs what they attest (the
fixed statements of :data:`STATEMENTS` and the facts they looked at: the champion version,
the open findings, the overlays and restrictions in force), naming the owner record it
answers (``owner_seq``); recorded as ``model.attested``. The tier's
``inventory.attestation_days`` says how long it stands (governance/registry/stewardship.py).

Every refusal (wrong role, the model's developer, not the owner in force) is recorded as
``stewardship.refused`` and raises :class:`Forbidden` (exit 4); a model never trained, an
unknown or unfit owner, or missing text is an :class:`InputError` (exit 2).
"""

from __future__ import annotations

import uuid

from governance.ground.errors import Forbidden, InputError
from governance.ground.vocabulary import Action, Subject
from governance.identity.duties import Act, duty_refusal
from governance.identity.signing import Signer, append_signed
from governance.identity.users import Role, load_registry
from governance.log.ledger import Ledger, LedgerEntry
from governance.registry.stewardship import (
    ATTEST_KIND,
    OWNER_KIND,
    model_developers,
    owner_records,
)

__all__ = ["STATEMENTS", "attest", "flag_overdue_attestation", "set_owner"]

#: What an owner attests, each time (SS1/23 principle 1.3, SR 26-2 "model owner").
STATEMENTS = (
    "the model is used only for the purpose and by the users recorded",
    "its restrictions of use and post-model adjustments in force are known and appropriate",
    "its open findings and their remediation are known",
    "the inventory record (owner, accountable senior manager, dependencies) is accurate",
)


def _refuse(ledger: Ledger, name: str, signer: Signer, act: Act, message: str) -> Forbidden:
    ledger.append(
        Action.STEWARDSHIP_REFUSED, actor=signer.name, role=signer.role,
        subject=Subject.model(name), payload={"model_name": name, "act": act.value,
                                              "refusal": message},
    )  # fmt: skip
    return Forbidden(message)


def _developers(ledger: Ledger, name: str, registry) -> set[str]:
    developers = model_developers(ledger, name, registry)
    if not developers:
        raise InputError(f"--model {name}: no signed training of this model (alphagate run)")
    return developers


def _check(ledger, name, signer, act: Act, developers: set[str]) -> None:
    dev = signer.name if signer.name in developers else None
    refusal = duty_refusal(act, signer.name, signer.role, developer=dev, subject=name)
    if refusal:
        raise _refuse(ledger, name, signer, act, refusal)


def _text(value: str | None, flag: str) -> str:
    if not value or not value.strip():
        raise InputError(f"models owner: {flag}: required")
    return value.strip()


def set_owner(
    ledger: Ledger,
    name: str,
    signer: Signer,
    *,
    owner: str,
    smf: str,
    purpose: str,
    users: str,
    policy_hash: str | None,
) -> LedgerEntry:
    """Sign and record ``owner`` as the owner of model ``name`` (module docstring)."""
    registry = load_registry(ledger)
    developers = _developers(ledger, name, registry)
    _check(ledger, name, signer, Act.SET_OWNER, developers)
    smf, purpose, users = _text(smf, "--smf"), _text(purpose, "--purpose"), _text(users, "--users")
    named = registry.at(owner)
    if named is None or named.role != Role.RISK_OFFICER:
        held = "not an enrolled user" if named is None else f"has role {named.role}"
        raise InputError(f"models owner: --owner {owner!r} {held}; an owner is a risk officer")
    if owner in developers:
        raise _refuse(ledger, name, signer, Act.SET_OWNER,
                      f"models owner: {owner!r} developed {name} and may not own it"
                      " (separation of duties)")  # fmt: skip
    head = ledger.head()
    doc = {
        "kind": OWNER_KIND, "model_name": name, "owner": owner, "smf": smf,
        "purpose": purpose, "users": users, "policy_hash": policy_hash,
        "answers": {"seq": head[0], "hash": head[1]}, "id": uuid.uuid4().hex,
    }  # fmt: skip
    return append_signed(ledger, signer, Action.MODEL_OWNER_SET, subject=Subject.model(name),
                         payload=doc)  # fmt: skip


def attest(
    ledger: Ledger, name: str, signer: Signer, *, facts: dict, policy_hash: str | None
) -> LedgerEntry:
    """Sign and record the owner's attestation of model ``name``.

    ``facts`` are what the owner looked at (champion version, open findings, overlays in
    force), signed with the statements.
    """
    registry = load_registry(ledger)
    developers = _developers(ledger, name, registry)
    _check(ledger, name, signer, Act.ATTEST, developers)
    records = owner_records(ledger, name, registry)
    if not records or records[-1].owner != signer.name:
        who = records[-1].owner if records else "nobody (models owner first)"
        raise _refuse(ledger, name, signer, Act.ATTEST,
                      f"models attest: {signer.name!r} is not the owner of {name} in force"
                      f" ({who})")  # fmt: skip
    head = ledger.head()
    doc = {
        "kind": ATTEST_KIND, "model_name": name, "owner_seq": records[-1].seq,
        "attests": list(STATEMENTS), "facts": facts, "policy_hash": policy_hash,
        "answers": {"seq": head[0], "hash": head[1]}, "id": uuid.uuid4().hex,
    }  # fmt: skip
    return append_signed(ledger, signer, Action.MODEL_ATTESTED, subject=Subject.model(name),
                         payload=doc)  # fmt: skip


def flag_overdue_attestation(ledger, name: str, tier, day=None) -> list:
    """``attestation_overdue`` (a warning, origin ``attestation``) on ``name``'s champion when
    its owner's last attestation is older than the tier's ``inventory.attestation_days``,
    once while it stands (governance/findings/escalation.py); the findings raised now.

    Only ``overdue`` raises: a model with no owner or never attested shows so in the
    inventory, and an owner attests at will."""
    from governance.findings.escalation import finding, raise_once
    from governance.findings.register import today
    from governance.registry.champion import champion
    from governance.registry.stewardship import attestation_status

    promoted = champion(ledger, name)
    days = tier.inventory.attestation_days
    status = attestation_status(ledger, name, days, day or today())
    if promoted is None or status["status"] != "overdue":
        return []
    found = finding(
        "attestation_overdue",
        f"{name}: the owner {status['owner']}'s last attestation ({status['last']}) was due"
        f" again by {status['due']} (every {days} days)",
        about=str(status["owner"]),
    )
    return raise_once(ledger, promoted.ref, [found], origin="attestation",
                      evidence={"attestation_seq": status["seq"]})  # fmt: skip
