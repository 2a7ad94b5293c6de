"""Four-eyes approvals, rejections and promotion to the MLflow ``champion`` alias.

An approval is an Ed25519 signature by the approver's key over the canonical JSON of an
:func:`approval_document`: the digests of what was approved (model name and version, the
hash of its model files, the validation report and ledger entry, the data fingerprint,
the policy hash) and the decision, reason, user and time. The ledger keeps the document,
its digest, the signature and the public key (``approval.granted`` / ``approval.rejected``);
``ledger verify`` re-verifies each one (:mod:`governance.identity.signed_acts`).

Promotion (issue 5): only when the version's latest ``validation.completed`` says ``pass``
and the tier's approvals are in — ``approvals.validators`` validators and
``approvals.risk_officers`` risk officers, distinct users, none of them the version's
developer, all given against that latest validation and none rejecting it
(:func:`governance.decisions.promotion.compute_state` says so). Every refusal (self-approval,
wrong role, the same user twice, a version that did not pass) is recorded as
``approval.refused`` and raises :class:`Forbidden` (exit 4).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from governance.decisions.paper import enter_paper, entered, graduation_pass
from governance.decisions.promotion import (
    PromotionState,
    ValidationFacts,
    compute_state,
    facts_for,
    latest_validation,
)
from governance.ground.errors import Forbidden, InputError
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from governance.ground.workspace import Workspace
from governance.identity.duties import Act, duty_refusal
from governance.identity.signing import Signer
from governance.log.ledger import Ledger, LedgerEntry
from governance.registry.champion import champion, recorded
from governance.registry.recorder import mlflow_client
from governance.registry.retired import retirements
from governance.registry.versions import ModelFacts, approved_by_tag, set_champion

DOC_KIND = "alphagate.approval/1"


@dataclass(frozen=True)
class ApprovalOutcome:
    """What ``approve``/``reject`` recorded, the state after it, and the promotion if any."""

    entry: LedgerEntry
    state: PromotionState
    promoted: LedgerEntry | None = None
    previous_champion: str | None = None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


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
    graduation: dict | None = None,
) -> dict:
    """The JSON document an approver signs (all digests of what is being approved).

    ``accepted_findings`` (``[{id, digest, until}]``) are the findings of the validation
    accepted on the review path: the approver signs exactly those. ``graduation`` (a live
    approval in a tier with a paper stage): the graduation gate's outcome the approving
    command computed (``{passed, figures}``); the derived champion counts such an approval
    only with a pass (governance/registry/champion.py).
    """
    extra = {} if graduation is None else {"graduation": graduation}
    return {
        **extra,
        "kind": DOC_KIND,
        "model_name": facts.name,
        "model_version": facts.ref.version_text,
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
        "identity": "signed",
        "time": _now(),
    }


def _refuse(
    ledger: Ledger, facts: ModelFacts, signer, decision: str, message: str, **facts_more
) -> Forbidden:
    ledger.append(
        Action.APPROVAL_REFUSED,
        actor=signer.name if signer else "<none>",
        role=signer.role if signer else "unknown",
        subject=facts.ref.subject,
        payload={
            "model_name": facts.name,
            "model_version": facts.ref.version_text,
            "user": signer.name if signer else None,
            "decision": decision,
            "refusal": message,
            **facts_more,
        },
    )
    return Forbidden(message)


def sign_decision(
    ledger,
    facts,
    validation,
    *,
    signer,
    decision,
    reason,
    policy_hash,
    tier_name,
    action: str | None = None,
    graduation: dict | None = None,
) -> tuple[str, dict, dict]:
    """``(action, document, signed)``: the approval document of ``decision`` signed by ``signer``
    (``Signer.signed_payload``); ``action`` defaults to ``approval.granted`` or
    ``approval.rejected`` by ``decision``. One home for what an approver signs: the approving
    command records it, ``approve --sign-only`` prints it for the Prefect form."""
    from governance.findings.review import accepted_findings

    doc = approval_document(
        facts, validation, decision=decision, reason=reason, user=signer.name,
        role=signer.role, policy_hash=policy_hash, tier=tier_name,
        accepted_findings=accepted_findings(ledger, validation), graduation=graduation,
    )  # fmt: skip
    action = action or (
        Action.APPROVAL_GRANTED if decision == "approve" else Action.APPROVAL_REJECTED
    )
    subject = facts.ref.subject
    return action, doc, signer.signed_payload(action, doc, subject=subject)


def record_signed_decision(ledger, facts, validation, *, signer, **decision) -> LedgerEntry:
    """Sign the approval document with ``signer``'s key (:func:`sign_decision`, same
    keywords) and record it. ``signer`` may hold a signature made elsewhere (a Prefect form's
    answer, governance/decisions/ui_approval.py): the facts recorded are the signed ones."""
    action, doc, signed = sign_decision(ledger, facts, validation, signer=signer, **decision)
    copy = {k: signed["signed"][k] for k in doc}  # unsigned copies for readers that grep
    return ledger.append(
        action, actor=signer.name, role=signer.role, subject=signed["signed"]["subject"],
        payload={**copy, **signed},
    )  # fmt: skip


def _check_approver(ledger, facts, signer: Signer, act: Act, already=()) -> None:
    """The separation-of-duties refusals of approve and reject (recorded)."""
    reason = duty_refusal(
        act, signer.name, signer.role, developer=facts.developer, already=already,
        subject=f"{facts.name} v{facts.version}",
    )  # fmt: skip
    if reason:
        raise _refuse(ledger, facts, signer, act.value, reason)


def promote(
    ledger: Ledger, client, facts: ModelFacts, state: PromotionState, policy_hash: str,
    completed_seq: int | None = None,
):  # fmt: skip
    """Record ``model.promoted`` and move the alias; return ``(entry, previous_version)``.

    The entry is the *record* of the completion the signed approvals make
    (:func:`governance.registry.champion.champion`): it names the completing approval
    (``completed_seq``) and the validation, and nothing reads the champion from it.
    """
    from governance.findings.review import accepted_findings
    from governance.registry.versions import champion_version

    approvals = list(state.granted)
    validation = latest_validation(ledger, facts.ref)
    entry = ledger.append(
        Action.MODEL_PROMOTED,
        actor="alphagate",
        role="system",
        subject=facts.ref.subject,
        payload={
            "model_name": facts.name,
            "model_version": facts.ref.version_text,
            "mlflow_run_id": facts.run_id,
            "previous_champion": champion_version(client, facts.name),
            "developer": facts.developer,
            "approvals": approvals,
            "approved_by": approved_by_tag(approvals),
            "accepted_findings": accepted_findings(ledger, validation),
            "model_artifact_hash": facts.model_artifact_hash,
            "policy_hash": policy_hash,
            "completed_seq": completed_seq,
            "validation_entry_hash": validation.entry_hash if validation else None,
        },
    )
    previous = set_champion(client, facts.ref, entry.payload, entry.seq)
    return entry, previous


def promote_if_complete(
    ws: Workspace, ledger: Ledger, facts: ModelFacts, tier, policy_hash: str, validation=None,
    graduated: bool = False,
):  # fmt: skip
    """Record the promotion the signed approvals just completed, if they did; return
    ``(state, entry, previous)``.

    The approvals make the champion (:func:`governance.registry.champion.champion`); this
    records the completion once (``model.promoted``) and moves the alias to match.
    ``entry`` and ``previous`` are None when nothing was promoted. A tier with a paper
    stage promotes only when ``graduated`` (:func:`approve` passed the graduation gate at
    this approval): a Prefect-UI approval never promotes such a version.
    """
    state = compute_state(ws, ledger, facts, tier, validation)
    done = champion(ledger, facts.name, None, tier)
    if not state.complete or done is None or done.version != facts.version:
        return state, None, None
    if tier.paper is not None and not graduated:
        return state, None, None
    if recorded(ledger, done):
        return state, None, None
    entry, previous = promote(ledger, mlflow_client(ws), facts, state, policy_hash, done.seq)
    return compute_state(ws, ledger, facts, tier, validation), entry, previous


def _standing(ws, ledger, ref: ModelRef, signer: Signer, tier, action: str):
    """``(facts, validation, state)`` before an approval of ``action``; the role check and a
    retired version's refusal (recorded) come first."""
    facts = facts_for(ws, ledger, ref)
    validation = latest_validation(ledger, facts.ref)
    before = compute_state(ws, ledger, facts, tier, validation, action=action)
    _check_approver(ledger, facts, signer, Act.APPROVE)
    gone = retirements(ledger, facts.name).get(facts.version)
    if gone is not None:
        message = (
            f"approve: {facts.name} v{facts.version} was retired (seq {gone.seq}); it never returns"
        )
        raise _refuse(ledger, facts, signer, "approve", message)
    return facts, validation, before


