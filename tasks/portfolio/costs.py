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


def impact_coefficients(
    close: pd.DataFrame,
    volume: pd.DataFrame,
    asof: pd.Timestamp,
    volatility: pd.Series,
    cfg: PortfolioConfig,
    window: int = 21,
) -> pd.Series:
    """cvxportfolio's impact coefficient ``b * sigma_i * sqrt(V / ADV_i)`` per asset.

    Cost of trading weight ``z_i`` is ``coef_i * |z_i|^{3/2}``. ``ADV_i`` is the mean
    dollar volume (close × volume) over the ``window`` days up to ``asof`` (21 days, one
    month, cvxportfolio's default); ``V`` is ``cfg.portfolio_value``. An asset with no
    volume gets the largest coefficient of the others (expensive, not free).
    """
    dollar = (close.loc[:asof] * volume.loc[:asof]).iloc[-window:].mean()
    sigma = volatility.reindex(dollar.index).to_numpy(dtype=float)
    coef = impact_from_adv(sigma, dollar.to_numpy(dtype=float), cfg)
    return pd.Series(coef, index=dollar.index, name="impact")


def impact_from_adv(sigma: np.ndarray, adv: np.ndarray, cfg: PortfolioConfig) -> np.ndarray:
    """``b * sigma * sqrt(V / ADV)`` elementwise; non-finite -> the largest finite value."""
    with np.errstate(divide="ignore", invalid="ignore"):
        coef = cfg.impact_coefficient * sigma * np.sqrt(cfg.portfolio_value / adv)
    ok = np.isfinite(coef)
    return np.where(ok, coef, coef[ok].max() if ok.any() else 0.0)


def trading_costs(
    trades: pd.Series, half_spread: pd.Series | float, impact: pd.Series | None = None
) -> pd.Series:
    """Estimated cost of each trade, as a fraction of portfolio value.

    ``half_spread_i * |z_i| + impact_i * |z_i|^{3/2}`` (the optimiser's cost model).
    Missing inputs count as zero cost for that term.
    """
    z = trades.abs().fillna(0.0)
    hs = half_spread if np.isscalar(half_spread) else half_spread.reindex(z.index).fillna(0.0)
    cost = hs * z
    if impact is not None:
        cost = cost + impact.reindex(z.index).fillna(0.0) * z**1.5
    return cost.rename("cost")
