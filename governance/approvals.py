"""Four-eyes approvals, rejections and promotion to the MLflow ``champion`` alias.

An approval is an Ed25519 signature by the approver's key over the canonical JSON of an
:func:`approval_document`: the digests of what was approved (model name and version, the
hash of its model files, the validation report and ledger entry, the data fingerprint,
the policy hash) and the decision, reason, user and time. The ledger keeps the document,
its digest, the signature and the public key (``approval.granted`` / ``approval.rejected``);
``ledger verify`` re-verifies each one (:mod:`governance.signed_acts`).

Promotion (issue 5): only when the version's latest ``validation.completed`` says ``pass``
and the tier's approvals are in — ``approvals.validators`` validators and
``approvals.risk_officers`` risk officers, distinct users, none of them the version's
developer, all given against that latest validation and none rejecting it. Every refusal
(self-approval, wrong role, the same user twice, a version that did not pass) is recorded
as ``approval.refused`` and raises :class:`Forbidden` (exit 4).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from governance.duties import ROLES, Act, duty_refusal
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
from governance.signing import Signer
from governance.users import Registry, Role, act_problems, load_registry
from governance.workspace import Workspace

GRANTED = "approval.granted"
REJECTED = "approval.rejected"
REFUSED = "approval.refused"
VALIDATED = "validation.completed"
TRAINED = "model.trained"
DOC_KIND = "alphagate.approval/1"
#: Artifact names a ``validation.completed`` entry may give its report under, by preference.
#: The report a ``validation.completed`` entry names (validation/run.py records it so).
REPORT_ARTIFACT = "report.json"


@dataclass(frozen=True)
class ValidationFacts:
    """The latest ``validation.completed`` entry of a version: verdict and digests."""

    verdict: str
    report_hash: str
    entry_hash: str
    seq: int
    validator: str | None = None
    policy_hash: str | None = None
    tier: str | None = None  # the policy tier it was made under (governance/tiers.py)


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


def latest_validation(
    ledger: Ledger,
    name: str,
    version: int | str,
    registry: Registry | None = None,
    entry_hash: str | None = None,
) -> ValidationFacts | None:
    """The latest *valid* ``validation.completed`` of ``name`` v``version`` (or the one
    whose entry hash is ``entry_hash``), or None.

    Only a signed act of a user who was a validator at the time is a verdict
    (governance/signed_acts.py): a forged, unsigned entry is skipped.
    """
    registry = registry or load_registry(ledger)
    entries = ledger.entries(action=VALIDATED, subject=model_subject(name, version))
    valid = [
        e
        for e in entries
        if not act_problems(registry, e, ROLES[Act.VALIDATE])
        and entry_hash in (None, e.entry_hash)
        and REPORT_ARTIFACT in e.artifacts  # a verdict without its report decides nothing
    ]
    if not valid:
        return None
    entry = valid[-1]
    p = entry.payload
    return ValidationFacts(
        str(p.get("verdict")).lower(), entry.artifacts[REPORT_ARTIFACT], entry.entry_hash, entry.seq,
        validator=entry.actor, policy_hash=p.get("policy_hash"), tier=p.get("policy_tier"),
    )  # fmt: skip


def developer_of(ledger: Ledger, run_id: str | None, registry: Registry | None = None):
    """The developer of the model logged by MLflow run ``run_id``: the signer of the valid
    signed ``model.trained`` entry for that run (never an MLflow tag); None when there is
    none, or when several different people signed one."""
    if not run_id:
        return None
    registry = registry or load_registry(ledger)
    signers = {
        e.actor
        for e in ledger.entries(action=TRAINED)
        if e.payload.get("mlflow_run_id") == run_id
        and not act_problems(registry, e, ROLES[Act.DEVELOP])
    }
    return next(iter(signers)) if len(signers) == 1 else None


def facts_for(ws: Workspace, ledger: Ledger, name: str, version, registry=None) -> ModelFacts:
    """Registry facts of ``name`` v``version`` with the developer taken from the ledger."""
    facts = get_model_facts(mlflow_client(ws), name, version)
    return replace(facts, developer=developer_of(ledger, facts.run_id, registry))


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


def _counted(
    entries: list, developer: str | None, allow_declared: bool, registry: Registry
) -> list[dict]:
    """Approvals that count: distinct users, not the developer, each a valid signature by
    the signer's registered key and a role allowed to approve at the time (or declared,
    where the policy allows declared identities)."""
    seen, out = set(), []
    for e in entries:
        p = e.payload
        user, identity = p.get("user"), p.get("identity", "signed")
        if user in seen or user == developer:
            continue
        if identity == "declared":
            if not allow_declared:
                continue
            role = p.get("role")
        else:
            if act_problems(registry, e, ROLES[Act.APPROVE]):
                continue  # a signature that does not hold never counts (ledger verify says why)
            role = registry.at(user, e.seq).role.value
        seen.add(user)
        out.append({"user": user, "role": role, "identity": identity, "seq": e.seq})
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
    ws: Workspace, ledger: Ledger, facts: ModelFacts, tier, validation=None, *, at_use=False
) -> PromotionState:
    """:class:`PromotionState` of a version whose registry facts are known.

    ``at_use``: asked at the moment the version would drive a portfolio (the adopted
    policy's champion rule then decides whether an older verdict still counts).
    """
    from governance.backing import backing_blockers

    name, version = facts.name, facts.version
    registry = load_registry(ledger)
    validation = validation or latest_validation(ledger, name, version, registry)
    policy = tier.approvals
    decisions = decisions_on_validation(ledger, name, version, GRANTED, validation)
    granted = _counted(decisions, facts.developer, policy.allow_declared_ui_approvals, registry)
    rejected = [
        e.payload.get("user")
        for e in decisions_on_validation(ledger, name, version, REJECTED, validation)
    ]
    blocked = []
    if facts.developer is None:
        blocked.append(
            f"v{version} has no valid signed model.trained entry for run {facts.run_id}: its"
            " developer is unknown, so four eyes cannot be checked"
        )
    if validation is None:
        blocked.append(f"v{version} has no validation.completed entry: run `alphagate validate`")
    else:
        if not at_use:  # at use the latest verdict is judged (governance/model_use.py)
            blocked += verdict_blockers(ledger, version, validation)
        counted = {g["seq"] for g in granted}
        approvals = [e for e in decisions if e.seq in counted]
        blocked += backing_blockers(ledger, registry, facts, validation, approvals, at_use=at_use)
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
            for u in registry.users()
            if u.role == role and u.name not in have and u.name != facts.developer
        ]
        for who in eligible[:gap]:
            commands.append(
                f"alphagate approve --model {name} --model-version {version} --as {who}"
                ' --key FILE --reason "..."'
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
        return compute_state(ws, ledger, facts_for(ws, ledger, model_name, version), tier)
    finally:
        if own:
            ledger.dispose()


def _refuse(ledger: Ledger, facts: ModelFacts, signer, decision: str, message: str) -> Forbidden:
    ledger.append(
        REFUSED,
        actor=signer.name if signer else "<none>",
        role=signer.role if signer else "unknown",
        subject=model_subject(facts.name, facts.version),
        payload={
            "model_name": facts.name,
            "model_version": facts.version,
            "user": signer.name if signer else None,
            "decision": decision,
            "refusal": message,
        },
    )
    return Forbidden(message)


def record_signed_decision(
    ledger, facts, validation, *, signer: Signer, decision, reason, policy_hash, tier_name
) -> LedgerEntry:
    """Sign the approval document with ``signer``'s key and record it."""
    from governance.findings_review import accepted_findings

    doc = approval_document(
        facts, validation, decision=decision, reason=reason, user=signer.name,
        role=signer.role, policy_hash=policy_hash, tier=tier_name,
        accepted_findings=accepted_findings(ledger, validation),
    )  # fmt: skip
    action = GRANTED if decision == "approve" else REJECTED
    return ledger.append(
        action,
        actor=signer.name,
        role=signer.role,
        subject=model_subject(facts.name, facts.version),
        payload={
            "model_name": facts.name,
            "model_version": facts.version,
            "mlflow_run_id": facts.run_id,
            "decision": decision,
            "user": signer.name,
            "role": signer.role,
            "identity": "signed",
            "policy_hash": policy_hash,
            **signer.signed_payload(action, doc),
        },
    )


def _check_approver(ledger, facts, signer: Signer, act: Act, already=()) -> None:
    """The separation-of-duties refusals of approve and reject (recorded)."""
    reason = duty_refusal(
        act, signer.name, signer.role, developer=facts.developer, already=already,
        subject=f"{facts.name} v{facts.version}",
    )  # fmt: skip
    if reason:
        raise _refuse(ledger, facts, signer, act.value, reason)


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


def approve(
    ws: Workspace,
    ledger: Ledger,
    model_name: str,
    version: int | str,
    signer: Signer,
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
    facts = facts_for(ws, ledger, model_name, version)
    validation = latest_validation(ledger, facts.name, facts.version)
    before = compute_state(ws, ledger, facts, tier, validation)
    _check_approver(ledger, facts, signer, Act.APPROVE)
    if before.blocked:
        raise _refuse(ledger, facts, signer, "approve", "approve: " + "; ".join(before.blocked))
    _check_approver(ledger, facts, signer, Act.APPROVE, [g["user"] for g in before.granted])
    if before.champion:
        raise InputError(f"--model-version: {facts.name} v{facts.version} is already the champion")
    entry = record_signed_decision(
        ledger, facts, validation, signer=signer, decision="approve",
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
    signer: Signer,
    reason: str,
    *,
    tier,
    tier_name: str,
    policy_hash: str,
) -> ApprovalOutcome:
    """Sign and record a rejection: the version cannot be promoted on this validation."""
    if not reason or not reason.strip():
        raise InputError("reject: --reason: required")
    facts = facts_for(ws, ledger, model_name, version)
    _check_approver(ledger, facts, signer, Act.REJECT)
    validation = latest_validation(ledger, facts.name, facts.version)
    entry = record_signed_decision(
        ledger, facts, validation, signer=signer, decision="reject",
        reason=reason, policy_hash=policy_hash, tier_name=tier_name,
    )  # fmt: skip
    return ApprovalOutcome(entry, compute_state(ws, ledger, facts, tier, validation))
