"""Transaction cost model shared by the optimiser, the trade list and the backtest.

Cost of trading weight ``z_i`` (fraction of portfolio value), cvxportfolio's
``TransactionCost`` form (Almgren et al. 2005, "Direct estimation of equity market
impact"):

.. math:: \\text{cost}_i = s_i |z_i| + b\\,\\sigma_i \\sqrt{V / \\mathrm{ADV}_i}\\,|z_i|^{3/2}

with half-spread ``s``, daily volatility ``sigma``, portfolio value ``V`` and average
daily dollar volume ``ADV``; the second term only when volume is known.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tasks.portfolio.config import PortfolioConfig


def impact_from_adv(sigma: np.ndarray, adv: np.ndarray, cfg: PortfolioConfig) -> np.ndarray:
    """cvxportfolio's impact coefficient ``b * sigma_i * sqrt(V / ADV_i)`` per asset.

    The cost of trading weight ``z_i`` is ``coef_i * |z_i|^{3/2}``; ``sigma`` is the daily
    volatility, ``ADV_i`` the mean dollar volume of the last month
    (``tasks.portfolio.market``), ``V`` is ``cfg.portfolio_value``. An asset with no volume
    gets the largest coefficient of the others (expensive, not free).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        coef = cfg.impact_coefficient * sigma * np.sqrt(cfg.portfolio_value / adv)
    ok = np.isfinite(coef)
    return np.where(ok, coef, coef[ok].max() if ok.any() else 0.0)


def asset_costs(trades: np.ndarray, half_spread, impact: np.ndarray | None = None) -> np.ndarray:
    """``half_spread_i |z_i| + impact_i |z_i|^{3/2}`` elementwise (fraction of value).

    The one cost formula: the optimiser's reported costs, the trade list and the backtest
    (model and benchmarks alike) all call it. ``trades`` is (n,) or (strategies, n);
    ``half_spread`` a scalar or (n,); ``impact`` (n,) or None (no impact term). NaN
    inputs count as zero.
    """
    z = np.abs(np.nan_to_num(np.asarray(trades, dtype=float)))
    cost = z * np.nan_to_num(np.asarray(half_spread, dtype=float))
    if impact is not None:
        cost = cost + z**1.5 * np.nan_to_num(np.asarray(impact, dtype=float))
    return cost


def trading_costs(
    trades: pd.Series, half_spread: pd.Series | float, impact: pd.Series | None = None
) -> pd.Series:
    """:func:`asset_costs` of a trade Series (inputs aligned by asset; missing = 0)."""
    hs = half_spread if np.isscalar(half_spread) else half_spread.reindex(trades.index)
    imp = None if impact is None else impact.reindex(trades.index).to_numpy(dtype=float)
    cost = asset_costs(trades.to_numpy(dtype=float), hs, imp)
    return pd.Series(cost, index=trades.index, name="cost")


def cost_rate(notional, value, half_spread, impact=None) -> np.ndarray:
    """The cost model's cost per unit of notional traded (fraction; elementwise).

    A trade of notional ``N`` in an account of value ``V`` is the weight ``z = N / V``;
    its cost is ``V * asset_costs(z, half_spread, impact)`` (impact coefficients at ``V``,
    :meth:`tasks.portfolio.market.MarketHistory.impact`), so per unit of notional
    ``half_spread + impact * sqrt(z)``.
    """
    n = np.asarray(notional, dtype=float)
    z = n / np.asarray(value, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = asset_costs(z, half_spread, impact) / z
    return np.where(z > 0, rate, np.nan_to_num(np.asarray(half_spread, dtype=float)))