def approve(
    ws: Workspace,
    ledger: Ledger,
    ref: ModelRef,
    signer: Signer,
    reason: str,
    *,
    tier,
    tier_name: str,
    policy_hash: str,
    graduation: Callable[[], Any] | None = None,
) -> ApprovalOutcome:
    """Sign and record an approval; promote when the tier's approvals are complete.

    A tier with a paper stage needs, before any live approval, the version's ``min_days``
    of paper and a pass of the graduation gate: ``graduation()`` evaluates it at this
    moment from the verified paper record (flows/graduation.py) and returns an object with
    ``passed``, ``findings`` and ``figures`` (validation/graduation.py ``Graduation``);
    None (a caller that cannot evaluate it) refuses, failing closed.

    Raises
    ------
    InputError
        Unknown model version (exit 2).
    Forbidden
        Self-approval, wrong role, the same user twice, a version whose latest validation
        did not pass or that was rejected, a paper stage short of ``min_days`` (recorded as
        ``approval.refused``; exit 4).
    GateHalt
        Gate ``graduation``: the paper record failed the graduation gate (recorded with
        its findings; exit 3).
    TamperDetected
        The paper record does not verify (recorded; exit 3).
    """
    facts, validation, before = _standing(ws, ledger, ref, signer, tier, Action.APPROVAL_GRANTED)
    passed = None
    if tier.paper is not None and not before.champion:
        refuse = functools.partial(_refuse, ledger, facts, signer, "approve")
        passed = graduation_pass(ledger, facts, tier.paper, graduation, refuse)
    if before.blocked:
        raise _refuse(ledger, facts, signer, "approve", "approve: " + "; ".join(before.blocked))
    _check_approver(ledger, facts, signer, Act.APPROVE, [g["user"] for g in before.granted])
    if before.champion:
        raise InputError(f"--model-version: {facts.name} v{facts.version} is already the champion")
    entry = record_signed_decision(
        ledger, facts, validation, signer=signer, decision="approve",
        reason=reason or "", policy_hash=policy_hash, tier_name=tier_name, graduation=passed,
    )  # fmt: skip
    state, promoted, previous = promote_if_complete(
        ws, ledger, facts, tier, policy_hash, validation, graduated=tier.paper is not None
    )
    return ApprovalOutcome(entry, state, promoted, previous)


