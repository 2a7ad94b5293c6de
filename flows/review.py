"""The review flow: one version's approvals gathered in Prefect, one signature at a time.

A team reviews a validated version in one flow run (deployment ``version-review`` in
prefect.yaml; ``alphagate review --model-version N``). The run reads where the version
stands (:func:`governance.decisions.standing.standing`, the view every other screen shows)
and, while a role's approval is missing, pauses with
``pause_flow_run(wait_for_input=ReviewSignature)``. The form in the Prefect UI, and a line
in the run's log and on its terminal, say what it waits for: the role, who may give it,
the exact ``alphagate approve ... --sign-only`` command (``--model`` and ``--config``
named) and the validation report on the MLflow server (an ``http(s)`` URL).

The answer is the one line that command printed: an approval document signed by the
approver's own key. It is checked and recorded by governance's one path for a signed form
answer (:func:`governance.decisions.ui_approval.settle_signed`: the signature, the signer's
enrolled role and the stage's act, then the approving command's own function, with all
its checks: this version's model hash and latest validation, four eyes, never the
developer, a signature counted once, paper days and the graduation gate for live). A refused line is recorded as
``approval.refused``; the run says why and waits again. When no approval is missing the
run ends with the version's new standing; the approval that completes the tier's
approvals promotes it, exactly as ``alphagate approve`` would.

The ledger is opened for each read and each answer, never across a pause: a paused run
holds no connection, transaction or lock, so the team's ``--sign-only`` commands and every
other command run while it waits.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from prefect import flow, get_run_logger
from prefect.input import RunInput
from pydantic import Field

from flows.config import AlphagateConfig
from flows.halting import quiet_expected_failures
from flows.ui_form import report_url, sign_only_command
from governance.decisions.standing import Stage, eligible, standing
from governance.ground.errors import Forbidden, InputError
from governance.ground.refs import ModelRef
from governance.ground.workspace import Workspace
from governance.log.readtime import verified_ledger

#: The deployment of prefect.yaml that runs the review flow on ``serve``'s worker.
DEPLOYMENT = "version-review/version-review"
#: Stages in which a signature can still move the version on: approvals for paper (a tier
#: with a paper stage) or for live; in paper, once its paper days are marked.
OPEN = (Stage.AWAITING_APPROVAL, Stage.PAPER)
#: Longest pasted line: a signed approval document is about 2 KB; ten times that bounds
#: what a form answer makes the flow parse.
MAX_LINE = 20_000


class ReviewSignature(RunInput):
    """The form the paused review shows in the Prefect UI: one field, the signed line."""

    signature: str = Field(
        title="Signed approval",
        min_length=1,
        max_length=MAX_LINE,
        description="the one line `alphagate approve ... --sign-only` printed (JSON)",
    )


@dataclass(frozen=True)
class Wait:
    """What a paused review waits for: a signature of ``role`` on the version ``ref`` for
    ``stage`` (``paper`` or ``live``)."""

    ref: ModelRef
    stage: str
    role: str
    missing: tuple[str, ...]
    approvers: tuple[str, ...]  # enrolled users who may give it
    command: str  # the --sign-only command of the first of them
    report: str  # the validation report: an http(s) URL, or why there is none

    @property
    def what(self) -> str:
        return f"a {self.role}'s signed approval" + (" for paper" if self.stage == "paper" else "")

    def line(self) -> str:
        """The terminal's and the run log's line."""
        who = ", ".join(self.approvers) or f"no enrolled {self.role} may sign"
        return (
            f"review {self.ref}: waiting for {self.what}"
            f" ({who}); still missing: {', '.join(self.missing)}; sign with: {self.command};"
            f" report: {self.report}"
        )

    def markdown(self, refused: str | None = None) -> str:
        """The form's description in the Prefect UI."""
        head = f"**Refused:** {refused}\n\n" if refused else ""
        who = ", ".join(self.approvers) or f"no enrolled {self.role} may sign"
        return (
            f"{head}**{self.ref} waits for {self.what}**"
            f" (who may give it: {who}; still missing: {', '.join(self.missing)}).\n\n"
            f"Validation report: {self.report}\n\nRun, with your own key:\n\n"
            f"`{self.command}`\n\nand paste the one line it prints below."
        )


