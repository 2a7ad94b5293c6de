"""Run every benchmark under bench/ in turn and print their figures (``make bench``).

Every ``bench_*.py`` runs, in the order below first and any other after it by name (a new
bench cannot be left out), with the machine's load (``os.getloadavg``) printed before and
after each, and each bench's wall and CPU time (its process tree's, ``RUSAGE_CHILDREN``):
figures taken on a shared machine are read with the load beside them. Issue 28's figures
come first (the solver, backtest, accounts, stress, ledger, commands and demo benches), so
that a run cut short by the load still has them.

``python bench/run_all.py bench_stress.py bench_ledger.py`` runs only the benches named, in
the same order and with the same lines around each.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ORDER = [
    "bench_optimiser.py",
    "bench_cold_solve.py",
    "bench_backtest.py",
    "bench_accounts.py",
    "bench_stress.py",
    "bench_ledger.py",
    "bench_use_checks.py",
    "bench_commands.py",
    "bench_pipeline.py",
    "bench_validation.py",
    "bench_ingest.py",
    "bench_train.py",
    "bench_orders.py",
]


def benches() -> list[str]:
    """Every bench of this folder: :data:`ORDER` first, then the others by name."""
    found = sorted(p.name for p in BENCH.glob("bench_*.py"))
    return [n for n in ORDER if n in found] + [n for n in found if n not in ORDER]


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} cores"


def main(argv: list[str]) -> int:
    chosen = benches()
    if unknown := sorted(set(argv) - set(chosen)):
        print(f"run_all: no bench {', '.join(unknown)} in {BENCH}", file=sys.stderr)
        return 2
    failed = []
    for name in [n for n in chosen if not argv or n in argv]:
        print(f"\n=== {name} ({load()}; {time.strftime('%H:%M:%S', time.gmtime())} UTC)",
              flush=True)  # fmt: skip
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        if subprocess.call([sys.executable, str(BENCH / name)]) != 0:
            failed.append(name)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        print(f"=== {name} done ({load()}; wall {time.perf_counter() - t0:.0f} s,"
              f" CPU {cpu:.0f} s)", flush=True)  # fmt: skip
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
