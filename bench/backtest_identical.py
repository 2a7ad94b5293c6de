"""bench_backtest's main figure: ours and cvxportfolio solving the same problems.

Both sides get, at each weekly rebalance date, the same inputs computed once by
``tasks.portfolio.market.MarketHistory``: our alphas (cvxportfolio's ``ReturnsForecast``), our
point-in-time factor model (its ``FactorModelCovariance`` with ``F = B'``, identity factor
covariance and ``d`` the specific variances), our half-spreads and 3/2-power impact
coefficients ``c_i`` (its ``TransactionCost``, with the impact multiplier set to ``c_i``
exactly: cvxportfolio's ``b sigma (V_hat / PV)^(1/2)`` would rescale it by the simulated
portfolio value) and the same constraints: long only, fully invested (``NoCash``: no
cash), <= 1 % per asset, <= 15 % per sector, L1 turnover <= 0.3, costs amortised over five
days. cvxportfolio's market holds only the rebalance dates (returns from one to the
next, no simulated costs), so it trades exactly there; its holdings before each trade are
the starting book of our solve on the same date (the first book: our solve from cash on the
first date, held into the second, where both start: cvxportfolio needs one past return). No dust rule (``min_trade_weight = 0``): cvxportfolio has none.

Per rebalance, each side's policy time: ours ``PortfolioOptimiser.solve`` (the market's
parameters set and the solve), cvxportfolio's ``values_in_time`` of its policy (its
parameters set from the frames and the solve), wall and process CPU.

Agreement: each date, our utility at both books (alpha - gamma w'Σw - costs / 5, in
return units), and the largest weight difference. The tolerance is the looser solver's:
cvxportfolio's CLARABEL at its default absolute gap, 1e-8 in return units (ours stops at
1e-7 basis points, 1e-11); an interior point also meets its constraints only to ~1e-8, so
the book that is a hair infeasible may score a hair higher. So the utilities must agree
to 1e-8 absolute (``UTILITY_TOL``); weights need not be unique (flat directions of the
optimum): their largest difference is printed, not asserted.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tasks.portfolio.config import PortfolioConfig
from tasks.portfolio.market import MarketHistory
from tasks.portfolio.optimiser.core import (
    Account,
    MarketInputs,
    PortfolioOptimiser,
    structural_factors,
)
from tasks.portfolio.optimiser.values import figures

UTILITY_TOL = 1e-8
CASH = "USDOLLAR"


def _inputs(scores: pd.DataFrame, panel, cfg: PortfolioConfig):
    history = MarketHistory(panel, cfg, scores.columns)
    values = scores.reindex(index=history.index, columns=history.assets).to_numpy(dtype=float)
    dates = scores.index[:: cfg.rebalance_every]
    inputs = {d: history.inputs(history.index.get_loc(d), values[history.index.get_loc(d)])
              for d in dates}  # fmt: skip
    return history, dates, inputs


def _frames(dates, inputs: dict[pd.Timestamp, MarketInputs], assets: pd.Index, cfg):
    """cvxportfolio's time-indexed frames of the same inputs."""
    alpha = pd.DataFrame([inputs[d].alpha.reindex(assets).fillna(0.0) for d in dates], index=dates)
    roots = {d: inputs[d].risk.factor_root() for d in dates}
    k = max(r.shape[1] for r in roots.values())
    F = pd.concat(
        {d: pd.DataFrame(np.pad(r, ((0, 0), (0, k - r.shape[1]))).T, columns=assets)
         for d, r in roots.items()}
    )  # fmt: skip
    d_var = pd.DataFrame([inputs[d].risk.specific_var for d in dates], index=dates, columns=assets)
    spread = cfg.half_spread_bps * 1e-4
    half = pd.DataFrame(
        [pd.Series(spread, index=assets) if inputs[d].half_spread is None
         else inputs[d].half_spread.reindex(assets).fillna(spread) for d in dates],
        index=dates,
    )  # fmt: skip
    impact = pd.DataFrame(
        [inputs[d].impact.reindex(assets).fillna(0.0) for d in dates], index=dates, columns=assets
    )
    return alpha, F, d_var, half, impact


