"""Who owns a model and when they last attested it: read from the signed documents alone.

The acts are :func:`governance.decisions.stewardship.set_owner` (``model.owner_set``) and
:func:`governance.decisions.stewardship.attest` (``model.attested``); this is their one
reader (the inventory, ``status`` and MLflow read it; SS1/23 principle 1, SR 26-2 "model
inventory").

An owner record counts when its entry is a valid signed act of a risk officer at the time
(governance/identity/users.py ``act_problems``: signature, key and role at the time, the
entry bound to its document, each document once), its document is for this model, and
neither its signer nor the owner it names developed a version of the model (a signer of a
valid ``model.trained`` entry of the strategy). The latest valid record is the one in force.

An attestation counts when it is a valid signed act, its signer is the owner named by the
record in force at that moment and its document names that record's seq (``owner_seq``): an
attestation made for a superseded owner, or replayed after the owner changed, attests
nothing. It stands for the tier's ``inventory.attestation_days``; after that the model's
attestation is ``overdue``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from governance.ground.vocabulary import Action, Subject
from governance.identity.duties import ROLES, Act
from governance.identity.users import Registry, load_registry, valid_acts

__all__ = [
    "ATTEST_KIND",
    "OWNER_KIND",
    "Attestation",
    "OwnerRecord",
    "attestation_status",
    "attestations",
    "model_developers",
    "owner_records",
]

OWNER_KIND = "alphagate.model-owner/1"
ATTEST_KIND = "alphagate.attestation/1"


@dataclass(frozen=True)
class OwnerRecord:
    """The owner named by one valid ``model.owner_set`` document."""

    owner: str
    smf: str
    purpose: str
    users: str
    set_by: str
    seq: int
    day: str

    def to_json(self) -> dict:
        return {"owner": self.owner, "smf": self.smf, "purpose": self.purpose,
                "users": self.users, "set_by": self.set_by, "seq": self.seq,
                "date": self.day}  # fmt: skip


@dataclass(frozen=True)
class Attestation:
    """One valid ``model.attested`` document."""

    by: str
    seq: int
    day: dt.date
    owner_seq: int
    attests: tuple[str, ...]


def model_developers(ledger, name: str, registry: Registry | None = None) -> set[str]:
    """Signers of the valid signed ``model.trained`` entries of strategy ``name``."""
    registry = registry or load_registry(ledger)
    entries = ledger.entries(action=Action.MODEL_TRAINED, subject=Subject.strategy(name))
    return {e.actor for e in valid_acts(registry, entries, ROLES[Act.DEVELOP])}


def _doc(entry, kind: str, action: str, name: str) -> dict | None:
    doc = (entry.payload or {}).get("signed") or {}
    ok = doc.get("kind") == kind and doc.get("act") == action and doc.get("model_name") == name
    return doc if ok else None


def owner_records(ledger, name: str, registry: Registry | None = None) -> list[OwnerRecord]:
    """The valid owner records of model ``name``, in seq order (the last is in force)."""
    registry = registry or load_registry(ledger)
    developers = model_developers(ledger, name, registry)
    entries = ledger.entries(action=Action.MODEL_OWNER_SET, subject=Subject.model(name))
    out = []
    for e in valid_acts(registry, entries, ROLES[Act.SET_OWNER]):
        doc = _doc(e, OWNER_KIND, Action.MODEL_OWNER_SET, name)
        if doc is None or e.actor in developers or doc.get("owner") in developers:
            continue
        out.append(OwnerRecord(
            owner=str(doc.get("owner")), smf=str(doc.get("smf")),
            purpose=str(doc.get("purpose")), users=str(doc.get("users")),
            set_by=e.actor, seq=e.seq, day=str(doc.get("time", ""))[:10],
        ))  # fmt: skip
    return out


def _in_force(records: list[OwnerRecord], seq: int) -> OwnerRecord | None:
    before = [r for r in records if r.seq < seq]
    return before[-1] if before else None


def attestations(ledger, name: str, registry: Registry | None = None) -> list[Attestation]:
    """The valid attestations of model ``name``, in seq order."""
    registry = registry or load_registry(ledger)
    records = owner_records(ledger, name, registry)
    developers = model_developers(ledger, name, registry)
    entries = ledger.entries(action=Action.MODEL_ATTESTED, subject=Subject.model(name))
    out = []
    for e in valid_acts(registry, entries, ROLES[Act.ATTEST]):
        doc = _doc(e, ATTEST_KIND, Action.MODEL_ATTESTED, name)
        owner = _in_force(records, e.seq)
        if doc is None or owner is None or e.actor in developers:
            continue
        if e.actor != owner.owner or doc.get("owner_seq") != owner.seq:
            continue
        try:
            day = dt.date.fromisoformat(str(doc.get("time", ""))[:10])
        except ValueError:
            continue
        out.append(Attestation(e.actor, e.seq, day, owner.seq, tuple(doc.get("attests") or ())))
    return out


def attestation_status(ledger, name: str, days: int, day: dt.date, registry=None) -> dict:
    """``{status, owner, last, due, by, seq}``: ``no_owner``, ``never`` (an owner, no
    attestation by them), ``current`` or ``overdue`` (the last is older than ``days``)."""
    registry = registry or load_registry(ledger)
    records = owner_records(ledger, name, registry)
    if not records:
        return {"status": "no_owner", "owner": None, "last": None, "due": None, "by": None,
                "seq": None}  # fmt: skip
    owner = records[-1]
    mine = [a for a in attestations(ledger, name, registry) if a.owner_seq == owner.seq]
    if not mine:
        return {"status": "never", "owner": owner.owner, "last": None,
                "due": owner.day or None, "by": None, "seq": None}  # fmt: skip
    last = mine[-1]
    due = last.day + dt.timedelta(days=days)
    return {
        "status": "current" if day <= due else "overdue",
        "owner": owner.owner,
        "last": last.day.isoformat(),
        "due": due.isoformat(),
        "by": last.by,
        "seq": last.seq,
    }
