"""Ex-ante risk decomposition of a portfolio on the optimiser's risk model.

With the factor form of :class:`tasks.portfolio.risk.RiskModel`,
``Sigma = F Omega F' + diag(d)``, a portfolio ``w`` has

.. math::

    \\sigma^2 = x' \\Omega x + \\sum_i d_i w_i^2, \\qquad x = F' w

(factor variance + specific variance). Euler's theorem for the 1-homogeneous
``sigma(w)`` gives contributions that add up to ``sigma`` exactly:

- by asset: ``w_i (Sigma w)_i / sigma``;
- by factor: ``x_k (Omega x)_k / sigma``, plus the specific part ``sum_i d_i w_i^2 / sigma``;
- by sector: the sum of its assets' contributions.

Active risk is the same decomposition of ``w - b`` against the benchmark ``b``: its
volatility is the (ex-ante) tracking error. Figures are daily unless named ``annual_``
(``* sqrt(annualisation)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tasks.data.calendar import TRADING_DAYS
from tasks.portfolio.risk import RiskModel

#: Sector label for assets the sector map does not cover.
UNCLASSIFIED = "unclassified"


@dataclass(frozen=True)
class Decomposition:
    """The ex-ante risk of one portfolio, decomposed.

    Attributes
    ----------
    volatility : float
        Daily ex-ante volatility ``sigma``.
    factor_variance, specific_variance : float
        ``x' Omega x`` and ``sum d_i w_i^2``; they add up to ``sigma^2``.
    tracking_error : float
        Daily ex-ante volatility of ``w - b``.
    assets : DataFrame
        One row per asset: ``asset, sector, weight, benchmark, active, contribution``
        (Euler, daily vol units), ``share`` (of ``sigma``), ``active_contribution``
        (Euler contribution to the tracking error).
    sectors : DataFrame
        ``sector, weight, benchmark, active, contribution, share``.
    factors : DataFrame
        One row per factor (``factor_1`` ...) and a last row ``specific``:
        ``exposure, benchmark_exposure, active_exposure, contribution, share``
        (exposures are NaN on the specific row).
    annualisation : int
        Days per year used for the ``annual_`` figures.
    """

    volatility: float
    factor_variance: float
    specific_variance: float
    tracking_error: float
    assets: pd.DataFrame
    sectors: pd.DataFrame
    factors: pd.DataFrame
    annualisation: int = TRADING_DAYS

    @property
    def variance(self) -> float:
        return self.volatility**2

    @property
    def factor_share(self) -> float:
        """Share of the variance explained by the factors (the rest is specific)."""
        return self.factor_variance / self.variance if self.variance > 0 else 0.0

    def summary(self) -> dict:
        """JSON facts: annualised volatility and tracking error, factor share, top assets."""
        root = np.sqrt(self.annualisation)
        top = self.assets.nlargest(5, "contribution")
        return {
            "annual_volatility": self.volatility * root,
            "annual_tracking_error": self.tracking_error * root,
            "factor_share": self.factor_share,
            "specific_share": 1.0 - self.factor_share,
            "top_contributors": {str(r.asset): float(r.share) for r in top.itertuples(index=False)},
            "sectors": {
                str(r.sector): float(r.share) for r in self.sectors.itertuples(index=False)
            },
        }


def oriented(risk: RiskModel) -> RiskModel:
    """The same model with each factor's sign chosen so that its exposures sum to >= 0.

    A principal component's sign is arbitrary; oriented, "factor 1 down" means the
    market falls, for reports and for hypothetical factor shocks. ``Sigma`` is unchanged.
    """
    signs = np.where(risk.exposures.sum(axis=0) < 0, -1.0, 1.0)
    return RiskModel(
        assets=risk.assets,
        exposures=risk.exposures * signs,
        factor_cov=risk.factor_cov * np.outer(signs, signs),
        specific_var=risk.specific_var,
        kind=risk.kind,
    )


def _align(weights: pd.Series | None, assets: pd.Index) -> np.ndarray:
    if weights is None:
        return np.zeros(len(assets))
    return weights.reindex(assets).fillna(0.0).to_numpy(dtype=float)


def _euler(w: np.ndarray, risk: RiskModel) -> tuple[float, np.ndarray, np.ndarray, float]:
    """``(sigma, asset contributions, factor contributions, specific contribution)``."""
    x = risk.exposures.T @ w
    omega_x = risk.factor_cov @ x
    specific = risk.specific_var * w * w
    variance = float(x @ omega_x + specific.sum())
    sigma = float(np.sqrt(max(variance, 0.0)))
    if sigma == 0.0:
        return 0.0, np.zeros_like(w), np.zeros_like(x), 0.0
    sigma_w = risk.exposures @ omega_x + risk.specific_var * w
    return sigma, w * sigma_w / sigma, x * omega_x / sigma, float(specific.sum()) / sigma


def decompose(
    weights: pd.Series,
    risk: RiskModel,
    sectors: pd.Series | None = None,
    benchmark: pd.Series | None = None,
    annualisation: int = TRADING_DAYS,
) -> Decomposition:
    """Decompose the ex-ante risk of ``weights`` (see the module docstring).

    Parameters
    ----------
    weights : Series
        Weights by asset; assets outside ``risk.assets`` are ignored, missing ones are 0.
    risk : RiskModel
        The optimiser's risk model at the rebalance date (oriented here).
    sectors : Series, optional
        asset -> sector; unmapped assets are :data:`UNCLASSIFIED`.
    benchmark : Series, optional
        Benchmark weights for the active exposures and the tracking error (None: cash).
    annualisation : int
        Days per year for the summary's annual figures.
    """
    risk = oriented(risk)
    assets = risk.assets
    w, b = _align(weights, assets), _align(benchmark, assets)
    sigma, by_asset, by_factor, specific = _euler(w, risk)
    te, active_by_asset, _, _ = _euler(w - b, risk)
    x = risk.exposures.T @ w
    sector = (
        pd.Series(UNCLASSIFIED, index=assets)
        if sectors is None
        else sectors.reindex(assets).fillna(UNCLASSIFIED).astype(str)
    )
    share = (lambda v: v / sigma) if sigma > 0 else (lambda v: v * 0.0)
    frame = pd.DataFrame(
        {
            "asset": assets.astype(str),
            "sector": sector.to_numpy(),
            "weight": w,
            "benchmark": b,
            "active": w - b,
            "contribution": by_asset,
            "share": share(by_asset),
            "active_contribution": active_by_asset,
        }
    )
    by_sector = (
        frame.groupby("sector", sort=True)[["weight", "benchmark", "active", "contribution"]]
        .sum()
        .reset_index()
    )
    by_sector["share"] = share(by_sector["contribution"].to_numpy())
    names = [f"factor_{k + 1}" for k in range(risk.n_factors)]
    bx = risk.exposures.T @ b
    factors = pd.DataFrame(
        {
            "factor": [*names, "specific"],
            "exposure": [*x, np.nan],
            "benchmark_exposure": [*bx, np.nan],
            "active_exposure": [*(x - bx), np.nan],
            "contribution": [*by_factor, specific],
        }
    )
    factors["share"] = share(factors["contribution"].to_numpy())
    return Decomposition(
        volatility=sigma,
        factor_variance=float(x @ risk.factor_cov @ x),
        specific_variance=float(risk.specific_var @ (w * w)),
        tracking_error=te,
        assets=frame,
        sectors=by_sector,
        factors=factors,
        annualisation=annualisation,
    )
