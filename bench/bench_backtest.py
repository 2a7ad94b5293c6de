"""Backtest time per rebalance at 500 assets (target <= 0.031 s, shared/DESIGN.md).

A synthetic market (tasks/data/synthetic.py) with 500 assets; the planted characteristic as
scores over the last year; 20-factor statistical risk model; long-only with per-asset and
sector caps, turnover cap, half-spread and 3/2-power impact costs. The figure is the model's
wall time per rebalance (risk model + alphas + DPP re-solve), median and mean over the
rebalances after the first (which compiles). Benchmarks are left out of the timing (they
are skfolio fits with their own cost). Usage::

    .venv/bin/python bench/bench_backtest.py [--assets 500] [--every 5] [--no-volume]
"""

# ruff: noqa: E402  (thread limits must be set before numpy is imported)
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks.data.market import to_panel
from tasks.data.synthetic import SyntheticSpec, generate_market, planted_characteristic
from tasks.portfolio.backtest import run_backtest
from tasks.portfolio.config import PortfolioConfig


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--assets", type=int, default=500)
    ap.add_argument("--days", type=int, default=600)
    ap.add_argument("--every", type=int, default=5, help="rebalance every N days")
    ap.add_argument("--no-volume", action="store_true", help="linear costs only")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    spec = SyntheticSpec(
        n_assets=args.assets,
        n_days=args.days,
        seed=5,
        n_sectors=10,
        with_volume=not args.no_volume,
    )
    long = generate_market(spec)
    panel = to_panel(long, "synthetic:bench")
    scores = planted_characteristic(long).iloc[-252:]
    cfg = PortfolioConfig(
        n_factors=20,
        max_weight=0.01,
        max_sector_weight=0.15,
        max_turnover=0.3,
        rebalance_every=args.every,
        benchmarks=[],
    )
    t0 = time.perf_counter()
    result = run_backtest(scores, panel, cfg)
    total = time.perf_counter() - t0
    per = result.solve_seconds.iloc[1:]
    print(
        f"{args.assets} assets, {len(result.solve_seconds)} rebalances, volume="
        f"{not args.no_volume}: per rebalance median {per.median():.4f}s, mean "
        f"{per.mean():.4f}s, first (compiles) {result.solve_seconds.iloc[0]:.3f}s; "
        f"whole backtest {total:.1f}s"
    )
    print(result.metrics_frame()[["annual_return", "sharpe", "turnover", "costs"]].to_string())
    print("target: <= 0.031 s per rebalance at 500 assets (shared/DESIGN.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
