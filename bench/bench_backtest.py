"""Backtest time per rebalance at 500 assets, ours beside cvxportfolio in the same run.

Targets (shared/DESIGN.md): <= 0.031 s per rebalance at 500 assets, and <= 0.5x
cvxportfolio's time per rebalance on the same market, costs and constraints.

The main figure (issue 28) is the comparison on identical inputs,
``bench/backtest_identical.py``: both policies solve the same problem on each rebalance
date from the same starting book (same forecasts, risk model, costs, constraints, no
cash), and their optima are checked to agree. What follows below is the earlier
comparison, kept and labelled as a different problem: cvxportfolio estimating its own
risk model and volatility, trading daily, with a cash account.

One synthetic market (tasks/data/synthetic.py) of 500 assets with volume; the planted
characteristic as scores over the last year. Both backtests rebalance weekly on the same
dates with the same problem:

- objective: Grinold alphas (computed once by ``tasks.portfolio.market`` and handed to
  cvxportfolio as its return forecast) - gamma * a 20-factor covariance - costs
  (5 bp half-spread + the 3/2-power impact ``b sigma |z|^1.5 sqrt(V / ADV)``, b = 1,
  amortised over the 5-day holding period);
- constraints: long only, fully invested, <= 1 % per asset, <= 15 % per sector, L1
  turnover <= 0.3 (cvxportfolio's ``TurnoverLimit`` is half the L1 norm: 0.15).

Differences that remain: cvxportfolio estimates its own 20-factor model (SVD of its
historical covariance) and volatility, and carries a cash account; ours the point-in-time
statistical factor model of ``tasks.portfolio.risk``. The figure for each is its policy's
wall time per rebalance (for ours: waiting for the risk model, alphas and impact, which
``run_backtest`` computes one rebalance ahead on a second thread, plus the solve; ``policy_times`` for
cvxportfolio, which trades at every date of its market data: daily here, with the costs
still amortised over five days), median over the rebalances after the first (which
compiles).

cvxportfolio is a benchmark-only dev dependency (GPL-3.0): it is never imported by
alphagate itself. Usage::

    .venv/bin/python bench/bench_backtest.py [--assets 500] [--no-volume] [--no-peer]
"""

# ruff: noqa: E402  (thread limits must be set before numpy is imported)
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks.data.market import to_panel
from tasks.data.synthetic import SyntheticSpec, generate_market, planted_characteristic
from tasks.portfolio.backtest import run_backtest
from tasks.portfolio.config import PortfolioConfig
from tasks.portfolio.market import MarketHistory

EVERY = 5  # trading days between rebalances (weekly)
TURNOVER = 0.3


def config(every: int = EVERY, solver: str = "auto") -> PortfolioConfig:
    return PortfolioConfig(
        solver=solver,
        n_factors=20,
        max_weight=0.01,
        max_sector_weight=0.15,
        max_turnover=TURNOVER,
        rebalance_every=every,
        benchmarks=[],
    )


def ours(scores: pd.DataFrame, panel, cfg: PortfolioConfig) -> tuple[pd.Series, float]:
    t0 = time.perf_counter()
    result = run_backtest(scores, panel, cfg)
    return result.solve_seconds, time.perf_counter() - t0


