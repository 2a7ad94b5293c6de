"""Point-in-time risk models in factor form: Ledoit–Wolf shrinkage and statistical factors.

Both estimators return a :class:`RiskModel` holding the covariance in *factor form*

.. math:: \\Sigma = F \\Omega F^\\top + \\mathrm{diag}(d)

with exposures ``F`` (n × k), factor covariance ``Omega`` (k × k) and specific variances
``d`` (n). The optimiser uses the square-root form ``B = F chol(Omega)`` so that
``w' Sigma w = ||B' w||^2 + ||sqrt(d) * w||^2`` (two sums of squares, DPP-friendly and
sparse, as in cvxportfolio's ``FactorModelCovariance``).

Estimates are point-in-time: ``tasks.portfolio.market.MarketHistory.window`` keeps only
the ``lookback`` daily returns up to and including the rebalance date.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.linalg
from sklearn.covariance import LedoitWolf

from governance.ground.errors import InputError
from tasks.portfolio.config import PortfolioConfig, RiskModelKind

#: Floor on specific variances, as a fraction of the median asset variance: keeps the
#: risk model positive definite when a principal component explains an asset entirely.
SPECIFIC_VARIANCE_FLOOR = 1e-4
#: Eigenvalues below this fraction of the largest are treated as zero (numerical rank).
RANK_TOLERANCE = 1e-10


@dataclass(frozen=True)
class RiskModel:
    """A covariance matrix in factor form, for one universe on one date.

    Attributes
    ----------
    assets : Index, shape (n,)
        Asset names, in the order of every array below.
    exposures : ndarray, shape (n, k)
        Factor exposures ``F``.
    factor_cov : ndarray, shape (k, k)
        Factor covariance ``Omega`` (symmetric positive semi-definite).
    specific_var : ndarray, shape (n,)
        Specific (idiosyncratic) variances ``d`` (non-negative).
    kind : RiskModelKind
        The estimator that produced it.
    """

    assets: pd.Index
    exposures: np.ndarray
    factor_cov: np.ndarray
    specific_var: np.ndarray
    kind: RiskModelKind

    @property
    def n_assets(self) -> int:
        return len(self.assets)

    @property
    def n_factors(self) -> int:
        return self.exposures.shape[1]

    def factor_root(self) -> np.ndarray:
        """``B = F L`` with ``L L' = Omega``, shape (n, k): ``Sigma = B B' + diag(d)``."""
        omega = 0.5 * (self.factor_cov + self.factor_cov.T)
        if np.allclose(omega, np.diag(np.diag(omega))):
            return self.exposures * np.sqrt(np.clip(np.diag(omega), 0.0, None))
        vals, vecs = np.linalg.eigh(omega)
        return self.exposures @ (vecs * np.sqrt(np.clip(vals, 0.0, None)))

    def covariance(self) -> np.ndarray:
        """The full covariance ``F Omega F' + diag(d)``, shape (n, n)."""
        cov = self.exposures @ self.factor_cov @ self.exposures.T
        cov[np.diag_indices_from(cov)] += self.specific_var
        return cov

    def variance(self, weights: np.ndarray | pd.Series) -> float:
        """``w' Sigma w`` in factor form, O(nk); a Series is aligned to ``assets`` first."""
        w = _as_array(weights, self.assets)
        fw = self.exposures.T @ w
        return float(fw @ self.factor_cov @ fw + self.specific_var @ (w * w))

    def volatility(self) -> pd.Series:
        """Per-asset volatility ``sqrt(diag Sigma)`` (daily), indexed by asset."""
        diag = np.einsum("ik,kl,il->i", self.exposures, self.factor_cov, self.exposures)
        return pd.Series(np.sqrt(diag + self.specific_var), index=self.assets, name="vol")


def _as_array(weights: np.ndarray | pd.Series, assets: pd.Index) -> np.ndarray:
    if isinstance(weights, pd.Series):
        return weights.reindex(assets).fillna(0.0).to_numpy(dtype=float)
    return np.asarray(weights, dtype=float)


Returns = pd.DataFrame | np.ndarray


def _assets(returns: Returns, assets: Sequence[str] | None) -> pd.Index:
    if assets is not None:
        return pd.Index(assets)
    if isinstance(returns, pd.DataFrame):
        return returns.columns
    return pd.RangeIndex(np.shape(returns)[1])


def _clean(returns: Returns) -> np.ndarray:
    """Demeaned returns with missing values set to the asset's mean (i.e. zero after demeaning).

    Filling with the mean keeps a short history from adding spurious co-movement; an asset
    with no return at all in the window gets a zero column (its risk is then its floor).
    """
    x = np.asarray(returns, dtype=float)
    if x.shape[0] < 2:
        raise InputError(f"risk model: need at least 2 daily returns, got {x.shape[0]}")
    mean = np.nanmean(np.where(np.isnan(x).all(axis=0), 0.0, x), axis=0)
    x = x - mean
    return np.where(np.isnan(x), 0.0, x)


