"""Expected returns from model scores by Grinold's rule: alpha = IC × sigma × z.

Grinold & Kahn, *Active Portfolio Management* (2nd ed., ch. 10 and 14): a forecast with
information coefficient IC about a return of volatility sigma has a refined expected
return ``IC * sigma * z``, where ``z`` is the forecast's cross-sectional z-score. The
result has return units (here daily, like the risk model), so alpha and risk are
commensurate in the optimiser's objective.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def zscore(scores: np.ndarray, clip: float | None = 3.0) -> np.ndarray:
    """Cross-sectional z-score of a score vector, winsorised at ``±clip``.

    Parameters
    ----------
    scores : ndarray, shape (n,)
        Model scores for one date; NaN or infinite = no view.
    clip : float or None
        Winsorisation bound (Grinold & Kahn ch. 14 use 3); None keeps outliers.

    Returns
    -------
    ndarray, shape (n,)
        ``(s - mean) / std`` over the finite scores (population std); missing scores
        become 0 (no view); all zeros when fewer than two scores are finite or they are
        all equal.
    """
    s = np.asarray(scores, dtype=float)
    ok = np.isfinite(s)
    if ok.sum() < 2:
        return np.zeros(s.shape)
    sd = s[ok].std()
    if sd == 0.0:
        return np.zeros(s.shape)
    z = np.where(ok, (np.where(ok, s, 0.0) - s[ok].mean()) / sd, 0.0)
    return z if clip is None else np.clip(z, -clip, clip)


def grinold(
    scores: np.ndarray, volatility: np.ndarray, information_coefficient: float, clip: float | None
) -> np.ndarray:
    """Array form of :func:`grinold_alphas` (aligned inputs; non-finite vol -> no view)."""
    vol = np.asarray(volatility, dtype=float)
    vol = np.where(np.isfinite(vol), vol, 0.0)
    return information_coefficient * vol * zscore(scores, clip)


def grinold_alphas(
    scores: pd.Series,
    volatility: pd.Series,
    information_coefficient: float,
    clip: float | None = 3.0,
) -> pd.Series:
    """Grinold's rule ``alpha_i = IC × sigma_i × z_i``.

    Parameters
    ----------
    scores : Series, shape (n,)
        Model scores for one date (any scale: only their cross-sectional spread matters),
        indexed by asset.
    volatility : Series
        Per-asset volatility in the units wanted for alpha (daily, from
        ``RiskModel.volatility()``); reindexed to ``scores``.
    information_coefficient : float
        Expected correlation of scores with returns: from config or from validation's
        holdout rank IC.
    clip : float or None
        Z-score winsorisation, see :func:`zscore`.

    Returns
    -------
    Series, shape (n,)
        Alphas indexed like ``scores``. An asset with a missing score gets 0 (no view);
        one with a missing or non-finite volatility gets 0 (no risk estimate, no bet).
    """
    s = pd.to_numeric(scores, errors="coerce").to_numpy(dtype=float)
    vol = volatility if volatility.index.equals(scores.index) else volatility.reindex(scores.index)
    v = pd.to_numeric(vol, errors="coerce").to_numpy(dtype=float)
    alpha = grinold(s, v, information_coefficient, clip)
    return pd.Series(alpha, index=scores.index, name="alpha")
