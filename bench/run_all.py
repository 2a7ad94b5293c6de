"""Run every benchmark under bench/ in turn and print their figures (``make bench``).

Every ``bench_*.py`` runs, in the order below first and any other after it by name (a new
bench cannot be left out), with the machine's load (``os.getloadavg``) printed before and
after each: figures taken on a shared machine are read with the load beside them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ORDER = [
    "bench_ingest.py",
    "bench_train.py",
    "bench_validation.py",
    "bench_optimiser.py",
    "bench_cold_solve.py",
    "bench_backtest.py",
    "bench_accounts.py",
    "bench_orders.py",
    "bench_use_checks.py",
    "bench_ledger.py",
    "bench_stress.py",
    "bench_pipeline.py",
    "bench_commands.py",
]


def benches() -> list[str]:
    """Every bench of this folder: :data:`ORDER` first, then the others by name."""
    found = sorted(p.name for p in BENCH.glob("bench_*.py"))
    return [n for n in ORDER if n in found] + [n for n in found if n not in ORDER]


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} cores"


def main() -> int:
    failed = []
    for name in benches():
        print(f"\n=== {name} ({load()})", flush=True)
        if subprocess.call([sys.executable, str(BENCH / name)]) != 0:
            failed.append(name)
        print(f"=== {name} done ({load()})", flush=True)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
