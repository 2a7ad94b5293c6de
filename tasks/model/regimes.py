"""Market regimes: the states validation reports outcomes by and the regime ensemble weighs by.

Every state is computed from the equal-weight market's daily return series ``r`` (one value
per trading day, realised on that day), point in time: the state at ``t`` uses returns
realised up to ``t`` only.

- **volatility** (:func:`volatility_state`): the trailing ``window``-day standard deviation of
  ``r`` at ``t`` above the series' median is ``high_vol``, else ``low_vol``. The median is
  the period's own (a description of the period, not a forecast).
- **trend** (:func:`trend_state`): the trailing ``window``-day cumulative log return at
  ``t`` at or above zero is ``uptrend``, below zero ``downtrend``.
- **fitted** (:func:`fit_hmm`, :func:`filtered_probabilities`): a two-state Gaussian hidden
  Markov model of ``r`` (Hamilton 1989), fitted by expectation-maximisation (Baum-Welch,
  scaled forward-backward; Rabiner 1989), its states ordered by variance (``calm``, then
  ``turbulent``). The state at ``t`` is the one with the larger **filtered** probability
  ``P(s_t | r_1..r_t)``: the forward pass only, so no later return moves it. The parameters
  are fitted on the whole series given; training fits them on the development period only
  and carries them to scoring (tasks/model/mixture.py).

References
----------
- Hamilton, J. (1989). "A New Approach to the Economic Analysis of Nonstationary Time Series
  and the Business Cycle". Econometrica 57(2).
- Rabiner, L. (1989). "A Tutorial on Hidden Markov Models". Proc. IEEE 77(2): scaling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "HMM_STATES",
    "GaussianHMM",
    "filtered_probabilities",
    "fit_hmm",
    "high_vol_indicator",
    "market_states",
    "regime_probability",
    "trend_state",
    "volatility_state",
]

#: Names of the fitted model's states, by ascending variance.
HMM_STATES = ("calm", "turbulent")
_VAR_FLOOR = 1e-10  # keeps a state's variance positive on a constant stretch


def volatility_state(returns: pd.Series, window: int = 21) -> pd.Series:
    """``high_vol`` / ``low_vol`` per date; the first ``window - 1`` dates are absent."""
    vol = returns.rolling(window, min_periods=window).std().dropna()
    return pd.Series(np.where(vol > vol.median(), "high_vol", "low_vol"), index=vol.index)


def trend_state(returns: pd.Series, window: int = 63) -> pd.Series:
    """``uptrend`` / ``downtrend`` per date from the trailing ``window``-day log return."""
    cum = np.log1p(returns).rolling(window, min_periods=window).sum().dropna()
    return pd.Series(np.where(cum >= 0, "uptrend", "downtrend"), index=cum.index)


@dataclass(frozen=True)
class GaussianHMM:
    """A fitted Gaussian HMM with ``K`` states ordered by variance.

    Attributes
    ----------
    means, variances : tuple of float, length K
    transition : tuple of tuple of float, K x K
        ``transition[i][j] = P(s_t = j | s_{t-1} = i)``.
    initial : tuple of float, length K
    log_likelihood : float
        Of the series it was fitted on.
    """

    means: tuple[float, ...]
    variances: tuple[float, ...]
    transition: tuple[tuple[float, ...], ...]
    initial: tuple[float, ...]
    log_likelihood: float

    def to_json(self) -> dict:
        return {"means": list(self.means), "variances": list(self.variances),
                "transition": [list(r) for r in self.transition], "initial": list(self.initial),
                "log_likelihood": self.log_likelihood}  # fmt: skip

    @classmethod
    def from_json(cls, d: dict) -> GaussianHMM:
        return cls(tuple(map(float, d["means"])), tuple(map(float, d["variances"])),
                   tuple(tuple(map(float, r)) for r in d["transition"]),
                   tuple(map(float, d["initial"])), float(d.get("log_likelihood", math.nan)))  # fmt: skip


def _densities(x: np.ndarray, mu: np.ndarray, var: np.ndarray) -> np.ndarray:
    z = (x[:, None] - mu[None, :]) ** 2 / var[None, :]
    return np.exp(-0.5 * z) / np.sqrt(2 * math.pi * var[None, :])


def _forward(x, mu, var, A, pi) -> tuple[np.ndarray, np.ndarray]:
    """Scaled forward pass: filtered probabilities ``(T, K)`` and scales ``(T,)``."""
    b = _densities(x, mu, var) + 1e-300
    T, K = b.shape
    alpha, scale = np.empty((T, K)), np.empty(T)
    a = pi * b[0]
    for t in range(T):
        if t:
            a = (alpha[t - 1] @ A) * b[t]
        scale[t] = a.sum()
        alpha[t] = a / scale[t]
    return alpha, scale


def fit_hmm(returns, n_states: int = 2, n_iter: int = 200, tol: float = 1e-8) -> GaussianHMM:
    """Fit a Gaussian HMM by Baum-Welch; deterministic start (variance split at quantiles).

    Parameters
    ----------
    returns : array-like, shape (T,)
        Daily returns; NaN are dropped.
    """
    x = np.asarray(returns, dtype=float)
    x = x[np.isfinite(x)]
    if x.size < 10 * n_states:
        raise ValueError(f"fit_hmm: {x.size} returns are too few for {n_states} states")
    # Start: states split by the size of the move (calm = small |r|, turbulent = large).
    order = np.argsort(np.abs(x - x.mean()))
    groups = np.array_split(order, n_states)
    mu = np.array([x[g].mean() for g in groups])
    var = np.array([max(x[g].var(), _VAR_FLOOR) for g in groups])
    A = np.full((n_states, n_states), 0.05 / max(n_states - 1, 1))
    np.fill_diagonal(A, 0.95)
    pi = np.full(n_states, 1.0 / n_states)
    last = -math.inf
    for _ in range(n_iter):
        alpha, scale = _forward(x, mu, var, A, pi)
        b = _densities(x, mu, var) + 1e-300
        beta = np.empty_like(alpha)
        beta[-1] = 1.0
        for t in range(x.size - 2, -1, -1):
            beta[t] = (A @ (b[t + 1] * beta[t + 1])) / scale[t + 1]
        gamma = alpha * beta
        gamma /= gamma.sum(axis=1, keepdims=True)
        xi = (alpha[:-1, :, None] * A[None] * (b[1:] * beta[1:])[:, None, :]) / scale[
            1:, None, None
        ]
        A = xi.sum(axis=0) / xi.sum(axis=(0, 2))[:, None]
        pi = gamma[0]
        w = gamma.sum(axis=0)
        mu = (gamma * x[:, None]).sum(axis=0) / w
        var = np.maximum((gamma * (x[:, None] - mu) ** 2).sum(axis=0) / w, _VAR_FLOOR)
        ll = float(np.log(scale).sum())
        if ll - last < tol * abs(ll):
            break
        last = ll
    k = np.argsort(var)
    ll = float(np.log(_forward(x, mu, var, A, pi)[1]).sum())

    def floats(v) -> tuple[float, ...]:
        return tuple(float(u) for u in v)

    return GaussianHMM(floats(mu[k]), floats(var[k]), tuple(floats(A[i][k]) for i in k),
                       floats(pi[k]), ll)  # fmt: skip


def filtered_probabilities(hmm: GaussianHMM, returns: pd.Series) -> pd.DataFrame:
    """``P(s_t | r_1..r_t)`` per date, columns :data:`HMM_STATES` (NaN returns skipped)."""
    r = returns.dropna()
    if r.empty:
        return pd.DataFrame(columns=list(HMM_STATES[: len(hmm.means)]), dtype=float)
    alpha, _ = _forward(
        r.to_numpy(dtype=float), np.array(hmm.means), np.array(hmm.variances),
        np.array(hmm.transition), np.array(hmm.initial),
    )  # fmt: skip
    return pd.DataFrame(alpha, index=r.index, columns=list(HMM_STATES[: len(hmm.means)]))


def market_states(
    returns: pd.Series, *, vol_window: int = 21, trend_window: int = 63
) -> tuple[pd.DataFrame, GaussianHMM | None]:
    """Every date's state under each definition: columns ``volatility``, ``trend``,
    ``fitted`` (absent where a definition has no label yet), and the fitted HMM (None when
    the series is too short to fit one)."""
    states = pd.DataFrame(index=returns.index)
    states["volatility"] = volatility_state(returns, vol_window)
    states["trend"] = trend_state(returns, trend_window)
    try:
        hmm = fit_hmm(returns)
    except ValueError:
        return states, None
    probs = filtered_probabilities(hmm, returns)
    states["fitted"] = pd.Series(np.asarray(HMM_STATES)[probs.to_numpy().argmax(axis=1)],
                                 index=probs.index)  # fmt: skip
    return states, hmm


def high_vol_indicator(close: pd.DataFrame, window: int = 21, reference: int = 252) -> pd.DataFrame:
    """The regime ensemble's gate (features ``mkt_high_vol``): 1 where the equal-weight
    market's trailing ``window``-day volatility exceeds the median of that volatility over
    the trailing ``reference`` days, else 0; the same value for every asset of a date, NaN
    until both windows are full. Point in time: only closes up to ``t`` enter ``t``'s value.

    A trailing median, not a fitted model: scoring computes the same value from the same
    prices with no parameters to carry (the fitted HMM of :func:`fit_hmm` describes a period
    in validation; its parameters would depend on the period it was fitted on).
    """
    mkt = close.pct_change(fill_method=None).mean(axis=1, skipna=True)
    vol = mkt.rolling(window, min_periods=window).std()
    med = vol.rolling(reference, min_periods=reference).median()
    flag = (vol > med).astype(float).where(vol.notna() & med.notna())
    return pd.DataFrame(np.repeat(flag.to_numpy()[:, None], close.shape[1], axis=1),
                        index=close.index, columns=close.columns)  # fmt: skip


def regime_probability(close: pd.DataFrame, window: int = 252, n_iter: int = 50) -> pd.DataFrame:
    """The regime ensemble's weights (feature ``mkt_p_turbulent``): the **filtered**
    probability ``P(turbulent at t | r_1..r_t)`` of the equal-weight market's returns under a
    two-state Gaussian HMM, the same value for every asset of a date, NaN until the first
    refit.

    Point in time and independent of where the series starts: the model is refitted on the
    first trading day of each calendar quarter, on the trailing ``window`` returns up to and
    including that day (:func:`fit_hmm`, its deterministic start); through the quarter the
    forward pass of that fit runs over those ``window`` returns and on to ``t``. Nothing
    after ``t`` enters ``t``'s value, so appending data never changes it
    (tests/test_regime_mixture.py), and scoring recomputes it from the same prices.
    """
    r = close.pct_change(fill_method=None).mean(axis=1, skipna=True)
    dates = close.index
    x = r.to_numpy(dtype=float)
    quarter = dates.to_period("Q")
    starts = [i for i in range(1, len(dates)) if quarter[i] != quarter[i - 1]]
    out = np.full(len(dates), np.nan)
    for k, i in enumerate(starts):
        lo = i - window + 1
        if lo < 1 or not np.isfinite(x[lo : i + 1]).all():
            continue
        end = starts[k + 1] if k + 1 < len(starts) else len(dates)
        try:
            hmm = fit_hmm(x[lo : i + 1], n_iter=n_iter, tol=1e-6)
        except ValueError:
            continue
        probs = filtered_probabilities(hmm, pd.Series(x[lo:end], index=dates[lo:end]))
        turbulent = probs[HMM_STATES[-1]].reindex(dates[i:end])
        out[i:end] = turbulent.to_numpy()
    return pd.DataFrame(np.repeat(out[:, None], close.shape[1], axis=1),
                        index=dates, columns=close.columns)  # fmt: skip
