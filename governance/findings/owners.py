"""Who remediates a finding, by when, and how: a signed assignment (issue 27, SR 26-2
"issue tracking", SS1/23 principle 4).

``alphagate findings assign ID --owner USER --due YYYY-MM-DD --plan TEXT [--retest TEXT]``: a
validator or risk officer who did not develop the version signs an assignment document
(:data:`KIND`: the finding's id and digest — what exactly is assigned —, the owner, an
enrolled user, who may be the developer: remediation is theirs to do —, the due date, the
remediation plan and the retest that will show it done, the policy in force), recorded as
``finding.assigned`` (subject ``model:<name>/v<N>``). The latest valid assignment of a finding
is in force; the register's view (:func:`owners`) adds ``owner``, ``due``, ``plan``,
``retest`` and ``overdue`` (an open finding past its due date) to each finding. ``status``
warns on overdue findings.

A signer who developed the version, a role other than validator or risk officer, a due date
in the past or past the tier's acceptance ``max_days`` is refused, recorded as
``finding.assignment_refused`` (exit 4). Readers count an assignment only when it is a valid
signed act (signature, key and role at the time, bound to its document, each document once)
whose signer did not develop the version and whose digest is the finding's.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from governance.findings.register import FindingRecord, Status, load_register, today
from governance.findings.verdict import latest_validation
from governance.ground.errors import Forbidden, InputError
from governance.ground.vocabulary import Action
from governance.identity.duties import ROLES, Act, developer_of, duty_refusal
from governance.identity.signing import Signer, append_signed
from governance.identity.users import load_registry, valid_acts
from governance.log.ledger import Ledger, LedgerEntry

__all__ = ["KIND", "Assignment", "assign", "owners", "with_owner"]

KIND = "alphagate.finding-owner/1"


@dataclass(frozen=True)
class Assignment:
    """The owner, due date and plan of one finding, as signed."""

    finding_id: str
    owner: str
    due: str
    plan: str
    retest: str | None
    by: str
    seq: int

    def to_json(self, day: dt.date, status: str) -> dict:
        return {"owner": self.owner, "due": self.due, "plan": self.plan,
                "retest": self.retest, "assigned_by": self.by, "assigned_seq": self.seq,
                "overdue": status == Status.OPEN.value and dt.date.fromisoformat(self.due) < day}  # fmt: skip


def _developer(ledger, record: FindingRecord, registry) -> str | None:
    verdict = latest_validation(ledger, record.ref) if record.ref else None
    return developer_of(ledger, verdict.run_id, registry) if verdict and verdict.run_id else None


def _refuse(ledger, record: FindingRecord, signer: Signer, message: str) -> Forbidden:
    ledger.append(
        Action.FINDING_ASSIGNMENT_REFUSED, actor=signer.name, role=signer.role,
        subject=record.ref.subject,
        payload={"finding_id": record.id, "refusal": message},
    )  # fmt: skip
    return Forbidden(message)


def assign(
    ledger: Ledger,
    finding_id: str,
    signer: Signer,
    *,
    owner: str,
    due: str,
    plan: str,
    retest: str | None,
    max_days: int,
    policy_hash: str | None,
    day: dt.date | None = None,
) -> LedgerEntry:
    """Sign and record the assignment of ``finding_id`` (module docstring)."""
    day = day or today()
    registry = load_registry(ledger)
    record = load_register(ledger, as_of=day).require(finding_id)
    if not plan or not plan.strip():
        raise InputError("findings assign: --plan: required")
    try:
        end = dt.date.fromisoformat(due or "")
    except ValueError:
        raise InputError(f"findings assign: --due {due!r}: expected a date YYYY-MM-DD") from None
    if registry.at(owner) is None:
        raise InputError(f"findings assign: --owner {owner!r} is not an enrolled user")
    developer = _developer(ledger, record, registry)
    refusal = duty_refusal(Act.ASSIGN_FINDING, signer.name, signer.role, developer=developer,
                           subject=str(record.ref))  # fmt: skip
    if refusal is None and end < day:
        refusal = f"findings assign: --due {end.isoformat()} has passed (today is {day})"
    if refusal is None and (end - day).days > max_days:
        refusal = (f"findings assign: --due {end.isoformat()} is {(end - day).days} days away;"
                   f" the tier allows at most {max_days}")  # fmt: skip
    if refusal:
        raise _refuse(ledger, record, signer, refusal)
    doc = {
        "kind": KIND, "finding_id": record.id, "finding_digest": record.digest,
        "model_name": record.model_name, "model_version": record.ref.version_text,
        "owner": owner, "due": end.isoformat(), "plan": plan.strip(),
        "retest": retest, "policy_hash": policy_hash, "id": uuid.uuid4().hex,
    }  # fmt: skip
    return append_signed(ledger, signer, Action.FINDING_ASSIGNED,
                         subject=record.ref.subject,
                         payload=doc)  # fmt: skip


def owners(ledger, register=None) -> dict[str, Assignment]:
    """``{finding id: its assignment in force}`` from the valid signed documents."""
    registry = load_registry(ledger)
    register = register or load_register(ledger)
    out: dict[str, Assignment] = {}
    for e in valid_acts(registry, ledger.entries(action=Action.FINDING_ASSIGNED),
                        ROLES[Act.ASSIGN_FINDING]):  # fmt: skip
        doc = e.payload["signed"]
        record = register.get(str(doc.get("finding_id")))
        if doc.get("kind") != KIND or record is None or doc.get("finding_digest") != record.digest:
            continue
        if e.actor == _developer(ledger, record, registry):
            continue
        out[record.id] = Assignment(record.id, str(doc.get("owner")), str(doc.get("due")),
                                    str(doc.get("plan")), doc.get("retest"), e.actor, e.seq)  # fmt: skip
    return out


def with_owner(record: FindingRecord, assigned: dict[str, Assignment], day: dt.date) -> dict:
    """``record.to_json()`` with its owner, due date, plan, retest and ``overdue``."""
    a = assigned.get(record.id)
    extra = (a.to_json(day, record.status.value) if a else
             {"owner": None, "due": None, "plan": None, "retest": None, "overdue": False})  # fmt: skip
    return {**record.to_json(), **extra}
