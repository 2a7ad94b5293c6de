"""Value at risk and expected shortfall, parametric and historical.

Losses are positive fractions of portfolio value (``L = -r``).

- **parametric** (normal, zero mean): ``VaR_a = z_a sigma``, ``ES_a = sigma phi(z_a) /
  (1 - a)`` with ``sigma`` the ex-ante daily volatility of the risk model. The mean is
  set to zero: over one day to one month the mean return is small next to its error, and
  a zero mean is the conservative, usual choice (RiskMetrics 1996).
- **historical**: the weights held today applied to the window's daily returns (the
  risk model's own window). ``VaR_a`` is the ``a`` quantile of the losses (numpy's
  linear interpolation), ``ES_a`` the mean of the losses at or beyond it.

**21-day scaling rule**: every ``h``-day figure is the 1-day figure times ``sqrt(h)``
(square root of time: i.i.d. returns with zero mean; the rule of the 1996 Basel
amendment for 10-day VaR). A year of daily returns holds only 11 non-overlapping months,
too few for a 99 % monthly quantile, so the historical figures scale the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd
from scipy.stats import norm


class VarMethod(StrEnum):
    PARAMETRIC = "parametric"
    HISTORICAL = "historical"


@dataclass(frozen=True)
class VarFigure:
    """One VaR / ES pair: method, confidence, horizon in days, both as losses."""

    method: VarMethod
    confidence: float
    horizon: int
    var: float
    es: float


def parametric_var(sigma: float, confidence: float) -> tuple[float, float]:
    """``(VaR, ES)`` of a zero-mean normal loss with standard deviation ``sigma``."""
    z = float(norm.ppf(confidence))
    return z * sigma, sigma * float(norm.pdf(z)) / (1.0 - confidence)


def historical_var(returns: np.ndarray, confidence: float) -> tuple[float, float]:
    """``(VaR, ES)`` of the empirical losses ``-returns`` (NaN dropped).

    ``VaR`` is ``np.quantile(losses, confidence)``; ``ES`` the mean of the losses
    ``>= VaR`` (never empty: the largest loss is at or above any quantile).
    """
    losses = -np.asarray(returns, dtype=float)
    losses = losses[np.isfinite(losses)]
    if losses.size == 0:
        return float("nan"), float("nan")
    var = float(np.quantile(losses, confidence))
    return var, float(losses[losses >= var].mean())


def expected_shortfall(losses: np.ndarray, confidence: float) -> float:
    """Mean of the losses at or beyond their ``confidence`` quantile (sampled tail loss)."""
    return historical_var(-np.asarray(losses, dtype=float), confidence)[1]


def var_table(
    sigma: float,
    portfolio_returns: np.ndarray,
    confidences: list[float],
    horizons: list[int],
) -> list[VarFigure]:
    """Parametric and historical VaR/ES for each confidence and horizon (sqrt-time rule).

    Parameters
    ----------
    sigma : float
        Ex-ante daily volatility of the portfolio.
    portfolio_returns : ndarray, shape (T,)
        Daily returns of today's weights over the window.
    """
    out = []
    for c in confidences:
        one_day = {
            VarMethod.PARAMETRIC: parametric_var(sigma, c),
            VarMethod.HISTORICAL: historical_var(portfolio_returns, c),
        }
        for h in horizons:
            root = float(np.sqrt(h))
            for method, (var, es) in one_day.items():
                out.append(VarFigure(method, c, h, var * root, es * root))
    return out


def var_frame(figures: list[VarFigure]) -> pd.DataFrame:
    """``method, confidence, horizon, var, es``: one row per figure."""
    return pd.DataFrame(
        {
            "method": [f.method.value for f in figures],
            "confidence": [f.confidence for f in figures],
            "horizon": [f.horizon for f in figures],
            "var": [f.var for f in figures],
            "es": [f.es for f in figures],
        }
    )
