"""``alphagate data check FILE [--json]``: ingest and the data-quality gate alone, recorded.

Exit 0 when no critical expectation failed (warnings are printed), 3 when one did (one
stderr line per failed expectation), 2 when the file cannot be read.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import os
import sys

from flows.commands import add_json_arg, add_user_arg
from governance.ground.errors import Exit
from governance.ground.vocabulary import Action


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="market data")
    dsub = p.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    check = dsub.add_parser(
        "check", help="load a CSV/Parquet market file and run the data-quality gate"
    )
    check.add_argument("file")
    check.add_argument(
        "--config", metavar="FILE", help="run config whose quality: and data.as_of apply"
    )
    check.add_argument(
        "--as-of",
        dest="as_of",
        type=_iso_date,
        metavar="YYYY-MM-DD",
        help="as-of date for future rows and staleness (default: config, else today UTC)",
    )
    add_user_arg(check)
    add_json_arg(check)
    check.set_defaults(handler=_check)


def _iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date: {text!r}") from None


def _check(args: argparse.Namespace) -> int:
    from flows.commands import emit_json
    from governance.decisions.context import RunContext
    from governance.ground.errors import GateHalt
    from governance.ground.workspace import Workspace
    from tasks.data.market import read_market_file
    from tasks.data.quality.gate import QualityConfig, evaluate_quality, record_quality
    from tasks.data.quality.report import readable_copy

    quality, as_of = QualityConfig(), None
    if args.config:
        from flows.config import load_config

        cfg = load_config(args.config)
        quality, as_of = cfg.quality, cfg.data.as_of
    as_of = args.as_of or as_of or dt.datetime.now(dt.UTC).date()

    long = read_market_file(args.file)
    result = evaluate_quality(long, quality, as_of)
    actor = args.user or os.environ.get("ALPHAGATE_USER") or getpass.getuser()
    ctx = RunContext.open(Workspace.from_env(), actor=actor)
    try:
        try:
            record_quality(ctx, result, long)
            code = Exit.DONE
        except GateHalt as halt:
            for reason in halt.reasons:
                print(f"alphagate: data_quality: {reason}", file=sys.stderr)
            code = Exit.HALTED
        gate = ctx.ledger.last(Action.GATE_DATA_QUALITY)
        html_path = None
        if gate is not None:
            html_path = readable_copy(
                ctx.store, ctx.ws.home, result, gate.artifacts["quality_html"]
            )
    finally:
        ctx.close()
    if args.json:
        for w in result.warnings:
            print(f"warning: {w.message}")
        emit_json(result.summary())
    else:
        print(_human(args.file, result, html_path))
    return code


def _human(path: str, result, html_path) -> str:
    s = result.stats or {}
    lines = [
        f"data check: {path}",
        f"  {s.get('rows')} rows, {s.get('assets')} assets, {s.get('dates')} dates "
        f"({s.get('first_date')} .. {s.get('last_date')}), as-of {result.as_of}",
        f"  fingerprint {result.fingerprint}",
    ]
    lines += [f"  warning: {w.message}" for w in result.warnings]
    if result.ok:
        n = len(result.warnings)
        extra = f" ({n} warning{'s' if n > 1 else ''})" if n else ""
        lines.append(f"  result: PASS{extra}")
    else:
        n = len(result.critical_failures)
        lines.append(f"  result: HALT ({n} critical failure{'s' if n > 1 else ''})")
    if html_path is not None:
        lines.append(f"  report: {html_path}")
    return "\n".join(lines)
