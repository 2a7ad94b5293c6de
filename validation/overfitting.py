"""Overfitting statistics: PSR, DSR, minimum track-record length and PBO by CSCV.

PSR and the expected maximum Sharpe ratio are skfolio's (``skfolio.measures``); MinTRL
inverts the same PSR and CSCV is written here (skfolio has neither as a function).

All Sharpe ratios here are **per period** (daily for daily series) unless a name says
``annual``; :func:`tasks.model.stats.annualise_sharpe` converts. Kurtosis is the non-excess kind (3 for a
normal law), as in the papers.

References
----------
.. [1] Bailey, D. H. and López de Prado, M. (2012). "The Sharpe Ratio Efficient Frontier".
   Journal of Risk 15(2). PSR (eq. 8) and MinTRL (eq. 11).
.. [2] Bailey, D. H. and López de Prado, M. (2014). "The Deflated Sharpe Ratio: Correcting
   for Selection Bias, Backtest Overfitting, and Non-Normality". Journal of Portfolio
   Management 40(5). DSR (eq. 2) and the expected maximum Sharpe ratio (eq. 3).
.. [3] Bailey, D. H., Borwein, J., López de Prado, M. and Zhu, Q. J. (2017). "The
   Probability of Backtest Overfitting". Journal of Computational Finance 20(4). CSCV.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import scipy.stats as st
from skfolio.measures import expected_max_sharpe_ratio
from skfolio.measures import probabilistic_sharpe_ratio as sk_psr

from tasks.model.stats import sharpe_ratio

__all__ = [
    "PBOResult",
    "PBOSource",
    "ReturnMoments",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "min_track_record_length",
    "pbo_cscv",
    "probabilistic_sharpe_ratio",
    "return_moments",
]


@dataclass(frozen=True)
class ReturnMoments:
    """Per-period moments of a return series (NaN dropped).

    Attributes
    ----------
    n_obs : int
        Number of finite observations ``T``.
    sharpe : float
        Per-period Sharpe ratio ``mean / std`` (sample std, ddof=1); NaN when ``T < 3`` or
        the series is constant.
    skew : float
        Sample skewness ``gamma_3`` (biased moment estimator).
    kurtosis : float
        Sample kurtosis ``gamma_4``, **not** excess (normal = 3).
    """

    n_obs: int
    sharpe: float
    skew: float
    kurtosis: float


def return_moments(returns: np.ndarray) -> ReturnMoments:
    """Moments of a 1-D return series, shape (T,); NaN entries are ignored."""
    x = np.asarray(returns, dtype=float)
    x = x[np.isfinite(x)]
    n = int(x.size)
    sharpe = sharpe_ratio(x)
    if n < 3 or not math.isfinite(sharpe):
        return ReturnMoments(n, math.nan, math.nan, math.nan)
    return ReturnMoments(
        n_obs=n,
        sharpe=sharpe,
        skew=float(st.skew(x, bias=True)),
        kurtosis=float(st.kurtosis(x, fisher=False, bias=True)),
    )


def probabilistic_sharpe_ratio(returns: np.ndarray, benchmark: float = 0.0) -> float:
    r"""Probabilistic Sharpe ratio [1]_ (eq. 8) of a per-period return series.

    .. math::

        \widehat{PSR}(SR^*) = Z\left[\frac{(\widehat{SR} - SR^*)\sqrt{T-1}}
        {\sqrt{1 - \hat\gamma_3 \widehat{SR} + \frac{\hat\gamma_4 - 1}{4}\widehat{SR}^2}}\right]

    Delegates to :func:`skfolio.measures.probabilistic_sharpe_ratio` (zero risk-free
    rate). ``benchmark`` is per period. NaN entries are ignored; NaN for fewer than three
    observations, a flat series or a non-positive variance factor.
    """
    return float(sk_psr(np.asarray(returns, dtype=float), benchmark_sharpe_ratio=benchmark))


def _sr_variance_factor(sharpe: float, skew: float, kurtosis: float) -> float:
    # Asymptotic variance of the Sharpe estimator under non-normal iid returns, [1] eq. 7.
    return 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2


def min_track_record_length(
    sharpe: float, skew: float, kurtosis: float, benchmark: float = 0.0, confidence: float = 0.95
) -> float:
    r"""Minimum track-record length [1]_ (eq. 11), in periods.

    .. math::

        MinTRL = 1 + \left(1 - \hat\gamma_3\widehat{SR} + \frac{\hat\gamma_4-1}{4}
        \widehat{SR}^2\right)\left(\frac{Z_\alpha}{\widehat{SR} - SR^*}\right)^2

    The number of observations needed for ``PSR(benchmark) >= confidence`` (skfolio has no
    MinTRL; this inverts its PSR). Returns ``inf`` when ``sharpe <= benchmark`` (no track
    record is long enough) and NaN on NaN input.
    """
    if not math.isfinite(sharpe):
        return math.nan
    if sharpe <= benchmark:
        return math.inf
    z = st.norm.ppf(confidence)
    return float(
        1.0 + _sr_variance_factor(sharpe, skew, kurtosis) * (z / (sharpe - benchmark)) ** 2
    )


def expected_max_sharpe(n_trials: float, trial_sharpe_variance: float) -> float:
    r"""Expected maximum of ``N`` iid trial Sharpe ratios with true mean zero [2]_ (eq. 3).

    .. math::

        SR_0 = \sqrt{V[\{\widehat{SR}_n\}]}\left((1-\gamma)Z^{-1}\left[1-\frac1N\right]
        + \gamma Z^{-1}\left[1-\frac{1}{Ne}\right]\right)

    Delegates to :func:`skfolio.measures.expected_max_sharpe_ratio`. Returns 0 for one trial
    or zero variance (nothing to deflate).
    """
    var = max(float(trial_sharpe_variance), 0.0)
    return float(expected_max_sharpe_ratio(max(float(n_trials), 1.0), math.sqrt(var)))


def deflated_sharpe_ratio(
    returns: np.ndarray, n_trials: float, trial_sharpe_variance: float
) -> tuple[float, float]:
    r"""Deflated Sharpe ratio [2]_ (eq. 2): the PSR against the expected maximum Sharpe.

    .. math:: DSR = \widehat{PSR}(SR_0)

    skfolio's :func:`~skfolio.measures.deflated_sharpe_ratio` takes the trials' Sharpe
    ratios; the ledger holds their number and variance over every run of the strategy, so
    this composes its two halves (:func:`expected_max_sharpe`, then
    :func:`probabilistic_sharpe_ratio`), as skfolio does.

    Parameters
    ----------
    returns : ndarray, shape (T,)
        Per-period returns of the selected strategy.
    n_trials : float
        Honest number of trials ``N`` evaluated for the strategy (all runs, from the ledger).
    trial_sharpe_variance : float
        Variance of the trials' **per-period** Sharpe ratios.

    Returns
    -------
    (dsr, sr0) : tuple of float
        The DSR (a probability; ``>= 0.95`` is the paper's bar) and the benchmark ``SR_0``
        (per period).
    """
    sr0 = expected_max_sharpe(n_trials, trial_sharpe_variance)
    return probabilistic_sharpe_ratio(returns, benchmark=sr0), sr0


class PBOSource(StrEnum):
    """Which return series fed CSCV: every trial of the strategy, or none (fewer than two
    trial series: there was no selection to overfit, so PBO is not applicable)."""

    TRIALS = "trials"
    NONE = "none"


@dataclass(frozen=True)
class PBOResult:
    """Probability of backtest overfitting by CSCV [3]_.

    Attributes
    ----------
    pbo : float
        Share of IS/OOS splits whose IS-best strategy ranks at or below the OOS median
        (logit <= 0). NaN when fewer than 2 strategies or too few rows.
    logits : ndarray, shape (n_combinations,)
        ``lambda_c = ln(omega_c / (1 - omega_c))`` per split.
    n_strategies, n_partitions, n_combinations, n_obs : int
    performance_degradation : float
        Slope of OOS Sharpe on IS Sharpe of the IS-best strategy across splits ([3], sec. 5);
        negative values mean IS performance does not carry over.
    prob_oos_loss : float
        Share of splits where the IS-best strategy has a negative OOS Sharpe.
    """

    pbo: float
    logits: np.ndarray
    n_strategies: int
    n_partitions: int
    n_combinations: int
    n_obs: int
    performance_degradation: float
    prob_oos_loss: float


def _combined_sharpes(mask: np.ndarray, sums: np.ndarray, sq: np.ndarray, size: int) -> np.ndarray:
    # Sharpe of each strategy on the union of the blocks each row of ``mask`` selects,
    # from per-block sums and sums of squares: shape (n_combinations, N).
    n = mask.sum(axis=1, keepdims=True) * size
    mean = (mask @ sums) / n
    var = ((mask @ sq) - n * mean**2) / np.maximum(n - 1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(var > 0, mean / np.sqrt(np.maximum(var, 0)), 0.0)


def pbo_cscv(returns: np.ndarray, n_partitions: int = 16) -> PBOResult:
    """Probability of backtest overfitting by combinatorially symmetric CV [3]_.

    The ``T`` rows of the ``T x N`` matrix (one column per strategy/trial) are cut into
    ``S`` contiguous blocks of equal size (the remainder rows at the start are dropped).
    For each of the ``C(S, S/2)`` ways to pick half the blocks as in-sample (IS), the
    strategy with the best IS Sharpe ratio is ranked among all strategies on the
    out-of-sample (OOS) remainder; its relative rank ``omega = rank / (N + 1)`` gives the
    logit ``lambda = ln(omega / (1 - omega))``, and ``PBO = P[lambda <= 0]``.

    Parameters
    ----------
    returns : ndarray, shape (T, N)
        Per-period returns; NaN rows are treated as zero return (no position).
    n_partitions : int, default 16
        Even number of blocks ``S`` (the paper uses 16).

    Returns
    -------
    PBOResult
        ``pbo`` is about 0.5 for iid noise strategies and near 0 when one strategy truly
        dominates.
    """
    m = np.nan_to_num(np.asarray(returns, dtype=float), nan=0.0)
    if m.ndim != 2:
        raise ValueError("returns must be 2-D (T x N)")
    if n_partitions < 2 or n_partitions % 2:
        raise ValueError("n_partitions must be an even number >= 2")
    t, n = m.shape
    size = t // n_partitions
    if n < 2 or size < 2:
        return PBOResult(math.nan, np.empty(0), n, n_partitions, 0, t, math.nan, math.nan)
    blocks = m[t - size * n_partitions :].reshape(n_partitions, size, n)
    sums, sq = blocks.sum(axis=1), (blocks**2).sum(axis=1)
    combos = np.array(list(itertools.combinations(range(n_partitions), n_partitions // 2)))
    is_mask = np.zeros((len(combos), n_partitions))
    np.put_along_axis(is_mask, combos, 1.0, axis=1)
    sr_is = _combined_sharpes(is_mask, sums, sq, size)
    sr_oos = _combined_sharpes(1.0 - is_mask, sums, sq, size)
    best = np.argmax(sr_is, axis=1)
    rows = np.arange(len(combos))
    x, y = sr_is[rows, best], sr_oos[rows, best]
    # Rank 1..N of the IS-best strategy among the OOS Sharpes (average rank on ties).
    below = (sr_oos < y[:, None]).sum(axis=1)
    ties = (sr_oos == y[:, None]).sum(axis=1)
    omega = (below + (ties + 1) / 2.0) / (n + 1)
    lam = np.log(omega / (1 - omega))
    slope = float(np.polyfit(x, y, 1)[0]) if np.ptp(x) > 0 else math.nan
    return PBOResult(
        pbo=float(np.mean(lam <= 0)),
        logits=lam,
        n_strategies=n,
        n_partitions=n_partitions,
        n_combinations=lam.size,
        n_obs=size * n_partitions,
        performance_degradation=slope,
        prob_oos_loss=float(np.mean(y < 0)),
    )