def next_wait(ws: Workspace, ref: ModelRef, config_file: str | None, tier=None):
    """The :class:`Standing` of the version ``ref`` and, when a signature can move it on, the
    :class:`Wait` for the first missing role (else None): for paper while the version's tier
    trades on paper first, for live once it is in paper with its paper days marked."""
    from governance.decisions.promotion import latest_validation
    from governance.identity.users import load_registry

    with verified_ledger(ws, "review") as ledger:
        here = standing(ws, ledger, ref, tier)
        if here.stage not in OPEN or not here.missing or _short_of_paper(here):
            return here, None
        stage = "paper" if here.paper_first else "live"
        role = here.missing[0]
        taken = {a["user"] for a in here.approvals} | {here.developer}
        who = tuple(eligible(load_registry(ledger), role, taken))
        validation = latest_validation(ledger, ref)
        run_id = validation and ledger.entries_between(validation.seq, validation.seq)[0]
        run_id = run_id.payload.get("mlflow_run_id") if run_id else None
    signer = who[0] if who else f"<{role}>"
    command = sign_only_command(ref, signer, config_file, stage)
    link = report_url(ws, run_id)
    return here, Wait(ref, stage, role, here.missing, who, command, link)


def _short_of_paper(here) -> bool:
    """In paper with fewer paper days marked than its tier needs: no signature helps yet."""
    life = here.lifecycle
    return bool(
        here.stage is Stage.PAPER and life is not None and life.min_paper_days is not None
        and (life.paper_days or 0) < life.min_paper_days
    )  # fmt: skip


def standing_now(ws: Workspace, config: AlphagateConfig, ref: ModelRef) -> dict:
    """The version's standing (``Standing.to_json()``) under the tier in force, read now."""
    from governance.policy.config import tier_for

    tier = tier_for(config, strategy=ref.name).tier
    with verified_ledger(ws, "review") as ledger:
        return standing(ws, ledger, ref, tier).to_json()


def settle(ws: Workspace, ref: ModelRef, blob: str, in_force, flow_run_id=None, stage="live"):
    """Record one signed line as the approval for ``stage`` ``alphagate approve`` would
    record (:func:`governance.decisions.ui_approval.settle_signed` with
    :func:`flows.graduation.approval_act`); ``(decision, refusal or None)``.

    Everything recorded is derived into the views (MLflow, Prefect) before returning.
    """
    from flows.graduation import approval_act
    from flows.views import derive
    from governance.decisions.promotion import facts_for, latest_validation
    from governance.decisions.ui_approval import settle_signed

    with verified_ledger(ws, "review") as ledger:
        before = ledger.head()[0]
        facts = facts_for(ws, ledger, ref)
        validation = latest_validation(ledger, facts.ref)
        act = approval_act(ws, ledger, facts.ref, in_force, stage)
        decision = settle_signed(
            ws, ledger, facts, validation, blob, stage=stage, tier=in_force.tier, act=act,
            flow_run_id=flow_run_id,
        )  # fmt: skip
        derive(ws, ledger, ledger.entries(after_seq=before))
    refusal = decision.entry.payload.get("refusal") if decision.outcome == "refused" else None
    return decision, refusal


def say(line: str) -> None:
    """One line in the run's log (Prefect UI) and on the terminal that runs the flow."""
    get_run_logger().info(line)
    print(line, file=sys.stderr, flush=True)


