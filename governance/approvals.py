"""Four-eyes approvals, rejections and promotion to the MLflow ``champion`` alias.

An approval is an Ed25519 signature by the approver's key over the canonical JSON of an
:func:`approval_document`: the digests of what was approved (model name and version, the
hash of its model files, the validation report and ledger entry, the data fingerprint,
the policy hash) and the decision, reason, user and time. The ledger keeps the document,
its digest, the signature and the public key (``approval.granted`` / ``approval.rejected``);
the registered check :func:`approvals_signed` re-verifies each one on ``ledger verify``.

Promotion (issue 5): only when the version's latest ``validation.completed`` says ``pass``
and the tier's approvals are in — ``approvals.validators`` validators and
``approvals.risk_officers`` risk officers, distinct users, none of them the version's
developer, all given against that latest validation and none rejecting it. Every refusal
(self-approval, wrong role, the same user twice, a version that did not pass) is recorded
as ``approval.refused`` and raises :class:`Forbidden` (exit 4).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from governance.chain import VerifyReport
from governance.errors import Forbidden, InputError
from governance.ledger import Ledger, LedgerEntry
from governance.registry import (
    PROMOTED,
    ModelFacts,
    approved_by_tag,
    get_model_facts,
    mlflow_client,
    model_subject,
    set_champion,
)
from governance.signing import sign_document, verify_signed_record
from governance.users import Role, list_users, require_role, role_of
from governance.workspace import Workspace

GRANTED = "approval.granted"
REJECTED = "approval.rejected"
REFUSED = "approval.refused"
VALIDATED = "validation.completed"
DOC_KIND = "alphagate.approval/1"
#: Artifact names a ``validation.completed`` entry may give its report under, by preference.
_REPORT_NAMES = ("validation_report.json", "report.json", "validation_report", "report")


@dataclass(frozen=True)
class ValidationFacts:
    """The latest ``validation.completed`` entry of a version: verdict and digests."""

    verdict: str
    report_hash: str
    entry_hash: str
    seq: int


@dataclass(frozen=True)
class PromotionState:
    """Where a version stands on its way to ``champion``.

    ``granted`` lists counted approvals ``{user, role, identity, seq}``; ``missing`` the
    roles still needed (one item per approval); ``commands`` the exact CLI lines that would
    give them; ``blocked`` why no approval can help (no pass verdict, a rejection).
    """

    model_name: str
    version: str
    verdict: str | None
    developer: str | None
    granted: tuple[dict, ...] = ()
    missing: tuple[str, ...] = ()
    rejected_by: tuple[str, ...] = ()
    blocked: tuple[str, ...] = ()
    champion: bool = False
    commands: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """True when the version may be promoted now."""
        return not self.missing and not self.blocked

    def to_json(self) -> dict:
        return {
            "model_name": self.model_name,
            "version": self.version,
            "verdict": self.verdict,
            "developer": self.developer,
            "granted": list(self.granted),
            "missing": list(self.missing),
            "rejected_by": list(self.rejected_by),
            "blocked": list(self.blocked),
            "champion": self.champion,
            "complete": self.complete,
            "commands": list(self.commands),
        }


@dataclass(frozen=True)
class ApprovalOutcome:
    """What ``approve``/``reject`` recorded, the state after it, and the promotion if any."""

    entry: LedgerEntry
    state: PromotionState
    promoted: LedgerEntry | None = None
    previous_champion: str | None = None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def _report_hash(entry: LedgerEntry) -> str:
    arts = entry.artifacts
    for name in _REPORT_NAMES:
        if name in arts:
            return arts[name]
    named = sorted(v for k, v in arts.items() if "report" in k)
    return named[0] if named else entry.payload_hash


def latest_validation(ledger: Ledger, name: str, version: int | str) -> ValidationFacts | None:
    """The latest ``validation.completed`` of ``name`` v``version``, or None.

    Looks up subject ``model:<name>/v<N>``; falls back to payload fields ``model_name`` /
    ``model_version`` for entries recorded under another subject.
    """
    entry = ledger.last(action=VALIDATED, subject=model_subject(name, version))
    if entry is None:
        matches = [
            e
            for e in ledger.entries(action=VALIDATED)
            if str(e.payload.get("model_version")) == str(version)
            and e.payload.get("model_name", name) == name
        ]
        entry = matches[-1] if matches else None
    if entry is None:
        return None
    p = entry.payload
    verdict = p.get("verdict") or (p.get("validation") or {}).get("verdict")
    return ValidationFacts(str(verdict).lower(), _report_hash(entry), entry.entry_hash, entry.seq)


def approval_document(
    facts: ModelFacts,
    validation: ValidationFacts | None,
    *,
    decision: str,
    reason: str,
    user: str,
    role: str,
    policy_hash: str,
    tier: str,
    accepted_findings: list[dict] | None = None,
) -> dict:
    """The JSON document an approver signs (all digests of what is being approved).

    ``accepted_findings`` (``[{id, digest, until}]``) are the findings of the validation
    accepted on the review path: the approver signs exactly those.
    """
    return {
        "kind": DOC_KIND,
        "model_name": facts.name,
        "model_version": str(facts.version),
        "model_artifact_hash": facts.model_artifact_hash,
        "mlflow_run_id": facts.run_id,
        "validation_report_hash": validation.report_hash if validation else None,
        "validation_entry_hash": validation.entry_hash if validation else None,
        "validation_verdict": validation.verdict if validation else None,
        "data_fingerprint": facts.data_fingerprint,
        "policy_hash": policy_hash,
        "tier": tier,
        "accepted_findings": list(accepted_findings or []),
        "decision": decision,
        "reason": reason,
        "user": user,
        "role": role,
        "time": _now(),
    }


def decisions_on_validation(
    ledger: Ledger, name: str, version: str, action: str, validation
) -> list:
    """Entries of ``action`` on the version given against its latest validation."""
    if validation is None:
        return []
    return [
        e
        for e in ledger.entries(action=action, subject=model_subject(name, version))
        if (e.payload.get("signed") or e.payload.get("document") or {}).get("validation_entry_hash")
        == validation.entry_hash
    ]


def _counted(entries: list, developer: str | None, allow_declared: bool) -> list[dict]:
    """Approvals that count: distinct users, not the developer, signature verified (or
    declared and allowed)."""
    seen, out = set(), []
    for e in entries:
        p = e.payload
        user, identity = p.get("user"), p.get("identity", "signed")
        if user in seen or user == developer:
            continue
        if identity == "declared" and not allow_declared:
            continue
        if identity != "declared" and verify_signed_record(p):
            continue  # a signature that does not verify never counts (ledger verify says why)
        seen.add(user)
        out.append({"user": user, "role": p.get("role"), "identity": identity, "seq": e.seq})
    return out


def _is_champion(ledger: Ledger, name: str, version: str) -> bool:
    last = None
    for e in ledger.entries(action=PROMOTED):
        if e.payload.get("model_name") == name:
            last = e
    return last is not None and str(last.payload.get("model_version")) == str(version)


def verdict_blockers(ledger: Ledger, version, validation: ValidationFacts) -> list[str]:
    """Why the latest verdict does not let the version be promoted; empty when it does.

    ``pass`` does; ``review`` does once every warning finding of that validation is
    accepted (the review path, governance/findings_review.py); ``fail`` only if the tier
    let its critical findings be accepted too.
    """
    if validation.verdict == "pass":
        return []
    from governance.findings_review import review_blockers

    return review_blockers(ledger, version, validation)


def compute_state(
    ws: Workspace, ledger: Ledger, facts: ModelFacts, tier, validation=None
) -> PromotionState:
    """:class:`PromotionState` of a version whose registry facts are known."""
    name, version = facts.name, facts.version
    validation = validation or latest_validation(ledger, name, version)
    policy = tier.approvals
    granted = _counted(
        decisions_on_validation(ledger, name, version, GRANTED, validation),
        facts.developer,
        policy.allow_declared_ui_approvals,
    )
    rejected = [
        e.payload.get("user")
        for e in decisions_on_validation(ledger, name, version, REJECTED, validation)
    ]
    blocked = []
    if validation is None:
        blocked.append(f"v{version} has no validation.completed entry: run `alphagate validate`")
    else:
        blocked += verdict_blockers(ledger, version, validation)
    if rejected:
        blocked.append(f"v{version} was rejected by {', '.join(rejected)}")
    missing, commands = [], []
    have = {u["user"] for u in granted}
    for role, needed in (
        (Role.VALIDATOR, policy.validators),
        (Role.RISK_OFFICER, policy.risk_officers),
    ):
        count = sum(1 for g in granted if g["role"] == role.value)
        gap = max(needed - count, 0)
        missing += [role.value] * gap
        eligible = [
            u.name
            for u in list_users(ws)
            if u.role == role and u.name not in have and u.name != facts.developer
        ]
        for who in eligible[:gap]:
            commands.append(
                f"alphagate approve --model {name} --model-version {version} --as {who}"
                f' --reason "..."'
            )
    return PromotionState(
        model_name=name,
        version=str(version),
        verdict=validation.verdict if validation else None,
        developer=facts.developer,
        granted=tuple(granted),
        missing=tuple(missing),
        rejected_by=tuple(rejected),
        blocked=tuple(blocked),
        champion=_is_champion(ledger, name, version),
        commands=tuple(commands) if not blocked else (),
    )


def promotion_state(
    ws: Workspace, model_name: str, version: int | str, tier, ledger: Ledger | None = None
) -> PromotionState:
    """What approvals ``model_name`` v``version`` still needs under ``tier``."""
    own = ledger is None
    ledger = ledger or Ledger.open(ws)
    try:
        facts = get_model_facts(mlflow_client(ws), model_name, version)
        return compute_state(ws, ledger, facts, tier)
    finally:
        if own:
            ledger.dispose()


def _refuse(
    ws: Workspace, ledger: Ledger, facts: ModelFacts, user, decision: str, message: str
) -> Forbidden:
    ledger.append(
        REFUSED,
        actor=user or "<none>",
        role=role_of(ws, user),
        subject=model_subject(facts.name, facts.version),
        payload={
            "model_name": facts.name,
            "model_version": facts.version,
            "user": user,
            "decision": decision,
            "refusal": message,
        },
    )
    return Forbidden(message)


def record_signed_decision(
    ws, ledger, facts, validation, *, user, decision, reason, policy_hash, tier_name
) -> LedgerEntry:
    """Sign the approval document with ``user``'s key and record it."""
    from governance.findings_review import accepted_findings

    doc = approval_document(
        facts, validation, decision=decision, reason=reason, user=user.name,
        role=user.role.value, policy_hash=policy_hash, tier=tier_name,
        accepted_findings=accepted_findings(ledger, validation),
    )  # fmt: skip
    sig = sign_document(ws, user, doc)
    action = GRANTED if decision == "approve" else REJECTED
    return ledger.append(
        action,
        actor=user.name,
        role=user.role.value,
        subject=model_subject(facts.name, facts.version),
        payload={
            "model_name": facts.name,
            "model_version": facts.version,
            "mlflow_run_id": facts.run_id,
            "decision": decision,
            "user": user.name,
            "role": user.role.value,
            "identity": "signed",
            "policy_hash": policy_hash,
            "signed": doc,
            **sig.fields(),
        },
    )


