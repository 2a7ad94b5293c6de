"""The ``alphagate`` command line.

Each module in ``flows/commands/`` adds its subcommands through ``register(subparsers)`` and
sets ``handler`` on its parsers. Handlers import the heavy stack (MLflow, Prefect, GX) lazily,
after :meth:`Workspace.activate` has set the environment those libraries read at import time.

Exit codes (shared/DESIGN.md): 0 done, 1 bug (traceback), 2 bad input, 3 gate halt,
4 forbidden. argparse itself exits 2 on usage errors.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from pathlib import Path

import flows.commands
from flows import temporary_server
from flows.db_templates import seed_mlflow, seed_prefect
from governance.ground.errors import AlphagateError
from governance.ground.text import printable
from governance.ground.workspace import Workspace


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alphagate",
        description="Governed model-risk workflow for ML portfolio management.",
    )
    parser.add_argument("--version", action="version", version=f"alphagate {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(flows.commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"flows.commands.{info.name}")
        module.register(sub)
    _fill_help(parser)
    # `alphagate --help` lists the commands in the order of the work, not alphabetically.
    rank = {name: i for i, name in enumerate(WORKFLOW)}
    sub._choices_actions.sort(key=lambda a: rank.get(a.dest, len(rank)))
    return parser


#: The commands in the order people use them (unknown ones go last, alphabetically).
WORKFLOW = (
    "init", "keys", "users", "policy", "config", "data", "run", "demo", "validate",
    "findings", "status", "approve", "reject", "review", "models", "rebalance", "risk", "stress",
    "orders", "fills", "monitor", "killswitch", "ledger", "evidence", "ui", "views", "serve",
    "witness",
)  # fmt: skip


#: One wording for the options many commands share, given to any that states no help.
SHARED_HELP = {
    "--model-version": "registered model version N",
    "--reason": "why, in words (recorded in the ledger, signed where the act is signed)",
    "--incident": "incident reference of the reset (ticket id)",
    "--out": "file to write",
    "--until": "last day the acceptance holds (YYYY-MM-DD)",
    "--status": "only findings in this status (open, accepted, expired, remediated)",
    "--role": "developer, validator, risk_officer or admin",
    "--port": "TCP port to listen on",
    "--prefect-port": "TCP port of the Prefect server and UI",
    "--mlflow-port": "TCP port of the MLflow server and UI",
    "file": "the file to read",
    "name": "user name",
    "finding_id": "finding id, e.g. F-<model>-v<N>-<n>",
}


def _fill_help(parser: argparse.ArgumentParser) -> None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _fill_help(sub)
        elif action.help is None:
            keys = [*action.option_strings, action.dest]
            action.help = next((SHARED_HELP[k] for k in keys if k in SHARED_HELP), None)


def _version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("alphagate")
    except importlib.metadata.PackageNotFoundError:  # a source tree without an install
        return "0+unknown"


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit code. ``argv`` None: this process is the ``alphagate``
    program, and leaves without collecting its garbage (:func:`_leave_quickly`)."""
    code = _main(argv)
    if argv is None:
        _leave_quickly()
    return code


def _leave_quickly() -> None:
    """Spare the interpreter's shutdown a full garbage collection of the command's heap.

    Everything a command does is done when it returns: output printed, ledger committed
    and closed, checkpoint handed to the witnesses. What remains is the interpreter's
    exit, whose collections walked the whole heap of MLflow, Prefect, pandas and cvxpy
    objects (7-9 s after the demo's summary, issue 28). ``gc.freeze`` moves every live
    object out of the collector's reach, so the exit does not walk them; atexit handlers
    (Prefect's, the temporary server's) still run and objects are still released.
    """
    import gc

    sys.stdout.flush()
    sys.stderr.flush()
    gc.disable()
    gc.freeze()


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if not getattr(args, "workspace", True):  # a witness service: no workspace, no ledger
        return _outside(args)
    ws = Workspace.from_env().activate()
    prefect_home = Path(os.environ["PREFECT_HOME"])
    seed_prefect(prefect_home)  # a new workspace's databases start migrated
    seed_mlflow(ws.tracking_uri)
    if getattr(args, "runs_flow", False):  # its server imports while this command does
        temporary_server.start(prefect_home)
    # the ledger's stack: after the launch
    from flows.view_refresh import after_command
    from flows.views import head_seq

    since = head_seq(ws)
    try:
        code = args.handler(args)
    except AlphagateError as exc:
        print(f"alphagate: {printable(exc)}", file=sys.stderr)
        code = exc.exit_code
    except KeyboardInterrupt:
        print("alphagate: interrupted", file=sys.stderr)
        return 130
    code = _witnessed(ws, int(code or 0), since or 0)
    # every act (a refusal too) shows in MLflow and Prefect, derived by a detached process
    # once the answer is out and the acts are durable (flows/view_refresh.py)
    after_command(ws)
    return code


def _outside(args: argparse.Namespace) -> int:
    try:
        return int(args.handler(args) or 0)
    except AlphagateError as exc:
        print(f"alphagate: {printable(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 0


def _witnessed(ws: Workspace, code: int, since: int) -> int:
    """Hand the ledger's new checkpoint to the witnesses after every command: exit 3 if one
    refuses it (the log does not extend what it holds), or if the command's entries could
    not get the policy's quorum (a kill-switch trip stands: governance/policy/witnesses.py)."""
    from governance.policy.witnesses import witness_after

    problem, fatal = witness_after(ws, since)
    if problem is None or code == 3:  # a halted command has said why, in one line
        return code
    print(f"alphagate: {problem}", file=sys.stderr)
    return (code or 3) if fatal else code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
