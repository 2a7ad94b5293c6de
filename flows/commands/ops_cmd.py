"""``alphagate serve``, ``alphagate ui`` (flows/serve.py) and ``alphagate monitor``."""

from __future__ import annotations

import argparse

from flows.commands import add_config_arg, add_json_arg, config_path
from flows.serve import LOOPBACK
from governance.ground.errors import Exit


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser(
        "serve",
        help="local Prefect server + worker + deployments, and an MLflow server",
        description="Start on loopback a Prefect server, a process worker, the deployments of "
        "prefect.yaml and an MLflow server on the workspace; Ctrl-C stops them all.",
    )
    s.add_argument("--host", default=LOOPBACK, help="interface to bind (default: loopback)")
    s.add_argument("--prefect-port", type=int, default=4200, metavar="N")
    s.add_argument("--mlflow-port", type=int, default=5000, metavar="N")
    s.set_defaults(handler=_serve)

    u = sub.add_parser("ui", help="MLflow UI on the workspace")
    u.add_argument("--host", default=LOOPBACK, help="interface to bind (default: loopback)")
    u.add_argument("--port", type=int, default=5000, metavar="N")
    u.set_defaults(handler=_ui)

    m = sub.add_parser(
        "monitor",
        help="monitor the champion once; a breach trips the kill switch (exit 3)",
        description="Drift, realised IC and its decay, drawdown and tracking error of the "
        "champion (flows/monitoring.py). Exit 3 when a check is in breach.",
    )
    add_config_arg(m)
    m.add_argument("--data", default=None, help="market data file overriding the config")
    add_json_arg(m)
    m.set_defaults(handler=_monitor, runs_flow=True)


def worker_identity(ws) -> str:
    """Who the scheduled runs will act as: the worker inherits this process's
    ``ALPHAGATE_USER`` and ``ALPHAGATE_KEY``. A deciding flow run with no enrolled identity
    is refused, so ``serve`` refuses first (exit 4, one line) rather than start schedules
    that would all fail overnight."""
    import os

    from governance.audit.door import prove_identity
    from governance.ground.errors import Forbidden
    from governance.identity.keys import resolve_key_path
    from governance.log.ledger import Ledger

    user = os.environ.get("ALPHAGATE_USER")
    if resolve_key_path(None, user) is None:
        raise Forbidden(
            "serve: the worker runs the scheduled flows as an enrolled person: export "
            "ALPHAGATE_USER and ALPHAGATE_KEY (their key file) first"
        )
    with Ledger.open(ws) as ledger:
        signer = prove_identity(ws, ledger, user, None, "serve")  # a wrong key: exit 4
    return f"{signer.name} ({signer.role})"


def _serve(args: argparse.Namespace) -> int:
    from flows.serve import serve
    from flows.view_refresh import catch_up
    from governance.ground.workspace import Workspace

    ws = Workspace.from_env()
    print(f"scheduled runs act as {worker_identity(ws)}", flush=True)
    catch_up(ws)  # the pages it serves say what the ledger says (flows/view_refresh.py)
    return serve(
        ws,
        host=args.host,
        prefect_port=args.prefect_port,
        mlflow_port=args.mlflow_port,
    )


def check_line(c: dict) -> str:
    """One monitoring check: name, status, value against its threshold, and why."""
    fmt = lambda x: "-" if x is None else f"{x:.4g}"  # noqa: E731
    return (
        f"{c['check']:<22} {c['status']:<8} {fmt(c['value']):>9} vs {fmt(c['threshold']):<9}"
        f" {c['detail']}"
    ).rstrip()


def _ui(args: argparse.Namespace) -> int:
    from flows.serve import ui
    from flows.view_refresh import catch_up
    from governance.ground.workspace import Workspace

    ws = Workspace.from_env()
    catch_up(ws)  # the pages it serves say what the ledger says (flows/view_refresh.py)
    return ui(ws, host=args.host, port=args.port)


def _monitor(args: argparse.Namespace) -> int:
    from flows.config import load_config
    from flows.halting import summary_of
    from flows.monitoring import monitoring_flow
    from flows.temporary_server import wait_ready

    wait_ready()
    state = monitoring_flow(load_config(config_path(args)), data_path=args.data, return_state=True)
    summary = summary_of(state)
    if args.json:
        from flows.commands import emit_json

        emit_json(summary)
    else:
        print(
            f"monitoring: {summary['status']}"
            + (f" as of {summary['as_of']}" if summary.get("as_of") else "")
        )
        for c in summary.get("checks", []):
            print(f"  {check_line(c)}")
        for line in summary.get("breaches", []):
            print(f"  breach: {line}")
        for fid in summary.get("findings_raised") or []:
            print(f"  finding raised: {fid} (alphagate findings show {fid})")
        for name, row in (summary.get("challengers") or {}).items():
            print(f"  {challenger_line(name, row)}")
        if summary.get("killswitch"):
            print(f"kill switch: {summary['killswitch']}")
    return Exit.HALTED if summary.get("status") == "breach" else Exit.DONE


def challenger_line(name: str, row: dict) -> str:
    """One signal's realised outcome beside the champion's (validation/challengers_live.py)."""

    def num(v):
        return "-" if v is None else f"{v:+.4f}"

    margin = "" if row.get("margin") is None else f", champion's margin {num(row['margin'])}"
    return (
        f"{name}: rank IC {num(row.get('rank_ic'))}, top-bottom {num(row.get('long_short'))}"
        f" over {row.get('rebalances', 0)} realised rebalances{margin}"
    )
