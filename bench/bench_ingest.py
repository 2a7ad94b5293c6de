"""Ingest + data-quality gate: wall time and peak memory at 20, 500 and 2,000 assets.

Usage::

    .venv/bin/python bench/bench_ingest.py [--sizes 20 500 2000] [--days 2520]

For each size a child process generates a synthetic market (tasks.data.synthetic) and writes it
as CSV and Parquet; then, for each format, a fresh child process reads the file
(tasks.data.market.read_market_file), runs the Great Expectations gate
(tasks.data.quality.gate.run_quality_gate) and pivots it into a panel (tasks.data.market.to_panel). Each
child reports its own times and its peak resident memory (``ru_maxrss``), so that one
size's figures never include another's. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QUIET = {
    "GX_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
}


def _generate(n_assets: int, n_days: int, folder: str) -> dict:
    import datetime as dt

    from tasks.data.market import SyntheticConfig, load_synthetic

    t0 = time.perf_counter()
    spec = SyntheticConfig(n_assets=n_assets, n_days=n_days, seed=0).to_spec(dt.date.today())
    long = load_synthetic(spec)
    t_gen = time.perf_counter() - t0
    long.to_csv(Path(folder) / "market.csv", index=False)
    long.to_parquet(Path(folder) / "market.parquet", index=False)
    return {"generate_s": t_gen, "rows": len(long)}


def _check(path: str) -> dict:
    import datetime as dt
    import resource

    t0 = time.perf_counter()
    import great_expectations  # noqa: F401  (import cost reported apart from the gate)

    from tasks.data.market import read_market_file, to_panel
    from tasks.data.quality.gate import QualityConfig, run_quality_gate

    t_import = time.perf_counter() - t0
    t0 = time.perf_counter()
    long = read_market_file(path)
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = run_quality_gate(long, QualityConfig(), dt.date.today())
    t_gate = time.perf_counter() - t0
    t0 = time.perf_counter()
    panel = to_panel(long, fingerprint=result.fingerprint)
    t_panel = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "import_s": t_import,
        "read_s": t_read,
        "gate_s": t_gate,
        "panel_s": t_panel,
        "ok": result.ok,
        "shape": list(panel.close.shape),
        "peak_mb": peak_kib / 1024,
    }


def _child(mode: str, *args: str) -> dict:
    env = {**os.environ, **QUIET, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 500, 2000])
    parser.add_argument("--days", type=int, default=2520)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, *rest = args.child
        fn = _generate if mode == "generate" else _check
        res = fn(int(rest[0]), int(rest[1]), rest[2]) if mode == "generate" else fn(rest[0])
        print(json.dumps(res, default=str))
        return

    print(f"ingest + data-quality gate, synthetic markets x {args.days} business days")
    print(f"{'assets':>6} {'rows':>10} {'format':>7} {'read s':>7} {'gate s':>7} "
          f"{'panel s':>7} {'total s':>7} {'import s':>8} {'peak MB':>8} {'gate':>5}")  # fmt: skip
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as folder:
            gen = _child("generate", str(n), str(args.days), folder)
            for fmt in ("csv", "parquet"):
                r = _child("check", str(Path(folder) / f"market.{fmt}"))
                total = r["read_s"] + r["gate_s"] + r["panel_s"]
                print(
                    f"{n:>6} {gen['rows']:>10} {fmt:>7} {r['read_s']:>7.2f} {r['gate_s']:>7.2f} "
                    f"{r['panel_s']:>7.2f} {total:>7.2f} {r['import_s']:>8.2f} {r['peak_mb']:>8.0f} "
                    f"{'pass' if r['ok'] else 'HALT':>5}"
                )
    print(
        "(peak MB: the checking process's peak resident memory, interpreter and imports included;"
    )
    print(" total = read + gate + panel; imports of pandas, GX and the stack are shown apart)")


if __name__ == "__main__":
    main()
