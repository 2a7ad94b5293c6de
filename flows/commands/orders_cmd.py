"""``alphagate orders export`` and ``alphagate fills import``: a book to the OMS and back.

Both run a Prefect flow (flows/orders.py) under the same identity rules as a rebalance.
``orders export`` exits 3 when the pre-send gate blocks the order set (or the kill switch
trips before it leaves); with many accounts a breach blocks only its account and the
others are sent (the JSON's ``stages.orders.blocked_accounts`` names them). ``--order-type
limit`` with ``--limit-offset-bp`` sends limit orders (FIX OrdType 2 with Price); a bad
value of either is exit 2 in one line before anything runs. ``fills import``
exits 2 naming the line of a malformed fills file, with nothing imported; its JSON's
``stages.fills`` carries ``cost_check`` (``excess_bp``, ``limit_bp``, ``breach``,
``finding_version``) and ``findings_raised`` (tasks/orders/cost_finding.py).
"""

from __future__ import annotations

import argparse

from flows.commands import add_config_arg, add_json_arg, add_user_arg, config_path
from flows.commands.pipeline_cmd import report, run_flow


def register(sub: argparse._SubParsersAction) -> None:
    orders = sub.add_parser("orders", help="orders in shares from the published book")
    osub = orders.add_subparsers(dest="orders_command", required=True, metavar="ACTION")
    export = osub.add_parser(
        "export",
        help="orders in shares and lots, pre-send checks, FIX 4.4 + CSV to the outbox",
        description="Turn the strategy's last published book into orders (shares rounded to "
        "lots), check them against the policy's orders: section, record them and write the "
        "FIX file and CSV to the outbox (exit 3 when the checks block them).",
    )
    add_config_arg(export)
    export.add_argument("--data", default=None, help="market data file overriding the config")
    export.add_argument(
        "--out", default=None, help="outbox folder (default: <workspace>/outbox/<strategy>)"
    )
    export.add_argument(
        "--instruments",
        default=None,
        help="instruments CSV: asset,lot_size[,currency,tradable,adv]",
    )
    export.add_argument(
        "--basket",
        action="store_true",
        help="one NewOrderList per account instead of NewOrderSingles",
    )
    export.add_argument(
        "--order-type",
        default="moc",
        metavar="moc|limit",
        help="market on close (default) or limit orders at --limit-offset-bp from the last "
        "close (buys above, sells below)",
    )
    export.add_argument(
        "--limit-offset-bp",
        default=None,
        metavar="BP",
        help="a limit order's distance from the last close in basis points (default 0)",
    )
    add_user_arg(export)
    add_json_arg(export)
    export.set_defaults(handler=_export, runs_flow=True)
    fills = sub.add_parser("fills", help="import fills: FIX execution reports or CSV")
    fsub = fills.add_subparsers(dest="fills_command", required=True, metavar="ACTION")
    imp = fsub.add_parser(
        "import",
        help="reconcile fills with the orders sent; the book then holds what was filled",
    )
    imp.add_argument("file", help="FIX file (one ExecutionReport per line) or CSV of fills")
    add_config_arg(imp)
    add_user_arg(imp)
    add_json_arg(imp)
    imp.set_defaults(handler=_import, runs_flow=True)


def _export(args: argparse.Namespace) -> int:
    from flows.config import load_config
    from flows.orders import orders_flow
    from tasks.orders.orders import order_kind

    _, offset_bp = order_kind(args.order_type, args.limit_offset_bp)  # exit 2, one line
    config = load_config(config_path(args))
    summary = run_flow(
        orders_flow, config, data_path=args.data, user=args.user, key=args.key, out=args.out,
        basket=args.basket, instruments=args.instruments, order_type=args.order_type,
        limit_offset_bp=None if args.limit_offset_bp is None else offset_bp,
    )  # fmt: skip
    return report(args, summary)


def _import(args: argparse.Namespace) -> int:
    from flows.config import load_config
    from flows.orders import fills_flow

    config = load_config(config_path(args))
    summary = run_flow(fills_flow, config, path=args.file, user=args.user, key=args.key)
    return report(args, summary)
