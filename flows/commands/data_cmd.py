"""``alphagate data check [FILE] [--config FILE] [--json]``: ingest and the data-quality
gates alone, recorded.

The market file (FILE, else the config's ``data:`` section) through the market gate and,
when the config has ``sources:``, each source through its contract (read and typed: exit 2
naming the source, line and column) and its Great Expectations gate (issue 26), against the
market's universe at the as-of date. Exit 0 when no critical expectation failed (warnings
are printed), 3 when one did (one stderr line per failure, naming the source, column and
rule for a source), 2 when a file or contract cannot be read. ``--json`` adds ``sources``
(one summary each) and ``dataset_fingerprint``; ``ok``, ``critical_failures`` and
``warnings`` cover the market and every source.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import os
import sys

from flows.commands import add_json_arg, add_user_arg
from governance.ground.errors import Exit, InputError
from governance.ground.vocabulary import Action


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="market data")
    dsub = p.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    check = dsub.add_parser(
        "check", help="load a CSV/Parquet market file and run the data-quality gate"
    )
    check.add_argument("file", nargs="?", help="market file (default: the config's data:)")
    check.add_argument(
        "--config",
        metavar="FILE",
        help="run config whose data:, quality:, sources: and data.as_of apply",
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
    from governance.ground.workspace import Workspace
    from tasks.data.market import read_market_file
    from tasks.data.quality.gate import QualityConfig, evaluate_quality, record_quality
    from tasks.data.quality.report import readable_copy

    quality, as_of, cfg = QualityConfig(), None, None
    if args.config:
        from flows.config import load_config

        cfg = load_config(args.config)
        quality, as_of = cfg.quality, cfg.data.as_of
    elif args.file is None:
        raise InputError("data check: name a market FILE or a --config whose data: names one")
    as_of = args.as_of or as_of or dt.datetime.now(dt.UTC).date()

    if args.file is not None:
        long = read_market_file(args.file)
    else:
        from tasks.data.market import load_long

        long = load_long(cfg.data, cfg.base_dir)
    result = evaluate_quality(long, quality, as_of)
    tables, dataset = (), result.fingerprint
    if cfg is not None and cfg.sources:  # read and typed before anything is recorded
        from tasks.data.sources.record import read_sources

        tables, dataset = read_sources(cfg.sources, cfg.base_dir, result.fingerprint)
    actor = args.user or os.environ.get("ALPHAGATE_USER") or getpass.getuser()
    ctx = RunContext.open(Workspace.from_env(), actor=actor)
    checked = []
    try:
        code = _gate(lambda: record_quality(ctx, result, long))
        gate = ctx.ledger.last(Action.GATE_DATA_QUALITY)
        html_path = None
        if gate is not None:
            html_path = readable_copy(
                ctx.store, ctx.ws.home, result, gate.artifacts["quality_html"]
            )
        if tables:
            from tasks.data.sources.gate import check_source
            from tasks.data.sources.record import gate_sources

            universe = sorted(str(a) for a in long["asset"].dropna().unique())
            checked = [check_source(t, universe, as_of) for t in tables]
            code = max(code, _gate(lambda: gate_sources(
                ctx, tables, universe, as_of, dataset, results=checked)))  # fmt: skip
    finally:
        ctx.close()
    summary = result.summary()
    if tables:
        summary = {
            "ok": summary["ok"] and all(r.ok for r in checked),
            "critical_failures": summary["critical_failures"]
            + [line for r in checked for line in r.critical_failures],
            "warnings": summary["warnings"] + [line for r in checked for line in r.warnings],
            "fingerprint": summary["fingerprint"],
            "dataset_fingerprint": dataset,
            "sources": [r.summary() for r in checked],
        }
    if args.json:
        for w in summary["warnings"]:
            print(f"warning: {w}")
        emit_json(summary)
    else:
        print(_human(args.file or long.attrs.get("source", "?"), result, html_path, checked))
    return code


def _gate(record) -> int:
    """Run a recording gate; a halt prints its reasons on stderr, one line each (exit 3)."""
    from governance.ground.errors import GateHalt

    try:
        record()
    except GateHalt as halt:
        for reason in halt.reasons:
            print(f"alphagate: data_quality: {reason}", file=sys.stderr)
        return Exit.HALTED
    return Exit.DONE


def _human(path: str, result, html_path, sources=()) -> str:
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
    for r in sources:
        lines.append(
            f"source {r.source}: contract {r.contract_version} (owner {r.owner}), "
            f"fingerprint {r.fingerprint[:12]}: {'PASS' if r.ok else 'HALT'}"
        )
        lines += [f"  critical: {line}" for line in r.critical_failures]
        lines += [f"  warning: {line}" for line in r.warnings]
    return "\n".join(lines)
