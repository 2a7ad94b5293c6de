"""A fresh process's first solve: ours against skfolio's cold fit, each in a new process.

Every ``alphagate rebalance`` is a new process, so its optimiser compiles the cvxpy problem
before its first solve. Here, for ``--assets`` names, the long-short problem (dollar
neutral, per-asset bounds ``±cap``, gross leverage ``sum |w| <= 1``, CLARABEL: the forms
that stay on the cvxpy problem) is built and solved once by a new process of ours, and the
same problem by a new process of skfolio's ``MeanRisk`` (same alphas, same factor model
through bench_optimiser's prior, the leverage row through ``add_constraints``). Printed per
side: the import time and the first fit (build, compile, solve); then the ratios ours /
skfolio of the fit and of the whole process, and the relative utility gap (ours minus
skfolio's: the same optimum within the solvers' tolerance). Target (issue 28): ours'
first fit <= 2x skfolio's cold fit at 2,000 assets. Usage::

    .venv/bin/python bench/bench_cold_solve.py [--assets 1000 2000]
"""

# ruff: noqa: E402  (thread limits must be set before numpy is imported)
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # 2 shared cores: no BLAS oversubscription

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

GAMMA = 5.0
SIDES = ("ours", "skfolio")


def one(side: str, n: int) -> dict:
    """Child: import, build and solve once; the timings and the achieved utility."""
    t0 = time.perf_counter()
    import cvxpy as cp
    import numpy as np
    import pandas as pd

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_optimiser import _skfolio_prior, make_problem

    if side == "ours":
        from tasks.portfolio.config import PortfolioConfig
        from tasks.portfolio.optimiser.core import Account, MarketInputs, PortfolioOptimiser
    else:
        from skfolio.optimization import MeanRisk, ObjectiveFunction
    risk, alphas, cap = make_problem(n, n_alphas=1)
    alpha = alphas[0] * 20  # strong enough views that the bounds and leverage bind
    t_import = time.perf_counter() - t0
    t0 = time.perf_counter()
    if side == "ours":
        cfg = PortfolioConfig(
            mode="long_short", min_weight=-cap, max_weight=cap, max_gross_leverage=1.0,
            max_sector_weight=None, max_turnover=None, half_spread_bps=0.0,
            risk_aversion=GAMMA, min_trade_weight=0.0, solver="clarabel",
        )  # fmt: skip
        opt = PortfolioOptimiser(risk.assets, risk.n_factors, cfg)
        w = opt.solve(Account(), MarketInputs(alpha, risk)).weights.to_numpy()
    else:
        model = MeanRisk(
            objective_function=ObjectiveFunction.MAXIMIZE_UTILITY,
            risk_aversion=GAMMA,
            prior_estimator=_skfolio_prior(alpha, risk),
            min_weights=-cap,
            max_weights=cap,
            budget=0.0,
            add_constraints=lambda w: [cp.norm1(w) <= 1.0],
            solver="CLARABEL",
        )
        model.fit(np.zeros((30, n)))
        w = np.asarray(model.weights_, dtype=float)
    t_fit = time.perf_counter() - t0
    utility = float(pd.Series(w, index=risk.assets) @ alpha - GAMMA * risk.variance(w))
    return {"import_s": t_import, "fit_s": t_fit, "utility": utility}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--assets", type=int, nargs="+", default=[1000, 2000])
    ap.add_argument("--one", choices=SIDES, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(one(args.one, args.assets[0])))
        return 0
    for n in args.assets:
        row = {}
        for side in SIDES:
            cmd = [sys.executable, __file__, "--one", side, "--assets", str(n)]
            t0 = time.perf_counter()
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            row[side] = json.loads(out.strip().splitlines()[-1])
            row[side]["process_s"] = time.perf_counter() - t0
        ours, peer = row["ours"], row["skfolio"]
        gap = (ours["utility"] - peer["utility"]) / abs(ours["utility"])
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(
            f"n={n} | ours import {ours['import_s']:.2f}s first fit {ours['fit_s']:.3f}s"
            f" | skfolio import {peer['import_s']:.2f}s cold fit {peer['fit_s']:.3f}s"
            f" | ratio fit {ours['fit_s'] / peer['fit_s']:.2f}x (target <= 2)"
            f" process {ours['process_s'] / peer['process_s']:.2f}x"
            f" | gap {gap:+.1e} | load {load}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
