"""Optimiser benchmark: our DPP optimiser against skfolio MeanRisk and PyPortfolioOpt.

Same problem for everyone (shared/DESIGN.md "Performance targets"): maximise
``alpha'w - gamma w'Sigma w`` with a 20-factor statistical risk model (factor form for us
and skfolio; PyPortfolioOpt takes the dense covariance, its only input), long-only, fully
invested, a per-asset cap, and an L1 turnover cap of 0.2 from equal weight. No costs.

Benchmark traps handled (DESIGN.md): skfolio's ``max_turnover`` bounds each asset, so the
L1 cap goes in through ``add_constraints``; PyPortfolioOpt's ``risk_aversion`` is ``2 gamma``
and its solver is named (CLARABEL).

Timings: ``first`` includes building/compiling; ``resolve`` is the median over re-solves
with new alphas (ours: DPP re-solve of the compiled problem; peers rebuild each time, which
is how they are used). ``gap`` is the relative difference of the achieved utility from
ours (positive: the peer found less utility). Usage::

    .venv/bin/python bench/bench_optimiser.py [--sizes 500 1000 2000] [--repeats 3]
"""

# ruff: noqa: E402  (thread limits must be set before numpy is imported)
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # 2 shared cores: no BLAS oversubscription

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import cvxpy as cp
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks.portfolio.alphas import grinold_alphas
from tasks.portfolio.config import PortfolioConfig
from tasks.portfolio.optimiser.core import Account, MarketInputs, PortfolioOptimiser
from tasks.portfolio.risk import RiskModel, statistical_factor_model

GAMMA = 5.0
TURNOVER = 0.2
N_FACTORS = 20


def make_problem(n: int, seed: int = 0, n_alphas: int = 4):
    """Risk model from simulated returns (3 true factors + noise), Grinold alphas."""
    rng = np.random.default_rng(seed)
    t = 252
    betas = rng.normal(1.0, 0.3, (n, 3))
    rets = rng.normal(0, 0.01, (t, 3)) @ betas.T + rng.normal(0, 0.015, (t, n))
    assets = [f"A{i:04d}" for i in range(n)]
    risk = statistical_factor_model(pd.DataFrame(rets, columns=assets), N_FACTORS)
    vol = risk.volatility()
    alphas = [
        grinold_alphas(pd.Series(rng.normal(size=n), index=assets), vol, 0.05)
        for _ in range(n_alphas)
    ]
    cap = max(0.05, 5.0 / n)
    return risk, alphas, cap


def utility(w: np.ndarray, alpha: pd.Series, risk: RiskModel) -> float:
    return float(alpha.to_numpy() @ w - GAMMA * risk.variance(w))


def ours(risk: RiskModel, alphas: list[pd.Series], cap: float, solver: str = "auto"):
    cfg = PortfolioConfig(
        solver=solver,
        max_weight=cap,
        max_sector_weight=None,
        max_turnover=TURNOVER,
        half_spread_bps=0.0,
        risk_aversion=GAMMA,
        min_trade_weight=0.0,  # the peers' problem has no dust rule: same optimum
    )
    n = risk.n_assets
    acct = Account(current=pd.Series(1.0 / n, index=risk.assets))
    t0 = time.perf_counter()
    opt = PortfolioOptimiser(risk.assets, risk.n_factors, cfg)
    first = opt.solve(acct, MarketInputs(alphas[0], risk))
    t_first = time.perf_counter() - t0
    times, weights = [], []
    for a in alphas[1:]:
        t0 = time.perf_counter()
        sol = opt.solve(acct, MarketInputs(a, risk))
        times.append(time.perf_counter() - t0)
        weights.append(sol.weights.to_numpy())
    assert first.status == "optimal"
    return t_first, times, weights, sol.solver


def _skfolio_prior(alpha: pd.Series, risk: RiskModel):
    from skfolio.prior import BasePrior, FactorModel, ReturnDistribution

    class GivenFactorPrior(BasePrior):
        """Hands skfolio our alphas and factor model (its factor-form covariance sqrt)."""

        def __init__(self, mu=None, model=None):
            self.mu = mu
            self.model = model

        def fit(self, X, y=None, **fit_params):
            m, k = self.model, self.model.n_factors
            fm = FactorModel(
                observations=np.arange(len(X)),
                asset_names=np.asarray(m.assets, dtype=object),
                factor_names=np.array([f"f{i}" for i in range(k)], dtype=object),
                factor_families=None,
                loading_matrix=m.exposures,
                exposures=None,
                factor_covariance=m.factor_cov,
                factor_mu=np.zeros(k),
                factor_returns=None,
                idio_covariance=m.specific_var,
                idio_mu=None,
                idio_returns=None,
                idio_variances=None,
            )
            self.return_distribution_ = ReturnDistribution(
                mu=np.asarray(self.mu, dtype=float),
                covariance=m.covariance(),
                returns=np.asarray(X, dtype=float),
                factor_model=fm,
            )
            return self

    return GivenFactorPrior(alpha.to_numpy(), risk)


