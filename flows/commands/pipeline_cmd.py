"""``alphagate run``, ``alphagate rebalance`` and ``alphagate demo``."""

from __future__ import annotations

import argparse
import sys

from flows.commands import add_config_arg, add_json_arg, add_user_arg, config_path
from governance.ground.errors import Exit


def register(sub: argparse._SubParsersAction) -> None:
    for name, help_text, handler in (
        ("run", "run the governed pipeline (retrain, validate, gates, portfolio)", _run),
        ("rebalance", "score with the champion and publish target weights", _rebalance),
    ):
        p = sub.add_parser(name, help=help_text)
        _add_run_args(p)
        add_json_arg(p)
        p.set_defaults(handler=handler, runs_flow=True)
    demo = sub.add_parser("demo", help="the governed pipeline on the demo data, with a guide")
    _add_run_args(demo)
    demo.set_defaults(handler=_demo, runs_flow=True)


def _add_run_args(p: argparse.ArgumentParser) -> None:
    add_config_arg(p)
    p.add_argument("--data", default=None, help="market data file overriding the config")
    add_user_arg(p)


def _execute(args: argparse.Namespace, flow_name: str):
    from flows.config import load_config

    config = load_config(config_path(args))
    if flow_name == "pipeline":
        from flows.pipeline import STACK
        from flows.pipeline import governed_pipeline as flow_fn
    else:
        from flows.rebalance import rebalance_flow as flow_fn

        STACK = ()
    params = {"data_path": args.data, "user": args.user, "key": args.key}
    return run_flow(flow_fn, config, meanwhile=STACK, **params)


def run_flow(flow_fn, config, meanwhile=(), **params):
    """Run ``flow_fn(config=config, **params)`` on the config's task runner, one run at a
    time in the workspace, with progress shown; return its :class:`RunSummary`.
    ``meanwhile``: modules to import while Prefect's temporary server starts
    (:func:`flows.temporary_server.wait_ready`)."""
    from flows.halting import summary_of
    from flows.progress import showing_progress
    from flows.runners import task_runner_for
    from flows.summary import RunSummary
    from governance.ground.workspace import Workspace

    flow_fn = flow_fn.with_options(task_runner=task_runner_for(config.runtime))
    from flows.temporary_server import flow_settings, wait_ready

    wait_ready(meanwhile)
    # concurrent runs wait, one at a time
    with Workspace.from_env().exclusive("run"), showing_progress(), flow_settings():
        state = flow_fn(config=config, **params, return_state=True)
    return RunSummary.from_json(summary_of(state))


def report(args: argparse.Namespace, summary) -> int:
    """Print the summary (or its JSON); a halt also says where and why in one line on
    stderr (exit 3), as every other refusal does."""
    from flows.commands import emit_json
    from flows.summary import halt_line, render

    if args.json:
        emit_json(summary.to_json())
    else:
        print(render(summary))
    if summary.status != "completed":
        print(halt_line(summary), file=sys.stderr)
    return summary.exit_code


def _run(args: argparse.Namespace) -> int:
    return report(args, _execute(args, "pipeline"))


def _rebalance(args: argparse.Namespace) -> int:
    return report(args, _execute(args, "rebalance"))


def _demo(args: argparse.Namespace) -> int:
    """The pipeline as the demo developer, then a guide to what a risk officer does next.

    Exits 0 when the governed chain ran to its end, whatever the gates decided: a halted
    candidate is a correct outcome of a demo, and the guide says why it halted.
    """
    from flows.config import load_config
    from flows.demo import ensure_demo_cast, guide
    from flows.summary import render
    from governance.ground.workspace import Workspace

    cfg = load_config(config_path(args))
    cast = cfg.governance.cast
    policy = cfg.resolve(cfg.policy.file)
    for line in ensure_demo_cast(Workspace.from_env().ensure(), cast, policy):
        print(line)
    args.user = args.user or next(m.name for m in cast if m.role.value == "developer")
    summary = _execute(args, "pipeline")
    print(render(summary))
    print()
    print(guide(summary, config_path(args)))
    return Exit.DONE if summary.stage != "data_quality" else Exit.HALTED
