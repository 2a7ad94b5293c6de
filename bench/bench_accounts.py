"""Many-account throughput: one compiled problem re-solved per account (operations target).

Every account shares the universe (100 assets), the alphas and the risk model; each has
its own holdings, restricted list and a per-asset bound override. Target (shared/DESIGN.md
"Performance targets"): >= 200 accounts per second on 2 cores. Usage::

    .venv/bin/python bench/bench_accounts.py [--accounts 1000] [--assets 100] [--jobs 1 2]
"""

# ruff: noqa: E402  (thread limits must be set before numpy is imported)
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one BLAS thread per process: 2 shared cores

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_optimiser import make_problem

from tasks.portfolio.accounts import solve_many
from tasks.portfolio.config import PortfolioConfig
from tasks.portfolio.optimiser.core import Account, MarketInputs, PortfolioOptimiser


def make_accounts(assets: pd.Index, count: int, seed: int = 1) -> list[Account]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        held = pd.Series(rng.dirichlet(np.full(len(assets), 20.0)), index=assets)
        restricted = tuple(rng.choice(assets, size=3, replace=False))
        upper = pd.Series({assets[rng.integers(len(assets))]: 0.005})
        out.append(Account(f"acct{i:05d}", current=held, restricted=restricted, upper=upper))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--assets", type=int, default=100)
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    risk, alphas, cap = make_problem(args.assets)
    cfg = PortfolioConfig(
        max_weight=cap,
        max_sector_weight=None,
        max_turnover=0.3,
        risk_aversion=5.0,
        restricted_mode="no_increase",
    )
    market = MarketInputs(alphas[0], risk)
    accounts = make_accounts(risk.assets, args.accounts)
    t0 = time.perf_counter()
    opt = PortfolioOptimiser(risk.assets, risk.n_factors, cfg, with_restricted=True)
    opt.solve(accounts[0], market)
    print(f"compile + first solve: {time.perf_counter() - t0:.3f}s")
    for jobs in args.jobs:
        t0 = time.perf_counter()
        sols = solve_many(opt, accounts, market, n_jobs=jobs)
        elapsed = time.perf_counter() - t0
        failed = sum(s.weights is None for s in sols)
        print(
            f"n_jobs={jobs}: {len(sols)} accounts in {elapsed:.2f}s = "
            f"{len(sols) / elapsed:.0f} accounts/s ({failed} failed; "
            f"median solver time {np.nanmedian([s.solve_time for s in sols]) * 1e3:.1f} ms, "
            f"{np.median([s.iterations for s in sols]):.0f} iterations)"
        )
    print("target: >= 200 accounts/s at 100 assets on 2 cores (shared/DESIGN.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
