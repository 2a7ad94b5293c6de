"""Run every benchmark under bench/ in turn and print their figures (``make bench``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ORDER = [
    "bench_ingest.py",
    "bench_train.py",
    "bench_validation.py",
    "bench_optimiser.py",
    "bench_backtest.py",
    "bench_accounts.py",
    "bench_use_checks.py",
    "bench_pipeline.py",
]


def main() -> int:
    failed = []
    for name in ORDER:
        print(f"\n=== {name}", flush=True)
        if subprocess.call([sys.executable, str(BENCH / name)]) != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
