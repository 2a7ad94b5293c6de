"""The findings register: every validation finding as a record, folded from the ledger.

Like the kill switch, the register has no file of its own: :func:`fold` derives it from
ledger entries (pure: entries and a date in, records out), so its history is tamper-evident
and travels in every evidence pack. Entries folded (subject ``model:<name>/v<N>``):

- ``validation.completed``: each finding of its payload (``id``, ``check``, ``about``,
  ``severity``, ``message``, ``value``, ``threshold``) is opened or raised again; findings
  that an earlier validation of the same version raised and this one does not: remediated.
- ``finding.raised``: a finding the model's use raised (a monitoring warning, an input
  outside the validated domain: governance/findings/escalation.py), same fields plus
  ``origin``; no validation remediates it (it stays until accepted).
- ``finding.acceptance_pending``: a risk officer signed an acceptance that needs more
  distinct signatures (policy ``validation.acceptance.signatures``).
- ``finding.accepted``: the last signature; the finding is accepted until ``until``.
- ``finding.expired``: monitoring recorded that an acceptance has passed its date.
- ``finding.acceptance_refused``: a refused acceptance (exit 4); it changes nothing.

A finding's id ``F-<model>-v<N>-<n>`` numbers the findings of one model version in the
order they were first raised; a revalidation that raises the same check about the same thing
(``check`` + ``about``) keeps the id. Its **digest** is the SHA-256 of the canonical JSON of
what was found (:func:`finding_digest`); an acceptance signs it, and covers the finding only
while the finding raised is the one accepted.

State machine (:func:`step`)::

    open ──accept (all signatures)──► accepted ──its date passes──► expired
      ▲                                   │                            │
      └── raised again, other digest ─────┴───────── accept again ◄────┘
    open | accepted | expired ──a revalidation does not raise it──► remediated ──raised again──► open
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from enum import StrEnum

from governance.ground.canonical import sha256_json
from governance.ground.errors import InputError
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from governance.identity.duties import ROLES, Act
from governance.identity.signing import verify_signed_record
from governance.identity.users import act_problems, load_registry, valid_acts
from governance.log.bound import once
from governance.policy.schema import Severity

#: The actions folded, in the order a reader meets them.
ACTIONS = (Action.VALIDATION_COMPLETED, Action.FINDING_RAISED, Action.FINDING_ACCEPTANCE_PENDING,
           Action.FINDING_ACCEPTED, Action.FINDING_EXPIRED)  # fmt: skip
ACCEPTANCE_KIND = "alphagate.finding-acceptance/1"
_ID_RE = re.compile(r"^F-(?P<model>.+)-v(?P<version>\d+)-(?P<n>\d+)$")


class Status(StrEnum):
    """Where a finding stands."""

    OPEN = "open"
    ACCEPTED = "accepted"
    REMEDIATED = "remediated"
    EXPIRED = "expired"


def finding_id(ref: ModelRef, n: int) -> str:
    """``F-<model>-v<N>-<n>``."""
    return f"F-{ref.name}-v{ref.version}-{n}"


def parse_finding_id(value: str) -> tuple[str, str, int]:
    """``(model_name, version, n)`` of a finding id; anything else is an :class:`InputError`."""
    m = _ID_RE.match(value or "")
    if m is None:
        raise InputError(f"finding id {value!r}: expected F-<model>-v<N>-<n>")
    return m["model"], m["version"], int(m["n"])


@dataclass(frozen=True)
class Acceptance:
    """A completed (or pending) acceptance: who signed, why, until when, what digest."""

    signers: tuple[str, ...]
    reason: str
    until: str
    digest: str
    control: str | None = None
    seq: int | None = None
    time: str | None = None
    tier: str | None = None  # the policy tier it was signed under (governance/policy/tiers.py)

    def to_json(self) -> dict:
        return {**asdict(self), "signers": list(self.signers)}


@dataclass(frozen=True)
class FindingRecord:
    """One finding of the register.

    ``created``/``validator``/``first_seq`` describe the validation that first raised it;
    ``validation_seq`` the latest one that raised it; ``acceptance`` the latest acceptance
    (kept after expiry or a re-raise, for the history); ``pending`` the signers of an
    acceptance still short of signatures.
    """

    id: str
    model_name: str
    model_version: int
    number: int
    check: str
    about: str
    severity: Severity
    message: str
    value: float | None
    threshold: float | None
    validator: str | None
    created: str
    first_seq: int
    validation_seq: int
    status: Status = Status.OPEN
    acceptance: Acceptance | None = None
    pending: Acceptance | None = None
    remediated_seq: int | None = None
    origin: str = "validation"  # or what raised it in use: monitoring, boundary (escalation)

    @property
    def key(self) -> str:
        return f"{self.check}:{self.about}"

    @property
    def ref(self) -> ModelRef:
        return ModelRef(self.model_name, self.model_version)

    @property
    def digest(self) -> str:
        return finding_digest(self)

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "model_name": self.model_name,
            "model_version": self.ref.version_text,  # as recorded (a string)
            "check": self.check,
            "about": self.about,
            "severity": self.severity.value,
            "message": self.message,
            "value": self.value,
            "threshold": self.threshold,
            "validator": self.validator,
            "created": self.created,
            "validation_seq": self.validation_seq,
            "status": self.status.value,
            "digest": self.digest,
            "acceptance": self.acceptance.to_json() if self.acceptance else None,
            "pending": self.pending.to_json() if self.pending else None,
            "remediated_seq": self.remediated_seq,
            "origin": self.origin,
        }


def finding_digest(record: FindingRecord) -> str:
    """SHA-256 of what was found: id, model version, check, severity, message, numbers."""
    return sha256_json(
        {
            "id": record.id,
            "model_name": record.model_name,
            "model_version": record.ref.version_text,
            "check": record.check,
            "about": record.about,
            "severity": record.severity.value,
            "message": record.message,
            "value": record.value,
            "threshold": record.threshold,
        }
    )


@dataclass(frozen=True)
class Register:
    """Every finding, by id, as of a date."""

    records: tuple[FindingRecord, ...] = ()
    as_of: str | None = None

    def get(self, fid: str) -> FindingRecord | None:
        return next((r for r in self.records if r.id == fid), None)

    def require(self, fid: str) -> FindingRecord:
        """The record of ``fid``; an unknown id is an :class:`InputError` (exit 2)."""
        parse_finding_id(fid)
        record = self.get(fid)
        if record is None:
            raise InputError(f"finding {fid}: no such finding in the register")
        return record

    def of_version(self, ref: ModelRef) -> list[FindingRecord]:
        return [r for r in self.records if r.ref == ref]

    def raised_by(self, seq: int) -> list[FindingRecord]:
        """The findings the validation entry ``seq`` raised (remediated ones excluded)."""
        return [r for r in self.records if r.validation_seq == seq and r.status != "remediated"]

    def select(
        self,
        *,
        model_name: str | None = None,
        ref: ModelRef | None = None,
        status: Status | str | None = None,
    ) -> list[FindingRecord]:
        out = list(self.records)
        if model_name is not None:
            out = [r for r in out if r.model_name == model_name]
        if ref is not None:  # one version
            out = [r for r in out if r.ref == ref]
        if status is not None:
            out = [r for r in out if r.status == Status(status)]
        return out


def match_ids(prior: Sequence[FindingRecord], ref: ModelRef, keys: Sequence[str]) -> list[str]:
    """Ids for a validation's findings (by ``check:about`` key, in order).

    A key that an earlier validation of the version raised keeps that finding's id (each
    earlier finding matched at most once); a new key gets the next number.
    """
    free = {}
    for r in sorted(prior, key=lambda r: r.number):
        free.setdefault(r.key, []).append(r.id)
    n = max((r.number for r in prior), default=0)
    out = []
    for key in keys:
        if free.get(key):
            out.append(free[key].pop(0))
        else:
            n += 1
            out.append(finding_id(ref, n))
    return out


def _key_of(f: dict) -> str:
    return f"{f.get('check')}:{f.get('about') or ''}"


def _float(v) -> float | None:
    return None if v is None else float(v)


def _on_validation(records: dict[str, FindingRecord], e) -> dict[str, FindingRecord]:
    """A validation raises its findings and remediates its earlier ones it does not raise; a
    ``finding.raised`` (escalation in use, governance/findings/escalation.py) only raises."""
    p = e.payload
    origin = "validation" if e.action == Action.VALIDATION_COMPLETED else str(p.get("origin"))
    ref = ModelRef.recorded(str(p.get("model_name")), p.get("model_version"))
    if ref is None:  # a version that is no number (a forged entry) raises nothing
        return records
    found = [f for f in p.get("findings") or [] if isinstance(f, dict)]
    prior = [r for r in records.values() if r.ref == ref]
    derived = match_ids(prior, ref, [_key_of(f) for f in found])
    out = dict(records)
    raised = set()
    for f, fid in zip(found, derived, strict=True):
        fid = f.get("id") or fid
        raised.add(fid)
        _, _, number = parse_finding_id(fid)
        new = FindingRecord(
            id=fid, model_name=ref.name, model_version=ref.version, number=number,
            check=str(f.get("check")), about=str(f.get("about") or ""),
            severity=Severity(f.get("severity")), message=str(f.get("message", "")),
            value=_float(f.get("value")), threshold=_float(f.get("threshold")),
            validator=p.get("validator") or e.actor, created=e.ts,
            first_seq=e.seq, validation_seq=e.seq, origin=origin,
        )  # fmt: skip
        old = out.get(fid)
        out[fid] = new if old is None else step(old, "raised", found=new)
    for r in prior if origin == "validation" else ():
        if r.id not in raised and r.origin == "validation":
            out[r.id] = step(r, "not_raised", seq=e.seq)
    return out


def step(record: FindingRecord, event: str, **kw) -> FindingRecord:
    """One transition of the state machine (module docstring); pure.

    Events: ``raised`` (``found``: the record as the new validation raised it),
    ``not_raised`` (``seq`` of that validation), ``accepted`` / ``pending``
    (``acceptance``), ``expired`` (``seq`` or a date check).
    """
    if event == "raised":
        found: FindingRecord = kw["found"]
        kept = replace(
            found,
            created=record.created,
            first_seq=record.first_seq,
            validator=record.validator,
            acceptance=record.acceptance,
            remediated_seq=None,
        )
        acc = record.acceptance
        if record.status in (Status.ACCEPTED, Status.EXPIRED) and acc and acc.digest == kept.digest:
            return replace(kept, status=record.status, pending=record.pending)
        return replace(kept, status=Status.OPEN)
    if event == "not_raised":
        return replace(record, status=Status.REMEDIATED, remediated_seq=kw["seq"], pending=None)
    if event in ("accepted", "pending"):
        acc: Acceptance = kw["acceptance"]
        if record.status is Status.REMEDIATED or acc.digest != record.digest:
            return record  # an acceptance of something no longer raised covers nothing
        if event == "pending":
            return replace(record, pending=acc)
        return replace(record, status=Status.ACCEPTED, acceptance=acc, pending=None)
    if event == "expired":
        if record.status is Status.ACCEPTED:
            return replace(record, status=Status.EXPIRED)
        return record
    raise ValueError(f"unknown finding event {event!r}")


def _acceptance_of(e, registry=None) -> Acceptance | None:
    """The acceptance an entry records, or None when it is not a valid signed act.

    With ``registry`` (governance/identity/users.py ``Registry``) the signer's key must be their
    registered key at the time and their role one that may accept (the moment of use);
    without, the signature is checked against the recorded key only.
    """
    p = e.payload
    doc = p.get("signed") or {}
    if registry is not None:
        problems = act_problems(registry, e, ROLES[Act.ACCEPT_FINDING])
    else:
        problems = verify_signed_record(p)
    if problems or any(doc.get(k) != p.get(k) for k in ("finding_id", "finding_digest")):
        return None  # never counted; `ledger verify` names the problem
    return Acceptance(
        signers=tuple(p.get("signers") or [e.actor]),
        reason=str(doc.get("reason", "")),
        until=str(doc.get("until")),
        digest=str(p.get("finding_digest")),
        control=doc.get("control"),
        seq=e.seq,
        time=doc.get("time"),
        tier=doc.get("tier"),
    )


def expired_on(acceptance: Acceptance, day: dt.date) -> bool:
    """True once ``day`` is after the acceptance's ``until`` date (valid through it)."""
    return day > dt.date.fromisoformat(acceptance.until)


