"""Approval in the Prefect UI: pause the flow on the approval gate and wait for a form.

When a Prefect server is configured, the pipeline may pause with
``pause_flow_run(wait_for_input=UIApproval, timeout=tier.approvals.ui_timeout_seconds)``;
a risk officer (or validator) fills the form in the Prefect UI (or another process calls
``prefect.flow_runs.resume_flow_run(id, run_input={...})``).

Prefect OSS cannot prove *who* resumed a run (shared/DESIGN.md), so such a decision is
recorded as a *declared*, unsigned identity (``identity: "declared"``): it counts towards
promotion only when the tier's ``approvals.allow_declared_ui_approvals`` is true. The same
separation-of-duties rules apply as on the command line; a refusal is recorded as
``approval.refused`` and returned (the flow goes on to its fallback). No decision within
the timeout is recorded as a rejection (``approval.rejected``, user ``<timeout>``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from prefect.input import RunInput
from pydantic import Field, create_model

from governance.approvals import (
    GRANTED,
    REFUSED,
    REJECTED,
    PromotionState,
    ValidationFacts,
    approval_document,
    compute_state,
    latest_validation,
    promote_if_complete,
)
from governance.canonical import sha256_json
from governance.ledger import Ledger, LedgerEntry
from governance.registry import ModelFacts, model_subject
from governance.users import Role, find_user, list_users
from governance.workspace import Workspace

TIMEOUT_USER = "<timeout>"


class UIApproval(RunInput):
    """The form shown in the Prefect UI on the approval gate (every field required)."""

    approve: bool = Field(
        title="Approve", description="checked: approve this version; unchecked: reject it"
    )
    user: str = Field(
        title="You are", min_length=1,
        description="an enrolled validator or risk officer, not the version's developer",
    )  # fmt: skip
    reason: str = Field(
        title="Reason", min_length=1, description="why: recorded in the ledger with your name"
    )


def approval_form(users: list[str]) -> type[UIApproval]:
    """The form with ``user`` as a choice among the enrolled ``users`` (a list in the UI).

    Every enrolled user is offered: the separation-of-duties rules refuse, and record, a
    developer's or a wrong role's decision, as on the command line.
    """
    if not users:
        return UIApproval
    choice = Literal[tuple(users)]  # type: ignore[valid-type]
    return create_model(
        "UIApproval",
        __base__=UIApproval,
        user=(
            choice,
            Field(title="You are", description=UIApproval.model_fields["user"].description),
        ),
    )


def _report_link(ws: Workspace, validation_run: str | None) -> str:
    """Where the validation report is: a link into the MLflow UI when tracking is an MLflow
    server, else the ``runs:/`` URI to open with ``alphagate ui``."""
    if not validation_run:
        return "no validation report recorded"
    route = "validation/report.html"
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    if uri.startswith(("http://", "https://")):
        from governance.registry import mlflow_client

        exp = mlflow_client(ws).get_run(validation_run).info.experiment_id
        link = f"{uri.rstrip('/')}/#/experiments/{exp}/runs/{validation_run}/artifacts/{route}"
        return f"[validation report]({link})"
    return f"validation report `runs:/{validation_run}/{route}` (open with `alphagate ui`)"


@dataclass(frozen=True)
class UIDecision:
    """What came back from the UI: ``approved``/``rejected``/``refused``/``timeout``."""

    outcome: str
    user: str
    reason: str
    entry: LedgerEntry
    counted: bool
    state: PromotionState
    promoted: LedgerEntry | None = None


def _refusal(ws: Workspace, facts: ModelFacts, user: str, state: PromotionState) -> str | None:
    """Why a declared decision by ``user`` is refused, or None."""
    if user == facts.developer:
        return f"ui approval: {user!r} developed v{facts.version} and may not decide on it"
    known = find_user(ws, user)
    if known is None:
        return f"ui approval: unknown user {user!r}"
    if known.role not in (Role.VALIDATOR, Role.RISK_OFFICER):
        return f"ui approval: {user!r} is a {known.role}, needs risk_officer/validator"
    if user in {g["user"] for g in state.granted}:
        return f"ui approval: {user!r} already approved v{facts.version}"
    return None


def record_declared_decision(
    ws: Workspace,
    ledger: Ledger,
    facts: ModelFacts,
    validation: ValidationFacts | None,
    *,
    approve: bool,
    user: str,
    reason: str,
    tier,
    tier_name: str,
    policy_hash: str,
    flow_run_id: str | None = None,
) -> tuple[str, LedgerEntry]:
    """Record an unsigned, declared UI decision (or its refusal); ``(outcome, entry)``."""
    subject = model_subject(facts.name, facts.version)
    state = compute_state(ws, ledger, facts, tier, validation)
    refusal = None if user == TIMEOUT_USER else _refusal(ws, facts, user, state)
    if approve and refusal is None and state.blocked:
        refusal = "ui approval: " + "; ".join(state.blocked)
    base = {
        "model_name": facts.name,
        "model_version": facts.version,
        "mlflow_run_id": facts.run_id,
        "user": user,
        "flow_run_id": flow_run_id,
    }
    if refusal is not None:
        entry = ledger.append(
            REFUSED, actor=user, role="declared", subject=subject,
            payload={**base, "decision": "approve" if approve else "reject", "refusal": refusal},
        )  # fmt: skip
        return "refused", entry
    known = find_user(ws, user)
    role = known.role.value if known else "none"
    doc = approval_document(
        facts, validation, decision="approve" if approve else "reject", reason=reason,
        user=user, role=role, policy_hash=policy_hash, tier=tier_name,
    )  # fmt: skip
    entry = ledger.append(
        GRANTED if approve else REJECTED,
        actor=user,
        role=role,
        subject=subject,
        payload={
            **base,
            "decision": doc["decision"],
            "role": role,
            "identity": "declared",
            "policy_hash": policy_hash,
            "document": doc,
            "document_digest": sha256_json(doc),
        },
    )
    if user == TIMEOUT_USER:
        return "timeout", entry
    return ("approved" if approve else "rejected"), entry


def await_ui_approval(
    ctx,
    model_name: str,
    version: int | str,
    tier,
    *,
    tier_name: str = "",
    poll_interval: int = 10,
    promote: bool = True,
    facts: ModelFacts | None = None,
) -> UIDecision:
    """Pause the current Prefect flow run for an approval form; record what comes back.

    Parameters
    ----------
    ctx : RunContext
        Its ``ws``, ``ledger`` and ``policy_hash`` are used.
    model_name, version : str, int
        The candidate version waiting for approval.
    tier : governance.policy.Tier
        ``approvals.ui_timeout_seconds`` bounds the pause; ``allow_declared_ui_approvals``
        decides whether the declared approval counts.
    facts : ModelFacts, optional
        Registry facts of the version (read from MLflow when omitted).

    Must run inside a flow against a Prefect server. A timeout is recorded as a rejection.
    With ``promote`` and a counted approval that completes the tier's approvals, the
    version is promoted (:func:`governance.approvals.promote_if_complete`).
    """
    from prefect.context import FlowRunContext
    from prefect.exceptions import FlowPauseTimeout
    from prefect.flow_runs import pause_flow_run

    ws, ledger, policy_hash = ctx.ws, ctx.ledger, ctx.policy_hash or ""
    if facts is None:
        from governance.registry import get_model_facts, mlflow_client

        facts = get_model_facts(mlflow_client(ws), model_name, version)
    run = FlowRunContext.get()
    flow_run_id = str(run.flow_run.id) if run and run.flow_run else None
    validation = latest_validation(ledger, facts.name, facts.version)
    verdict = validation.verdict if validation else "missing"
    entry_v = ledger.last(
        action="validation.completed", subject=model_subject(facts.name, facts.version)
    )
    run_v = entry_v.payload.get("mlflow_run_id") if entry_v else None
    form = approval_form([u.name for u in list_users(ws)]).with_initial_data(
        description=(
            f"**Approve {facts.name} v{facts.version}?** Validation **{verdict}**, developer"
            f" {facts.developer}; {_report_link(ws, run_v)}.\n\nYour identity is declared, not"
            " signed: it counts only if the policy allows declared UI approvals."
        ),
    )
    timeout = tier.approvals.ui_timeout_seconds
    try:
        answer = pause_flow_run(wait_for_input=form, timeout=timeout, poll_interval=poll_interval)
        approve, user, reason = answer.approve, answer.user.strip(), answer.reason
    except FlowPauseTimeout:
        approve, user, reason = False, TIMEOUT_USER, f"no decision within {timeout} s"
    outcome, entry = record_declared_decision(
        ws, ledger, facts, validation, approve=approve, user=user, reason=reason, tier=tier,
        tier_name=tier_name, policy_hash=policy_hash, flow_run_id=flow_run_id,
    )  # fmt: skip
    counted = outcome == "approved" and tier.approvals.allow_declared_ui_approvals
    promoted = None
    if counted and promote:
        state, promoted, _ = promote_if_complete(ws, ledger, facts, tier, policy_hash, validation)
    else:
        state = compute_state(ws, ledger, facts, tier, validation)
    return UIDecision(outcome, user, reason, entry, counted, state, promoted)
