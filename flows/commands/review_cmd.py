"""``alphagate review``: a version's approvals gathered in Prefect (flows/review.py)."""

from __future__ import annotations

import argparse
import os
import sys

from flows.commands import add_config_arg, add_json_arg, config_path, version_number
from governance.ground.errors import Exit, InputError
from governance.ground.refs import ModelRef


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "review",
        help="wait in Prefect for each missing signed approval of a version",
        description="Pause a Prefect flow run for each approval the version still needs; "
        "each approver pastes the line `alphagate approve ... --sign-only` prints into the "
        "form in the Prefect UI. Needs a Prefect server the team reaches (`alphagate serve`; "
        "PREFECT_API_URL). Exit 0 when no approval is missing, 3 when the review ended "
        "without them (a wait timed out, or signatures cannot help: the line says why).",
    )
    p.add_argument("--model-version", required=True, type=version_number, metavar="N")
    p.add_argument("--model", default=None, metavar="NAME", help="registered model name")
    add_config_arg(p, "run config naming the model and policy")
    p.add_argument(
        "--timeout", type=int, default=None, metavar="S",
        help="seconds each wait lasts (default: the tier's approvals.ui_timeout_seconds)",
    )  # fmt: skip
    p.add_argument(
        "--submit", action="store_true",
        help="start the run on serve's worker (deployment version-review) and return",
    )  # fmt: skip
    add_json_arg(p)
    p.set_defaults(handler=_review)


def _review(args: argparse.Namespace) -> int:
    if not os.environ.get("PREFECT_API_URL"):
        raise InputError(
            "review: the team answers in the Prefect UI: run `alphagate serve` and export "
            "the PREFECT_API_URL it prints"
        )
    from flows.config import load_config

    config = load_config(config_path(args))
    params = {"model_version": args.model_version, "model": args.model, "timeout_s": args.timeout}
    if args.submit:
        return _submit(args, config, params)
    from prefect.exceptions import FailedRun

    from flows.commands import emit_json
    from flows.review import closing_line, review_flow, standing_now
    from governance.ground.workspace import Workspace

    state = review_flow(config=config, **params, return_state=True)
    if state.is_failed():
        failure = state.result(raise_on_failure=False)
        # FailedRun: a pause past its timeout, failed by the server (said on the terminal);
        # an AlphagateError is the CLI's one line, any other exception a bug's traceback
        if isinstance(failure, Exception) and not isinstance(failure, FailedRun):
            raise failure
    ref = ModelRef(args.model or config.model.name, args.model_version)  # parsed by the option
    here = standing_now(Workspace.from_env(), config, ref)
    print(closing_line(here))
    if state.is_failed():
        print(f"alphagate: review ended with approvals missing: {state.message}", file=sys.stderr)
    if args.json:
        emit_json(here)
    return Exit.HALTED if here["missing"] or state.is_failed() else Exit.DONE


def _submit(args: argparse.Namespace, config, params: dict) -> int:
    from prefect.deployments import run_deployment

    from flows.review import DEPLOYMENT

    run = run_deployment(
        DEPLOYMENT,
        parameters={"config": {"file": config.file}, **params},
        timeout=0,  # return once the run is scheduled: the worker runs it
    )
    ui = os.environ["PREFECT_API_URL"].removesuffix("/").removesuffix("/api")
    print(f"review of v{args.model_version}: flow run {run.id} ({ui}/runs/flow-run/{run.id})")
    if args.json:
        from flows.commands import emit_json

        emit_json({"flow_run_id": str(run.id), "model_version": args.model_version})
    return Exit.DONE