def approve_for_paper(
    ws: Workspace,
    ledger: Ledger,
    ref: ModelRef,
    signer: Signer,
    reason: str,
    *,
    tier,
    tier_name: str,
    policy_hash: str,
) -> ApprovalOutcome:
    """Sign and record an approval for paper (``approval.paper``); when the tier's approvers
    are in, the version enters paper (governance/decisions/paper.py). Refusals as
    :func:`approve` (recorded, exit 4); a tier without a paper stage is exit 2."""
    if tier.paper is None:
        raise InputError(f"--stage paper: tier {tier_name!r} has no paper stage")
    facts, validation, before = _standing(ws, ledger, ref, signer, tier, Action.APPROVAL_PAPER)
    if before.blocked:
        message = "approve for paper: " + "; ".join(before.blocked)
        raise _refuse(ledger, facts, signer, "approve", message)
    _check_approver(ledger, facts, signer, Act.APPROVE, [g["user"] for g in before.granted])
    if entered(ledger, facts.ref) is not None:
        raise InputError(f"--model-version: {facts.name} v{facts.version} is already in paper")
    entry = record_signed_decision(
        ledger, facts, validation, signer=signer, decision="approve", reason=reason or "",
        policy_hash=policy_hash, tier_name=tier_name, action=Action.APPROVAL_PAPER,
    )  # fmt: skip
    state = compute_state(ws, ledger, facts, tier, validation, action=Action.APPROVAL_PAPER)
    started = None
    if state.complete:
        started = enter_paper(ws, ledger, facts, state.granted, policy_hash)
    return ApprovalOutcome(entry, state, started)


def reject(
    ws: Workspace,
    ledger: Ledger,
    ref: ModelRef,
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
    facts = facts_for(ws, ledger, ref)
    _check_approver(ledger, facts, signer, Act.REJECT)
    validation = latest_validation(ledger, facts.ref)
    entry = record_signed_decision(
        ledger, facts, validation, signer=signer, decision="reject",
        reason=reason, policy_hash=policy_hash, tier_name=tier_name,
    )  # fmt: skip
    return ApprovalOutcome(entry, compute_state(ws, ledger, facts, tier, validation))
