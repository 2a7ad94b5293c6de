"""The paper book's daily mark of many accounts (issue 24: 1,000 accounts of 100 assets).

Usage::

    .venv/bin/python bench/bench_paper_mark.py [--accounts 1000] [--assets 100] [--days 252]

Marks ``--days`` days of ``--accounts`` paper books (a rebalance every 21 days, drift in
between) with :func:`tasks.portfolio.paper.mark_day`, beside its floor measured in the same
run: the drift of the book alone (the state update any mark must make: gross return and
the drifted weights), so the ratio is the price of the trades' costs. Printed, never
asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--assets", type=int, default=100)
    ap.add_argument("--days", type=int, default=252)
    args = ap.parse_args()
    from tasks.portfolio.paper import mark_day

    rng = np.random.default_rng(0)
    a, n = args.accounts, args.assets
    returns = rng.normal(0.0003, 0.015, (args.days, n))
    targets = rng.dirichlet(np.ones(n), (args.days // 21 + 1, a))
    spread, impact = rng.uniform(2e-4, 1e-3, n), rng.uniform(0.0, 0.05, n)
    held = targets[0]
    t0 = time.perf_counter()
    for day in range(args.days):
        target = targets[day // 21] if day % 21 == 0 else held
        held = mark_day(held, target, returns[day], spread, impact).held
    marked = time.perf_counter() - t0
    t0 = time.perf_counter()
    book = targets[0]
    for day in range(args.days):
        r = returns[day]
        book = book * (1.0 + r) / (1.0 + book @ r)[:, None]
    floor = time.perf_counter() - t0
    print(
        f"paper mark of {a:,} accounts x {n} assets: {marked / args.days * 1e3:.2f} ms a day "
        f"({marked / floor:.1f}x the drift of the book alone, "
        f"{floor / args.days * 1e3:.3f} ms a day)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