def _check_approver(ws, ledger, facts, user_name, action: str):
    """Common refusals of approve and reject; return the acting :class:`User`."""
    if user_name and user_name == facts.developer:
        raise _refuse(
            ws, ledger, facts, user_name, action,
            f"{action}: {user_name!r} developed {facts.name} v{facts.version} and may not"
            " approve or reject it (separation of duties)",
        )  # fmt: skip
    try:
        return require_role(ws, user_name, {Role.VALIDATOR, Role.RISK_OFFICER}, action)
    except Forbidden as exc:
        raise _refuse(ws, ledger, facts, user_name, action, str(exc)) from None


def promote(ledger: Ledger, client, facts: ModelFacts, state: PromotionState, policy_hash: str):
    """Record ``model.promoted`` and move the alias; return ``(entry, previous_version)``."""
    from governance.findings_review import accepted_findings
    from governance.registry import champion_version

    approvals = list(state.granted)
    validation = latest_validation(ledger, facts.name, facts.version)
    entry = ledger.append(
        PROMOTED,
        actor="alphagate",
        role="system",
        subject=model_subject(facts.name, facts.version),
        payload={
            "model_name": facts.name,
            "model_version": facts.version,
            "mlflow_run_id": facts.run_id,
            "previous_champion": champion_version(client, facts.name),
            "developer": facts.developer,
            "approvals": approvals,
            "approved_by": approved_by_tag(approvals),
            "accepted_findings": accepted_findings(ledger, validation),
            "model_artifact_hash": facts.model_artifact_hash,
            "policy_hash": policy_hash,
        },
    )
    previous = set_champion(client, facts.name, facts.version, entry.payload, entry.seq)
    return entry, previous


