"""The Prefect form on the approval gate: pause the flow, wait for an answer, record it.

When a Prefect server is configured, the pipeline may pause with
``pause_flow_run(wait_for_input=UIApproval, timeout=tier.approvals.ui_timeout_seconds)``;
a risk officer (or validator) fills the form in the Prefect UI (or another process calls
``prefect.flow_runs.resume_flow_run(id, run_input={...})``). What the answer counts for is
governance's decision (governance/decisions/ui_approval.py): a detached signature made with
``alphagate approve --model-version N --as USER --key FILE --sign-only`` makes it a signed
approval; without one it is a declared intent.
"""

from __future__ import annotations

from typing import Literal

from prefect.input import RunInput
from pydantic import Field, create_model

from governance.decisions.promotion import latest_validation
from governance.decisions.ui_approval import TIMEOUT_USER, UIDecision, settle_form_answer
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action, Subject
from governance.ground.workspace import Workspace
from governance.identity.users import list_users
from governance.registry.versions import ModelFacts


class UIApproval(RunInput):
    """The form shown in the Prefect UI on the approval gate (every field but the
    signature required)."""

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
    signature: str = Field(
        default="",
        title="Signature",
        description="the line `alphagate approve --model-version N --as YOU --key YOUR_KEY"
        " --sign-only` prints; without it your identity is only declared",
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


#: Where a validation's report sits among its MLflow run's artifacts (validation/run.py).
REPORT_ROUTE = "validation/report.html"


def report_url(ws: Workspace, validation_run: str | None) -> str:
    """The validation report as an ``http(s)`` URL of the MLflow server: the one
    ``$ALPHAGATE_MLFLOW_URL`` names (``alphagate serve`` sets it for its worker), else the
    tracking store when it is a server; else a sentence saying how to get one."""
    import os

    from flows.serve import MLFLOW_URL_ENV
    from governance.registry.recorder import run_page

    if not validation_run:
        return "no validation report recorded"
    base = os.environ.get(MLFLOW_URL_ENV) or None
    if link := run_page(ws, validation_run, REPORT_ROUTE, base=base):
        return link
    return (
        f"no MLflow server known (`alphagate serve` starts one; or set {MLFLOW_URL_ENV}) for"
        f" run {validation_run}"
    )


def sign_only_command(
    name: str, version, who: str, config_file: str | None, stage: str = "live"
) -> str:
    """The ``alphagate approve [--stage paper] ... --sign-only`` command ``who`` runs to
    sign an approval of ``name`` v``version`` for ``stage`` for the form: ``--model`` and
    ``--config`` named, so it signs under the tier and policy the form checks
    (governance/decisions/standing.py's hint)."""
    from governance.decisions.standing import APPROVE

    flag = " --stage paper" if stage == "paper" else ""
    cmd = APPROVE.format(stage=flag, name=name, version=version, who=who)
    return cmd + (f" --config {config_file}" if config_file else "") + " --sign-only"


def await_ui_approval(
    ctx,
    ref: ModelRef,
    tier,
    *,
    tier_name: str,
    poll_interval: int = 10,
    promote: bool = True,
    facts: ModelFacts | None = None,
    config_file: str | None = None,
) -> UIDecision:
    """Pause the current Prefect flow run for an approval form; record what comes back.

    Parameters
    ----------
    ctx : RunContext
        Its ``ws``, ``ledger`` and ``policy_hash`` are used.
    ref : ModelRef
        The candidate version waiting for approval.
    tier : governance.policy.schema.Tier
        ``approvals.ui_timeout_seconds`` bounds the pause; ``allow_declared_ui_approvals``
        decides whether an unsigned answer counts.
    tier_name : str
        The tier in force for the strategy (governance/policy/tiers.py), named in the recorded
        document: an answer under another tier than its validation's counts for nothing.
    facts : ModelFacts, optional
        Registry facts of the version (read from MLflow when omitted).
    config_file : str, optional
        The run config, named in the printed ``--sign-only`` command.

    Must run inside a flow against a Prefect server. A timeout is recorded as a rejection.
    With ``promote`` and a counted approval that completes the tier's approvals, the
    version is promoted (:func:`governance.decisions.approvals.promote_if_complete`).
    """
    from prefect.context import FlowRunContext
    from prefect.exceptions import FlowPauseTimeout
    from prefect.flow_runs import pause_flow_run

    ws, ledger, policy_hash = ctx.ws, ctx.ledger, ctx.policy_hash or ""
    if facts is None:
        from governance.decisions.promotion import facts_for

        facts = facts_for(ws, ledger, ref)
    run = FlowRunContext.get()
    flow_run_id = str(run.flow_run.id) if run and run.flow_run else None
    validation = latest_validation(ledger, facts.ref)
    verdict = validation.verdict if validation else "missing"
    entry_v = ledger.last(
        action=Action.VALIDATION_COMPLETED, subject=Subject.model(facts.name, facts.version)
    )
    run_v = entry_v.payload.get("mlflow_run_id") if entry_v else None
    sign = sign_only_command(facts.name, facts.version, "YOU", config_file)
    form = approval_form([u.name for u in list_users(ledger)]).with_initial_data(
        description=(
            f"**Approve {facts.name} v{facts.version}?** Validation **{verdict}**, developer"
            f" {facts.developer}; validation report: {report_url(ws, run_v)}.\n\nPaste the"
            f" signature printed by `{sign}`: without it your identity is declared, not"
            " signed, and counts only where the policy allows declared UI approvals."
        ),
    )
    timeout = tier.approvals.ui_timeout_seconds
    try:
        answer = pause_flow_run(wait_for_input=form, timeout=timeout, poll_interval=poll_interval)
        approve, user, reason = answer.approve, answer.user.strip(), answer.reason
        signature = answer.signature
    except FlowPauseTimeout:
        approve, user, reason = False, TIMEOUT_USER, f"no decision within {timeout} s"
        signature = ""
    return settle_form_answer(
        ws, ledger, facts, validation, promote=promote, approve=approve, user=user,
        reason=reason, signature=signature, tier=tier, tier_name=tier_name,
        policy_hash=policy_hash, flow_run_id=flow_run_id,
    )  # fmt: skip