def cvxportfolio_backtest(scores: pd.DataFrame, panel, cfg: PortfolioConfig, with_volume: bool):
    """cvxportfolio on the same market, alphas, costs and constraints; per-period seconds."""
    import cvxportfolio as cvx

    history = MarketHistory(panel, cfg, scores.columns)
    values = scores.reindex(index=history.index, columns=history.assets).to_numpy(dtype=float)
    rows = [history.index.get_loc(d) for d in scores.index]
    alphas = pd.DataFrame(
        [history.inputs(pos, values[pos]).alpha.to_numpy() for pos in rows],
        index=scores.index,
        columns=history.assets,
    )
    close = panel.close[history.assets]
    returns = close.pct_change(fill_method=None).fillna(0.0)
    returns["USDOLLAR"] = 0.0
    volumes = None
    if with_volume:
        volumes = (close * panel.volume[history.assets]).fillna(0.0)
    sectors = panel.sectors.reindex(history.assets)
    exposure = pd.get_dummies(sectors).astype(float).T  # sectors x assets

    def cost():
        """A fresh cost object: one instance shared by policy and simulator fails."""
        if with_volume:
            # its default volume and volatility estimates (the window arguments fail to
            # fill their parameters under pandas 3)
            return cvx.StocksTransactionCost(
                a=cfg.half_spread_bps * 1e-4, b=cfg.impact_coefficient, pershare_cost=0.0
            )
        return cvx.TransactionCost(a=cfg.half_spread_bps * 1e-4, b=None)

    objective = (
        cvx.ReturnsForecast(r_hat=alphas)
        - cfg.risk_aversion * cvx.FactorModelCovariance(num_factors=cfg.n_factors)
        - (1.0 / cfg.rebalance_every) * cost()
    )
    constraints = [
        cvx.LongOnly(applies_to_cash=True),
        cvx.LeverageLimit(1.0),
        cvx.MaxWeights(cfg.max_weight),
        cvx.TurnoverLimit(TURNOVER / 2),  # cvxportfolio: half the L1 norm
        cvx.FactorMaxLimit(exposure.T, cfg.max_sector_weight),
    ]
    policy = cvx.SinglePeriodOptimization(objective, constraints, solver="CLARABEL")
    with tempfile.TemporaryDirectory() as tmp:
        market = cvx.UserProvidedMarketData(
            returns=returns,
            volumes=volumes,
            prices=close if with_volume else None,
            min_history=pd.Timedelta(0),
            base_location=Path(tmp),
        )
        sim = cvx.MarketSimulator(market_data=market, costs=[cost()], base_location=Path(tmp))
        result = sim.backtest(policy, start_time=scores.index[0], end_time=scores.index[-1])
        times = result.policy_times.dropna()
    return pd.Series(np.asarray(times, dtype=float), name="seconds")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--assets", type=int, default=500)
    ap.add_argument("--days", type=int, default=600)
    ap.add_argument("--no-volume", action="store_true", help="linear costs only")
    ap.add_argument("--solver", default="auto", help="PortfolioConfig.solver (clarabel: before)")
    ap.add_argument("--no-peer", action="store_true", help="skip cvxportfolio")
    ap.add_argument(
        "--no-own-estimates",
        action="store_true",
        help="skip the earlier comparison (cvxportfolio's own estimates, daily)",
    )
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    with_volume = not args.no_volume
    spec = SyntheticSpec(
        n_assets=args.assets, n_days=args.days, seed=5, n_sectors=10, with_volume=with_volume
    )
    long = generate_market(spec)
    panel = to_panel(long, "synthetic:bench")
    scores = planted_characteristic(long).iloc[-252:]
    cfg = config(solver=args.solver)
    print(f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    if not args.no_peer and with_volume:
        from backtest_identical import cvxportfolio_same, report

        print(report(cvxportfolio_same(scores, panel, cfg, TURNOVER), args.assets), flush=True)
        print(f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    print("the backtest (run_backtest) and, a different problem, cvxportfolio with its own"
          " estimates trading daily with cash:")  # fmt: skip
    seconds, total = ours(scores, panel, cfg)
    per = seconds.iloc[1:]
    print(
        f"ours ({cfg.solver.value}): {args.assets} assets, {len(seconds)} rebalances, volume={with_volume}: "
        f"per rebalance median {per.median():.4f}s, mean {per.mean():.4f}s, first (compiles) "
        f"{seconds.iloc[0]:.3f}s; whole backtest {total:.1f}s"
    )
    if not args.no_peer and not args.no_own_estimates:
        peer = cvxportfolio_backtest(scores, panel, cfg, with_volume).iloc[1:]
        print(
            f"cvxportfolio: {len(peer) + 1} rebalances: per rebalance median "
            f"{peer.median():.4f}s, mean {peer.mean():.4f}s"
        )
        print(
            f"ratio ours / cvxportfolio (median, a different problem): "
            f"{per.median() / peer.median():.2f}x"
        )
    print("targets: <= 0.031 s per rebalance at 500 assets; <= 0.5x cvxportfolio")
    return 0


if __name__ == "__main__":
    sys.exit(main())
