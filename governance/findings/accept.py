"""Accepting a validation finding: a signed, time-limited decision by an accountable officer.

``alphagate findings accept ID --as USER --reason TEXT --until YYYY-MM-DD [--control TEXT]``
signs an :func:`acceptance_document` naming the finding's id and digest (what exactly is
accepted), the reason, the compensating control and the expiry, and records it as
``finding.acceptance_pending`` (more distinct signatures needed) or ``finding.accepted``.

The tier's ``validation.acceptance`` policy (governance/policy/schema.py ``AcceptancePolicy``)
decides: which severities may be accepted (never ``critical`` in ``high``/``medium``),
by which role, how many distinct signers, and the longest expiry. Every refusal — wrong
role, the version's developer, a severity the tier does not accept, an expiry past the
longest allowed, the same user signing twice — is recorded as
``finding.acceptance_refused`` and raises :class:`Forbidden` (exit 4). A malformed date,
a missing reason or a finding with nothing to accept is an :class:`InputError` (exit 2).
"""

from __future__ import annotations

import datetime as dt

from governance.findings.register import (
    ACCEPTANCE_KIND,
    FindingRecord,
    Status,
    load_register,
    today,
)
from governance.findings.verdict import ValidationFacts, latest_validation
from governance.ground.errors import Forbidden, InputError
from governance.ground.vocabulary import Action
from governance.ground.workspace import Workspace
from governance.identity.signing import Signer, verify_signed_record
from governance.identity.users import list_users
from governance.log.chain import VerifyReport
from governance.log.ledger import Ledger, LedgerEntry
from governance.log.readtime import VerifiedReader


def parse_until(value: str, day: dt.date) -> dt.date:
    """``--until`` as a date after ``day``; anything else is an :class:`InputError`."""
    try:
        until = dt.date.fromisoformat(value or "")
    except ValueError:
        raise InputError(f"--until {value!r}: expected a date YYYY-MM-DD") from None
    if until < day:
        raise InputError(f"--until {value}: in the past (today is {day.isoformat()})")
    return until


def acceptance_document(
    record: FindingRecord,
    *,
    validation_entry_hash: str | None,
    reason: str,
    until: dt.date,
    control: str | None,
    user: str,
    role: str,
    policy_hash: str | None,
    tier: str,
) -> dict:
    """The JSON document an officer signs to accept ``record``."""
    return {
        "kind": ACCEPTANCE_KIND,
        "finding_id": record.id,
        "finding_digest": record.digest,
        "model_name": record.model_name,
        "model_version": record.ref.version_text,
        "check": record.check,
        "severity": record.severity.value,
        "validation_entry_hash": validation_entry_hash,
        "decision": "accept",
        "reason": reason,
        "control": control,
        "until": until.isoformat(),
        "user": user,
        "role": role,
        "policy_hash": policy_hash,
        "tier": tier,
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
    }


def _verdict(ledger: Ledger, record: FindingRecord) -> ValidationFacts | None:
    """The version's latest valid, signed verdict, each entry verified as it is read
    (governance/log/readtime.py): never an unchecked last ``validation.completed``."""
    return latest_validation(VerifiedReader(ledger), record.ref)


def _developer(ledger: Ledger, record: FindingRecord) -> str | None:
    """The signer of the training entry of the validated model (never a tag)."""
    from governance.identity.duties import developer_of

    verdict = _verdict(ledger, record)
    return developer_of(ledger, verdict.run_id) if verdict and verdict.run_id else None


def _refuse(ws, ledger, record: FindingRecord, signer, message: str, extra: dict) -> Forbidden:
    user = signer.name
    ledger.append(
        Action.FINDING_ACCEPTANCE_REFUSED,
        actor=user,
        role=signer.role,
        subject=record.ref.subject,
        payload={
            "model_name": record.model_name,
            "model_version": record.ref.version_text,
            "finding_id": record.id,
            "finding_digest": record.digest,
            "user": user,
            "refusal": message,
            **extra,
        },
    )
    return Forbidden(message)