def ledoit_wolf(returns: Returns, assets: Sequence[str] | None = None) -> RiskModel:
    """Ledoit–Wolf shrinkage covariance (Ledoit & Wolf 2004, scikit-learn) in factor form.

    scikit-learn's estimate is ``(1 - delta) S + delta mu I`` with ``mu = tr(S)/n``; the
    low-rank part ``(1 - delta) S`` (rank <= T - 1) becomes the exposures (its
    eigenvectors scaled by the root eigenvalues, ``Omega = I``) and ``delta mu`` the
    specific variance of every asset. The factor form is exact.

    Parameters
    ----------
    returns : DataFrame or ndarray, shape (T, n)
        Daily returns of the window; NaN treated as described in :func:`_clean`.
    assets : sequence of str, optional
        Asset names (default: the DataFrame's columns).
    """
    x = _clean(returns)
    lw = LedoitWolf(assume_centered=True).fit(x)
    n = x.shape[1]
    # trace((1 - d) S + d mu I) / n = mu, so the identity part is d * tr(estimate) / n.
    shrink_floor = lw.shrinkage_ * np.trace(lw.covariance_) / n
    low_rank = lw.covariance_ - shrink_floor * np.eye(n)
    vals, vecs = np.linalg.eigh(0.5 * (low_rank + low_rank.T))
    keep = vals > RANK_TOLERANCE * max(vals.max(), 1e-300)
    exposures = vecs[:, keep] * np.sqrt(vals[keep])
    return RiskModel(
        assets=_assets(returns, assets),
        exposures=exposures,
        factor_cov=np.eye(exposures.shape[1]),
        specific_var=np.full(n, shrink_floor),
        kind=RiskModelKind.LEDOIT_WOLF,
    )


def _top_eigh(gram: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest eigenpairs of a symmetric matrix, largest first.

    Only the top ``k`` are computed (LAPACK ``syevr`` with an index range), which is
    several times cheaper than the full decomposition when ``k`` is small.
    """
    m = gram.shape[0]
    vals, vecs = scipy.linalg.eigh(gram, subset_by_index=[m - k, m - 1], driver="evr")
    return vals[::-1], vecs[:, ::-1]


def statistical_factor_model(
    returns: Returns, n_factors: int, assets: Sequence[str] | None = None
) -> RiskModel:
    """k principal components of the returns plus specific variances.

    Exposures are the first ``k`` right singular vectors ``V_k`` of the demeaned returns
    ``X`` (T × n), factor variances ``s_k^2 / (T - 1)`` (diagonal ``Omega``), specific
    variances the variance of the residual ``X - X V_k V_k'``, floored at
    :data:`SPECIFIC_VARIANCE_FLOOR` × the median asset variance. When ``T < n`` the
    decomposition runs on the T × T Gram matrix (cheaper than an n × n one).

    Parameters
    ----------
    returns : DataFrame or ndarray, shape (T, n)
        Daily returns of the window; NaN treated as described in :func:`_clean`.
    n_factors : int
        Number of components ``k``; capped at ``min(T - 1, n)``.
    assets : sequence of str, optional
        Asset names (default: the DataFrame's columns).
    """
    x = _clean(returns)
    t, n = x.shape
    k = int(min(n_factors, t - 1, n))
    if t < n:
        vals, u = _top_eigh(x @ x.T, k)
        s = np.sqrt(np.clip(vals, 1e-300, None))
        v = (x.T @ u) / s
    else:
        vals, v = _top_eigh(x.T @ x, k)
    factor_var = np.clip(vals, 0.0, None) / (t - 1)
    resid = x - (x @ v) @ v.T
    total_var = (x * x).sum(axis=0) / (t - 1)
    floor = SPECIFIC_VARIANCE_FLOOR * max(float(np.median(total_var)), 1e-12)
    specific = np.maximum((resid * resid).sum(axis=0) / (t - 1), floor)
    return RiskModel(
        assets=_assets(returns, assets),
        exposures=v,
        factor_cov=np.diag(factor_var),
        specific_var=specific,
        kind=RiskModelKind.FACTOR,
    )


def risk_from_returns(
    returns: Returns, cfg: PortfolioConfig, assets: Sequence[str] | None = None
) -> RiskModel:
    """The risk model ``cfg.risk_model`` on a window of returns (T × n)."""
    if cfg.risk_model is RiskModelKind.LEDOIT_WOLF:
        return ledoit_wolf(returns, assets)
    return statistical_factor_model(returns, cfg.n_factors, assets)