def promote_if_complete(
    ws: Workspace, ledger: Ledger, facts: ModelFacts, tier, policy_hash: str, validation=None
):
    """Promote when :func:`compute_state` is complete; return ``(state, entry, previous)``.

    ``entry`` and ``previous`` are None when nothing was promoted.
    """
    state = compute_state(ws, ledger, facts, tier, validation)
    if not state.complete or state.champion:
        return state, None, None
    entry, previous = promote(ledger, mlflow_client(ws), facts, state, policy_hash)
    return compute_state(ws, ledger, facts, tier, validation), entry, previous


def _decision_inputs(ws, ledger, model_name, version, user, action: str):
    """``(facts, acting user, latest validation)`` of an approve or reject, after the
    refusals every decision shares (recorded as ``approval.refused``)."""
    facts = get_model_facts(mlflow_client(ws), model_name, version)
    acting = _check_approver(ws, ledger, facts, user, action)
    return facts, acting, latest_validation(ledger, facts.name, facts.version)


def approve(
    ws: Workspace,
    ledger: Ledger,
    model_name: str,
    version: int | str,
    user: str | None,
    reason: str,
    *,
    tier,
    tier_name: str,
    policy_hash: str,
) -> ApprovalOutcome:
    """Sign and record an approval; promote when the tier's approvals are complete.

    Raises
    ------
    InputError
        Unknown model version (exit 2).
    Forbidden
        Self-approval, wrong role, the same user twice, a version whose latest validation
        did not pass or that was rejected (recorded as ``approval.refused``; exit 4).
    """
    facts, acting, validation = _decision_inputs(ws, ledger, model_name, version, user, "approve")
    before = compute_state(ws, ledger, facts, tier, validation)
    if before.blocked:
        raise _refuse(
            ws, ledger, facts, acting.name, "approve", "approve: " + "; ".join(before.blocked)
        )
    if acting.name in {g["user"] for g in before.granted}:
        raise _refuse(
            ws, ledger, facts, acting.name, "approve",
            f"approve: {acting.name!r} already approved {facts.name} v{facts.version}; a"
            " distinct second user must give the other approval",
        )  # fmt: skip
    if before.champion:
        raise InputError(f"--model-version: {facts.name} v{facts.version} is already the champion")
    entry = record_signed_decision(
        ws, ledger, facts, validation, user=acting, decision="approve",
        reason=reason or "", policy_hash=policy_hash, tier_name=tier_name,
    )  # fmt: skip
    state, promoted, previous = promote_if_complete(
        ws, ledger, facts, tier, policy_hash, validation
    )
    return ApprovalOutcome(entry, state, promoted, previous)