def skfolio_solve(risk: RiskModel, alpha: pd.Series, cap: float) -> np.ndarray:
    from skfolio.optimization import MeanRisk, ObjectiveFunction

    n = risk.n_assets
    w0 = np.full(n, 1.0 / n)
    x = np.zeros((30, n))  # scenarios are unused by the variance measure
    model = MeanRisk(
        objective_function=ObjectiveFunction.MAXIMIZE_UTILITY,
        risk_aversion=GAMMA,
        prior_estimator=_skfolio_prior(alpha, risk),
        min_weights=0.0,
        max_weights=cap,
        add_constraints=lambda w: [cp.norm1(w - w0) <= TURNOVER],
        solver="CLARABEL",
    )
    model.fit(x)
    return np.asarray(model.weights_, dtype=float)


def pypfopt_solve(risk: RiskModel, alpha: pd.Series, cap: float) -> np.ndarray:
    from pypfopt import EfficientFrontier

    n = risk.n_assets
    w0 = np.full(n, 1.0 / n)
    ef = EfficientFrontier(
        alpha.to_numpy(), risk.covariance(), weight_bounds=(0.0, cap), solver="CLARABEL"
    )
    ef.add_constraint(lambda w: cp.norm1(w - w0) <= TURNOVER)
    ef.max_quadratic_utility(risk_aversion=2.0 * GAMMA)  # its objective: mu'w - (d/2) w'Sw
    return np.asarray(ef.weights, dtype=float)


def peer(fn, risk, alphas, cap):
    times, weights = [], []
    for a in alphas:
        t0 = time.perf_counter()
        w = fn(risk, a, cap)
        times.append(time.perf_counter() - t0)
        weights.append(w)
    return times[0], times[1:], weights[1:]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 2000])
    ap.add_argument("--repeats", type=int, default=3, help="re-solves per size")
    ap.add_argument("--solver", default="auto", help="PortfolioConfig.solver (clarabel: before)")
    ap.add_argument("--skip-pypfopt-above", type=int, default=1000, help="it takes ~5 s at 2,000")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    rows = []
    for n in args.sizes:
        risk, alphas, cap = make_problem(n, n_alphas=args.repeats + 1)
        first, resolve, w_ours, solver = ours(risk, alphas, cap, args.solver)
        u_ours = [utility(w, a, risk) for w, a in zip(w_ours, alphas[1:], strict=True)]
        row = {"n": n, "ours_first": first, "ours_resolve": statistics.median(resolve)}
        row["ours_solver"] = solver
        peers = {"skfolio": skfolio_solve}
        if n <= args.skip_pypfopt_above:
            peers["pypfopt"] = pypfopt_solve
        for name, fn in peers.items():
            p_first, p_resolve, w_peer = peer(fn, risk, alphas, cap)
            gaps = [
                (uo - utility(w, a, risk)) / abs(uo)
                for w, a, uo in zip(w_peer, alphas[1:], u_ours, strict=True)
            ]
            row[f"{name}_first"] = p_first
            row[f"{name}_resolve"] = statistics.median(p_resolve)
            row[f"{name}_gap"] = max(gaps, key=abs)
            row[f"{name}_max_dw"] = max(
                float(np.abs(a - b).max()) for a, b in zip(w_peer, w_ours, strict=True)
            )
        best = min(row[f"{p}_resolve"] for p in peers)
        row["ratio_vs_best_peer"] = row["ours_resolve"] / best
        rows.append(row)
        print(_line(row), flush=True)
    frame = pd.DataFrame(rows).drop(columns="ours_solver").set_index("n")
    with pd.option_context("display.width", 200, "display.float_format", "{:.4g}".format):
        print()
        print(frame.T.to_string())
    print(
        "\ntarget: ours_resolve <= 0.5 x best peer (ratio <= 0.5) and |gap| <= 1e-6 "
        "(shared/DESIGN.md)"
    )
    return 0


def _line(row: dict) -> str:
    parts = [
        f"n={row['n']}",
        f"ours first {row['ours_first']:.3f}s",
        f"resolve {row['ours_resolve']:.4f}s ({row['ours_solver']})",
    ]
    for p in ("skfolio", "pypfopt"):
        if f"{p}_resolve" in row:
            parts.append(f"{p} {row[f'{p}_resolve']:.4f}s gap {row[f'{p}_gap']:+.1e}")
    parts.append(f"ratio {row['ratio_vs_best_peer']:.2f}")
    return " | ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
