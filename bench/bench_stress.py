"""Stress at scale: 10,000 sampled scenarios x 1,000 accounts of 100 assets (risk target).

One universe of ``--assets`` names, a year of daily returns from the synthetic market;
``--scenarios`` filtered-bootstrap scenarios (tasks/risk/sampling.py); ``--accounts``
random long-only books. Timed separately: sampling, every loss (one matrix product),
the top-5 contributors of every (scenario, account) pair (``np.argpartition`` in chunks of
accounts) and each account's ES 99 %. Target (shared/DESIGN.md "Performance targets"):
<= 60 s on 2 cores. Memory: peak resident set size of the process. Usage::

    .venv/bin/python bench/bench_stress.py [--scenarios 10000] [--accounts 1000] [--assets 100]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks.data.market import to_panel
from tasks.data.synthetic import SyntheticSpec, generate_market
from tasks.risk.config import SampledConfig
from tasks.risk.sampling import filtered_bootstrap
from tasks.risk.stress import many_account_stress


def _returns(assets: int, days: int = 253) -> pd.DataFrame:
    close = to_panel(generate_market(SyntheticSpec(n_assets=assets, n_days=days))).close
    return close.pct_change(fill_method=None).iloc[1:]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", type=int, default=10_000)
    ap.add_argument("--accounts", type=int, default=1_000)
    ap.add_argument("--assets", type=int, default=100)
    ap.add_argument("--top", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2, help="threads for the contributors")
    args = ap.parse_args(argv)
    window = _returns(args.assets)
    weights = np.random.default_rng(1).dirichlet(np.full(args.assets, 2.0), size=args.accounts)

    t0 = time.perf_counter()
    sampled = filtered_bootstrap(window, SampledConfig(n_scenarios=args.scenarios, seed=0))
    t1 = time.perf_counter()
    losses, top = many_account_stress(sampled.returns, weights, args.top, n_jobs=args.jobs)
    t2 = time.perf_counter()
    var = np.quantile(losses, 0.99, axis=0)
    es = np.where(losses >= var, losses, 0.0).sum(axis=0) / (losses >= var).sum(axis=0)
    t3 = time.perf_counter()
    cpu = time.process_time()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    total = t3 - t0
    print(
        f"stress: {args.scenarios:,} scenarios x {args.accounts:,} accounts x "
        f"{args.assets} assets, top {args.top} contributors each"
    )
    print(f"  sampling (filtered bootstrap)   {t1 - t0:7.2f} s")
    print(f"  losses + contributors           {t2 - t1:7.2f} s")
    print(f"  VaR/ES 99 % per account         {t3 - t2:7.2f} s")
    print(f"  total                           {total:7.2f} s  (target <= 60 s; CPU {cpu:.1f} s)")
    print(
        f"  peak RSS {peak_mb:,.0f} MB; outputs: losses {losses.nbytes / 2**20:,.0f} MB, "
        f"contributor indices {top.nbytes / 2**20:,.0f} MB"
    )
    print(f"  median account ES 99 %: {np.median(es):.2%}")
    return 0 if total <= 60 else 1


if __name__ == "__main__":
    sys.exit(main())