def accept(
    ws: Workspace,
    ledger: Ledger,
    finding_id: str,
    signer: Signer,
    reason: str,
    until: str,
    control: str | None,
    *,
    tier,
    tier_name: str,
    policy_hash: str | None,
    day: dt.date | None = None,
) -> tuple[LedgerEntry, FindingRecord]:
    """Sign and record an acceptance of ``finding_id``; return the entry and the record after.

    Parameters
    ----------
    day : date, optional
        The day of the decision (default: today, UTC): ``--until`` may not be before it nor
        more than ``acceptance.max_days`` after it.

    Raises
    ------
    InputError
        Unknown id, bad ``--until``, missing reason or control, nothing to accept (exit 2).
    Forbidden
        A refusal of the policy or of separation of duties, recorded first (exit 4).
    """
    day = day or today()
    # the verdicts the register folds are read verified too: a verdict edited after a
    # verify is exit 3 here, not an unknown finding (its signature no longer holds)
    reader = ledger if isinstance(ledger, VerifiedReader) else VerifiedReader(ledger)
    record = load_register(reader, as_of=day).require(finding_id)
    policy = tier.validation.acceptance
    extra = {"reason": reason, "until": until, "control": control}
    if record.status in (Status.REMEDIATED, Status.ACCEPTED):
        raise InputError(f"finding {record.id} is {record.status.value}: nothing to accept")
    if not reason or not reason.strip():
        raise InputError("findings accept: --reason: required")
    if policy.require_control and not (control and control.strip()):
        raise InputError(f"findings accept: --control: the {tier_name} tier requires one")
    end = parse_until(until, day)
    acting = signer
    if acting.role != policy.role.value:
        msg = f"findings accept: {acting.name!r} has role {acting.role}, needs {policy.role.value}"
        raise _refuse(ws, ledger, record, acting, msg, extra)
    refusal = _policy_refusal(ledger, record, acting.name, end, day, policy, tier_name)
    if refusal:
        raise _refuse(ws, ledger, record, acting, refusal, extra)
    signers = [*(record.pending.signers if record.pending else ()), acting.name]
    validation = _verdict(ledger, record)
    doc = acceptance_document(
        record, validation_entry_hash=validation.entry_hash if validation else None,
        reason=reason, until=end, control=control, user=acting.name, role=acting.role,
        policy_hash=policy_hash, tier=tier_name,
    )  # fmt: skip
    action = (
        Action.FINDING_ACCEPTED
        if len(signers) >= policy.signatures
        else Action.FINDING_ACCEPTANCE_PENDING
    )
    subject = record.ref.subject
    body = {**doc, "signers": signers, "needed": policy.signatures, "identity": "signed"}
    entry = ledger.append(
        action,
        actor=acting.name,
        role=acting.role,
        subject=subject,
        payload={**body, **acting.signed_payload(action, body, subject=subject)},
    )
    return entry, load_register(ledger, as_of=day).require(record.id)


def _policy_refusal(ledger, record, name: str, end, day, policy, tier_name) -> str | None:
    """Why the tier's acceptance policy refuses ``name`` accepting ``record``, or None."""
    if record.severity not in policy.severities:
        allowed = ", ".join(s.value for s in policy.severities) or "none"
        return (
            f"findings accept: {record.id} is {record.severity.value}; the {tier_name} tier"
            f" accepts only {allowed} findings"
        )
    developer = _developer(ledger, record)
    if developer and name == developer:
        return (
            f"findings accept: {name!r} developed {record.ref}"
            " and may not accept its findings (separation of duties)"
        )
    if name in (record.pending.signers if record.pending else ()):
        return (
            f"findings accept: {name!r} already signed {record.id}; a distinct user must give"
            " the next signature"
        )
    if (end - day).days > policy.max_days:
        return (
            f"findings accept: --until {end.isoformat()} is {(end - day).days} days away; the"
            f" {tier_name} tier allows at most {policy.max_days}"
        )
    return None


def acceptance_problems(ledger: Ledger, known_keys: dict[str, str]) -> list[tuple[int, str]]:
    """``[(seq, reason)]`` for every recorded acceptance signature that does not verify."""
    out = []
    for action in (Action.FINDING_ACCEPTANCE_PENDING, Action.FINDING_ACCEPTED):
        for e in ledger.entries(action=action):
            p = e.payload
            problems = verify_signed_record(p, known_keys)
            doc = p.get("signed") or {}
            for key in ("finding_id", "finding_digest", "model_name", "model_version", "user"):
                if doc.get(key) != p.get(key):
                    problems.append(f"{key} differs from the signed document")
            if e.actor != p.get("signer"):
                problems.append(f"actor {e.actor!r} is not the signer {p.get('signer')!r}")
            if problems:
                out.append((e.seq, f"{action} seq {e.seq} by {e.actor}: " + "; ".join(problems)))
    return sorted(out)


def acceptances_signed(ws: Workspace, ledger: Ledger) -> VerifyReport | None:
    """Integrity check: every finding acceptance's signature and digest verifies."""
    try:
        known = {u.name: u.public_key for u in list_users(ws)}
    except InputError:
        known = {}
    problems = acceptance_problems(ledger, known)
    if not problems:
        return None
    seq, reason = problems[0]
    return VerifyReport(ok=False, entries=ledger.head()[0], first_bad_seq=seq, reason=reason)