def cvxportfolio_same(scores: pd.DataFrame, panel, cfg: PortfolioConfig, turnover: float):
    """Both policies on identical inputs; a frame per rebalance (times and agreement)."""
    import cvxportfolio as cvx

    cfg = cfg.model_copy(update={"min_trade_weight": 0.0})
    history, dates, inputs = _inputs(scores, panel, cfg)
    assets = history.assets
    alpha, F, d_var, half, impact = _frames(dates, inputs, assets, cfg)

    class ExactImpact(cvx.TransactionCost):
        """The impact multiplier is the coefficient given (ours), not rescaled by V/PV."""

        def values_in_time(self, current_portfolio_value, **kwargs):
            super().values_in_time(current_portfolio_value=current_portfolio_value, **kwargs)
            self._second_term_multiplier.value = np.asarray(self.sigma.current_value, float)

    timed = {}

    class Timed(cvx.SinglePeriodOptimization):
        def values_in_time_recursive(self, t, **kwargs):
            c0, w0 = time.process_time(), time.perf_counter()
            out = super().values_in_time_recursive(t=t, **kwargs)
            timed[t] = (time.process_time() - c0, time.perf_counter() - w0)
            return out

    cost = ExactImpact(a=half, b=1.0, sigma=impact, volume_hat=1.0)
    objective = (
        cvx.ReturnsForecast(r_hat=alpha)
        - cfg.risk_aversion * cvx.FactorModelCovariance(F=F, d=d_var)
        - (1.0 / cfg.rebalance_every) * cost
    )
    sectors = panel.sectors.reindex(assets)
    exposure = pd.get_dummies(sectors).astype(float)  # assets x sectors
    constraints = [
        cvx.LongOnly(),
        cvx.NoCash(),
        cvx.MaxWeights(cfg.max_weight),
        cvx.TurnoverLimit(turnover / 2),  # cvxportfolio: half the L1 norm
        cvx.FactorMaxLimit(exposure, cfg.max_sector_weight),
    ]
    policy = Timed(objective, constraints, solver="CLARABEL")
    close = panel.close[assets].reindex(dates)
    nxt = panel.close[assets].reindex([*dates[1:], panel.close.index[-1]])
    returns = pd.DataFrame(nxt.to_numpy() / close.to_numpy() - 1.0, index=dates, columns=assets)
    returns = returns.fillna(0.0)
    returns[CASH] = 0.0
    k = structural_factors(cfg, len(assets))
    ours = PortfolioOptimiser(assets, k, cfg, history.sectors, with_impact=True)
    first = ours.solve(Account(), inputs[dates[0]]).weights  # the first book, from cash
    pv = 1e6
    h0 = pd.concat([first * pv, pd.Series({CASH: 0.0})])
    with tempfile.TemporaryDirectory() as tmp:
        market = cvx.UserProvidedMarketData(
            returns=returns, min_history=pd.Timedelta(0), base_location=Path(tmp),
            cash_key=CASH,
        )  # fmt: skip
        sim = cvx.MarketSimulator(market_data=market, costs=[], base_location=Path(tmp))
        result = sim.backtest(policy, start_time=dates[1], end_time=dates[-1], h=h0)
    rows = []
    for t in [t for t in result.u.index if t in timed]:
        h = result.h.loc[t]
        w0 = (h / h.sum()).drop(CASH)
        theirs = ((result.h.loc[t] + result.u.loc[t]) / h.sum()).drop(CASH)
        c0, wall0 = time.process_time(), time.perf_counter()
        sol = ours.solve(Account(current=w0), inputs[t])
        cpu, wall = time.process_time() - c0, time.perf_counter() - wall0
        values = {p: v.value for p, v in ours.params.items()}
        mine = sol.weights.to_numpy()
        other = theirs.reindex(assets).to_numpy()
        u_mine = figures(mine, mine - w0.to_numpy(), values, cfg)[3]
        u_other = figures(other, other - w0.to_numpy(), values, cfg)[3]
        rows.append({
            "date": t, "ours_cpu": cpu, "ours_wall": wall,
            "peer_cpu": timed[t][0], "peer_wall": timed[t][1],
            "utility_gap": u_mine - u_other, "utility": u_other,
            "weight_diff": float(np.max(np.abs(mine - other))), "solver": sol.solver,
        })  # fmt: skip
    return pd.DataFrame(rows).set_index("date")


def report(frame: pd.DataFrame, n_assets: int) -> str:
    """The figures of :func:`cvxportfolio_same` (medians after the first, which compiles)."""
    per = frame.iloc[1:]
    med = per.median(numeric_only=True)
    gap = per["utility_gap"]
    agree = "agree" if (gap.abs() <= UTILITY_TOL).all() else "DIFFER"
    return "\n".join([
        f"identical inputs: {n_assets} assets, {len(frame)} weekly rebalances (no cash, same"
        f" alphas, risk model, costs, constraints, starting books; ours: {per['solver'].iloc[0]})",
        f"  per rebalance, median: ours CPU {med.ours_cpu:.4f} s, wall {med.ours_wall:.4f} s;"
        f" cvxportfolio CPU {med.peer_cpu:.4f} s, wall {med.peer_wall:.4f} s",
        f"  ratio ours / cvxportfolio (median): CPU {med.ours_cpu / med.peer_cpu:.2f}x,"
        f" wall {med.ours_wall / med.peer_wall:.2f}x  (target <= 0.5x)",
        f"  agreement: utility ours - theirs: min {gap.min():.1e}, max {gap.max():.1e} (return"
        f" units; utilities ~{per['utility'].abs().median():.1e}; tolerance {UTILITY_TOL:g}:"
        f" {agree}); largest weight difference"
        f" {per['weight_diff'].max():.1e}",
    ])  # fmt: skip
