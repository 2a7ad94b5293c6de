"""``alphagate views refresh [--json]``: the MLflow views derived now (flows/view_refresh.py)."""

from __future__ import annotations

import argparse

from flows.commands import add_json_arg


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("views", help="the MLflow views derived from the ledger")
    vsub = p.add_subparsers(dest="views_command", required=True, metavar="ACTION")
    r = vsub.add_parser(
        "refresh",
        help="wait for the refresher the last act started, then derive what is left",
        description="Every act's MLflow pages are derived by a detached process after the "
        "command answers; this waits for it and derives whatever is still pending (a "
        "refresher killed or failed), so MLflow says what the ledger says when it returns.",
    )
    add_json_arg(r)
    r.set_defaults(handler=_refresh)


def _refresh(args: argparse.Namespace) -> int:
    from flows.view_refresh import derived_up_to, wait_for_views
    from flows.views import head_seq
    from governance.ground.workspace import Workspace
    from governance.log.ledger import Ledger

    ws = Workspace.from_env()
    derived = wait_for_views(ws)
    up_to = None
    if head_seq(ws) is not None:
        with Ledger.open(ws) as ledger:
            up_to = derived_up_to(ws, ledger)
    if args.json:
        from flows.commands import emit_json

        emit_json({"derived_now": len(derived), "up_to_seq": up_to})
    elif up_to is None:
        print("views: no ledger yet, nothing to derive")
    else:
        print(f"views derived up to ledger #{up_to} ({len(derived)} entries derived now)")
    return 0