def fold(entries: Iterable, as_of: dt.date | None = None, registry=None) -> Register:
    """Fold ledger entries (any order; only :data:`ACTIONS` count) into the register.

    Parameters
    ----------
    entries : iterable of LedgerEntry (a replayed signed document counts never)
    as_of : date, optional
        The day the register is read on: an acceptance whose ``until`` is before it is
        expired. None: only recorded ``finding.expired`` entries expire acceptances.
    registry : Registry, optional
        The enrolled users (governance/identity/users.py): an acceptance counts only when signed
        by the signer's registered key in a role that may accept.
    """
    records: dict[str, FindingRecord] = {}
    ordered = sorted((e for e in entries if e.action in ACTIONS), key=lambda e: e.seq)
    verdicts = [e for e in ordered if e.action == Action.VALIDATION_COMPLETED]  # signed only:
    valid = registry and {e.seq for e in valid_acts(registry, verdicts, ROLES[Act.VALIDATE])}
    for e in once(ordered):  # an unsigned one would "remediate" its version's findings
        if registry and e.action == Action.VALIDATION_COMPLETED and e.seq not in valid:
            continue
        if e.action in (Action.VALIDATION_COMPLETED, Action.FINDING_RAISED):
            records = _on_validation(records, e)
            continue
        fid = e.payload.get("finding_id")
        if fid not in records:
            continue
        if e.action == Action.FINDING_EXPIRED:
            records[fid] = step(records[fid], "expired", seq=e.seq)
            continue
        acc = _acceptance_of(e, registry)
        if acc is not None:
            event = "accepted" if e.action == Action.FINDING_ACCEPTED else "pending"
            records[fid] = step(records[fid], event, acceptance=acc)
    if as_of is not None:
        for fid, r in records.items():
            if r.status is Status.ACCEPTED and expired_on(r.acceptance, as_of):
                records[fid] = step(r, "expired")
    ordered = sorted(records.values(), key=lambda r: (r.ref, r.number))
    return Register(tuple(ordered), as_of.isoformat() if as_of else None)


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()  # the UTC date acceptances are checked against


def load_register(ledger, as_of: dt.date | None = None) -> Register:
    """The register of ``ledger`` (or of a ``RunContext``) as of ``as_of`` (default today)."""
    ledger = getattr(ledger, "ledger", ledger)
    entries = ledger.entries(action=tuple(ACTIONS))
    return fold(entries, today() if as_of is None else as_of, load_registry(ledger))