def reject(
    ws: Workspace,
    ledger: Ledger,
    model_name: str,
    version: int | str,
    user: str | None,
    reason: str,
    *,
    tier,
    tier_name: str,
    policy_hash: str,
) -> ApprovalOutcome:
    """Sign and record a rejection: the version cannot be promoted on this validation."""
    if not reason or not reason.strip():
        raise InputError("reject: --reason: required")
    facts, acting, validation = _decision_inputs(ws, ledger, model_name, version, user, "reject")
    entry = record_signed_decision(
        ws, ledger, facts, validation, user=acting, decision="reject",
        reason=reason, policy_hash=policy_hash, tier_name=tier_name,
    )  # fmt: skip
    return ApprovalOutcome(entry, compute_state(ws, ledger, facts, tier, validation))


def signature_problems(ledger: Ledger, known_keys: dict[str, str]) -> list[tuple[int, str]]:
    """``[(seq, reason)]`` for every signed approval or rejection that does not verify."""
    out = []
    for action in (GRANTED, REJECTED):
        for e in ledger.entries(action=action):
            p = e.payload
            if p.get("identity", "signed") != "signed":
                continue
            problems = verify_signed_record(p, known_keys)
            doc = p.get("signed") or {}
            for key in ("model_name", "model_version", "decision", "user"):
                if doc.get(key) != p.get(key):
                    problems.append(f"{key} differs from the signed document")
            if e.actor != p.get("signer"):
                problems.append(f"actor {e.actor!r} is not the signer {p.get('signer')!r}")
            if problems:
                out.append((e.seq, f"{action} seq {e.seq} by {e.actor}: " + "; ".join(problems)))
    return sorted(out)


def approvals_signed(ws: Workspace, ledger: Ledger) -> VerifyReport | None:
    """Integrity check: every recorded approval/rejection signature and digest verifies."""
    try:
        known = {u.name: u.public_key for u in list_users(ws)}
    except InputError:
        known = {}
    problems = signature_problems(ledger, known)
    if not problems:
        return None
    seq, reason = problems[0]
    return VerifyReport(ok=False, entries=ledger.head()[0], first_bad_seq=seq, reason=reason)
