"""``alphagate serve`` and ``alphagate ui``: the local services (flows/serve.py)."""

from __future__ import annotations

import argparse

from flows.serve import LOOPBACK


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


def _serve(args: argparse.Namespace) -> int:
    from flows.serve import serve
    from governance.workspace import Workspace

    return serve(
        Workspace.from_env(),
        host=args.host,
        prefect_port=args.prefect_port,
        mlflow_port=args.mlflow_port,
    )


def _ui(args: argparse.Namespace) -> int:
    from flows.serve import ui
    from governance.workspace import Workspace

    return ui(Workspace.from_env(), host=args.host, port=args.port)