@flow(name="version-review", log_prints=False)
def review_flow(
    config: AlphagateConfig,
    model_version: int,
    model: str | None = None,
    timeout_s: int | None = None,
    poll_interval: int = 10,
) -> dict:
    """Wait for each missing signed approval of ``model`` (default ``config.model.name``)
    v``model_version`` in turn; end with its standing (``Standing.to_json()``).

    ``timeout_s`` bounds each wait (default: the tier's ``approvals.ui_timeout_seconds``).
    A wait that times out fails the run (Prefect's server fails a pause past its timeout);
    its last log line says what it waited for, and nothing is recorded: no one decided.
    """
    from prefect.exceptions import FlowPauseTimeout
    from prefect.flow_runs import pause_flow_run
    from prefect.runtime import flow_run
    from prefect.states import Failed

    from governance.policy.config import tier_for

    quiet_expected_failures()
    ws = Workspace.from_env().ensure()
    ref = ModelRef.parse(model or config.model.name, model_version)  # the deployment's parameters
    in_force = tier_for(config, strategy=ref.name)
    timeout = timeout_s or in_force.tier.approvals.ui_timeout_seconds
    refused = None
    while True:
        here, wait = next_wait(ws, ref, config.file, in_force.tier)
        if wait is None:
            say(closing_line(here.to_json()))
            return here.to_json()
        say(wait.line() if refused is None else f"refused: {refused}; {wait.line()}")
        form = ReviewSignature.with_initial_data(description=wait.markdown(refused))
        try:
            answer = pause_flow_run(
                wait_for_input=form, timeout=timeout, poll_interval=poll_interval
            )
        except FlowPauseTimeout:
            message = f"no signed approval within {timeout} s; {wait.line()}"
            say(message)
            return Failed(name="Unsigned", message=message[:1000], data=here.to_json())
        try:
            _, refused = settle(ws, ref, answer.signature, in_force, flow_run.id, wait.stage)
        except (Forbidden, InputError) as exc:  # refused before anything was recorded
            refused = str(exc)


def closing_line(here: dict) -> str:
    """The run's last line from a version's standing (``Standing.to_json()``): where it
    stands now and, when signatures cannot move it on, why."""
    done = f"review {here['model_name']} v{here['version']}: {here['stage']}"
    if here["approvals"]:
        done += "; approved by " + ", ".join(
            f"{a['user']} ({a['role']})" for a in here["approvals"]
        )
    if not here["missing"]:
        return done
    life = here.get("lifecycle") or {}
    if here["stage"] == Stage.PAPER.value and life.get("min_paper_days") is not None:
        return done + (
            f"; {life.get('paper_days') or 0} of {life['min_paper_days']} paper days marked:"
            " review again once they are (the live approvals sign the graduation gate's pass)"
        )
    why = "; ".join(here["next"]) or "a new version must fix its findings"
    return done + f"; no signature can approve it now; next: {why}"


def hand_off(config_file: str | None, ref: ModelRef) -> list[str]:
    """The pipeline's approval gate hands a version that awaits approvals to its review
    (``governance.ui_approval``; issue 29): the lines the run prints and notes. They name the
    ``alphagate review`` command and, when ``serve`` deployed ``version-review`` on the
    server, the review run started there (its URL in the Prefect UI). The pipeline never
    pauses for a person: approvals take days, and a paused pipeline run would hold the
    run's ledger and the next schedule; the review run holds nothing while it waits."""
    import os

    command = f"alphagate review --model {ref.name} --model-version {ref.version}"
    command += f" --config {config_file}" if config_file else ""
    lines = [f"review {ref} in Prefect: {command}"]
    api = os.environ.get("PREFECT_API_URL")
    if not api:
        return lines
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    params = {"config": {"file": config_file}, "model_version": ref.version, "model": ref.name}
    try:
        run = run_deployment(DEPLOYMENT, parameters=params, timeout=0, as_subflow=False)
    except ObjectNotFound:
        return [*lines, f"no deployment {DEPLOYMENT} on {api} (`alphagate serve` deploys it):"
                " run the command above"]  # fmt: skip
    ui = api.removesuffix("/").removesuffix("/api")
    return [*lines, f"review run started on serve's worker: {ui}/runs/flow-run/{run.id}"]
