"""Signal and return statistics: the one home of IC, rank IC, long-short returns, forward
returns, and of Sharpe, Sortino, volatility and drawdown (pure numpy/pandas).

Cross-validation, training, labels, validation metrics, monitoring and the synthetic
market's tests all call these functions, so an IC computed in CV and an IC computed on the
holdout follow the same rules:

- rows whose score or realised return is NaN are dropped first;
- a date with fewer than :data:`MIN_CROSS_SECTION` remaining rows has no IC and no
  long-short return (a correlation of three or four names says nothing);
- a date whose score or realised return is constant has no IC.

Return series (a strategy's daily returns: backtest, monitoring, validation) follow one NaN
rule: **a NaN return is a period without a return, skipped**. It is left out of means and
deviations (:func:`sharpe_ratio`, :func:`sortino_ratio`, :func:`annualised_volatility`) and
compounds as 1 (:func:`drawdown`). Annualisation uses :data:`TRADING_DAYS`
(``tasks.data.calendar``) periods a year, scaling by its square root (iid returns).

Long inputs are parallel arrays ``dates, score, realised`` of shape ``(n_rows,)``; wide
inputs are dates × assets frames (:func:`panel_ic`).

References
----------
- Grinold, R. and Kahn, R. (2000). *Active Portfolio Management*, ch. 6: the information
  coefficient.
- Newey, W. and West, K. (1987). Econometrica 55(3): the autocorrelation-consistent
  standard error used for overlapping ``h``-day ICs.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tasks.data.calendar import TRADING_DAYS

__all__ = [
    "MIN_CROSS_SECTION",
    "TRADING_DAYS",
    "annualise_sharpe",
    "annualised_sharpe",
    "annualised_volatility",
    "cross_section_ic",
    "drawdown",
    "forward_returns",
    "hit_rate",
    "ic_by_date",
    "long_short_returns",
    "newey_west_tstat",
    "panel_ic",
    "sharpe_ratio",
    "sortino_ratio",
]

#: Fewest assets with a score and a realised return for a date to have an IC or a
#: long-short return.
MIN_CROSS_SECTION = 5


def forward_returns(close: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """Simple forward return ``close_{t+h} / close_t - 1``.

    Parameters
    ----------
    close : DataFrame, shape (n_dates, n_assets)
        Sorted by date.
    horizon : int
        ``h >= 1`` rows (trading days).

    Returns
    -------
    DataFrame, same shape; NaN for the last ``h`` dates and where either price is missing.
    """
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    return close.shift(-horizon) / close - 1.0


def _usable(dates, score, realised) -> pd.DataFrame:
    df = pd.DataFrame({"date": dates, "x": score, "y": realised}).dropna()
    size = df.groupby("date")["x"].transform("size")
    return df[size >= MIN_CROSS_SECTION]


def _grid(v: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Segments of ``v`` (n, ...) as the rows of a NaN-padded grid (n_segments, longest, ...),
    each in its order; and the grid positions of ``v``'s rows (``grid[at] == v``)."""
    sizes = np.diff(np.r_[starts, len(v)])
    at = np.repeat(np.arange(len(starts)), sizes), np.arange(len(v)) - np.repeat(starts, sizes)
    grid = np.full((len(starts), int(sizes.max()), *v.shape[1:]), np.nan)
    grid[at] = v
    return grid, at


def _segment_sums(v: np.ndarray, starts: np.ndarray, in_order: bool) -> np.ndarray:
    """Sum of each segment of rows of ``v`` (n, k), NaN skipped; a segment runs from one
    entry of ``starts`` to the next. Returns (len(starts), k).

    The operations of pandas' grouped ``sum`` and ``mean`` (pandas 3.1, groupby/ops.py), so
    each IC is bit-identical to the per-date pandas version this replaced: rows already in
    date order without a NaN are summed by ``np.add.reduceat``; otherwise by Kahan's
    compensated sum in the rows' order (pandas/_libs/groupby.pyx ``group_sum``).
    """
    if in_order and not np.isnan(v).any():
        return np.add.reduceat(v, starts, axis=0)
    grid, _ = _grid(v, starts)
    total, comp = np.zeros((len(starts), v.shape[1])), np.zeros((len(starts), v.shape[1]))
    with np.errstate(invalid="ignore"):  # an infinite value: its NaN compensation is reset
        for column in grid.transpose(1, 0, 2):  # the j-th row of every segment at once
            keep = ~np.isnan(column)
            y = column - comp
            t = total + y
            c = (t - total) - y
            comp = np.where(keep, np.where(np.isfinite(c), c, 0.0), comp)
            total = np.where(keep, t, total)
    return total


def _segment_ranks(v: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Rank of each entry of ``v`` (n,) without NaN within its segment (see
    :func:`_segment_sums`): 1 for the smallest, ties sharing the mean of their ranks, as
    pandas' ``rank()`` (exact: every rank is a whole or half number)."""
    grid, at = _grid(v, starts)
    order = np.argsort(grid, axis=1)  # the NaN padding sorts last
    ranked = np.take_along_axis(grid, order, axis=1)
    # A run of equal values starts at each change; NaN != NaN keeps padding out of runs.
    new = np.ones(grid.shape, bool)
    new[:, 1:] = ranked[:, 1:] != ranked[:, :-1]
    new, ordinal = new.ravel(), np.tile(np.arange(1.0, grid.shape[1] + 1), len(grid))
    first = np.flatnonzero(new)
    last = np.r_[first[1:], new.size] - 1
    mean_rank = ((ordinal[first] + ordinal[last]) / 2.0)[np.cumsum(new) - 1]
    out = np.empty(grid.shape)
    np.put_along_axis(out, order, mean_rank.reshape(grid.shape), axis=1)
    return out[at]


def _ic_of_rows(keys: pd.Index, codes: np.ndarray, x, y, rank: bool) -> pd.Series:
    """:func:`ic_by_date` of usable rows: ``codes`` index ``keys`` (sorted dates), ``x`` and
    ``y`` have no NaN. All dates at once, in the arithmetic of the per-date pandas version:
    average ranks, deviations from the date's mean, sums of their products."""
    size = np.bincount(codes, minlength=len(keys))
    big = size[codes] >= MIN_CROSS_SECTION
    codes, x, y = codes[big], x[big], y[big]
    in_order = bool((codes[1:] >= codes[:-1]).all())
    if not in_order:
        order = np.argsort(codes, kind="stable")  # keeps each date's rows in their order
        codes, x, y = codes[order], x[order], y[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ic, dated = np.empty(0), codes[:0]
    if len(codes):
        if rank:
            x, y = _segment_ranks(x, starts), _segment_ranks(y, starts)
        n = size[codes[starts]]
        with np.errstate(invalid="ignore", divide="ignore"):
            xd = x - np.repeat(_segment_sums(x[:, None], starts, in_order)[:, 0] / n, n)
            yd = y - np.repeat(_segment_sums(y[:, None], starts, in_order)[:, 0] / n, n)
            s = _segment_sums(np.stack([xd * yd, xd * xd, yd * yd], axis=1), starts, in_order)
            den = np.sqrt(s[:, 1] * s[:, 2])
            ic, dated = s[den > 0, 0] / den[den > 0], codes[starts][den > 0]
    index = keys[dated].rename("date")
    if isinstance(index, pd.DatetimeIndex | pd.TimedeltaIndex):
        index = type(index)(index, freq=None)  # as grouping gives: no frequency
    return pd.Series(ic, index=index, name="ic", dtype=float)


def ic_by_date(dates, score, realised, *, rank: bool = True) -> pd.Series:
    """Cross-sectional correlation of ``score`` and ``realised`` on each date.

    Parameters
    ----------
    dates, score, realised : array-like, shape (n_rows,)
    rank : bool
        Spearman (rank IC) when True, Pearson (IC) when False.

    Returns
    -------
    Series named ``ic``, indexed by date (sorted): one value per date with at least
    :data:`MIN_CROSS_SECTION` usable rows and non-constant score and realised return.
    """
    date = pd.Series(dates)
    x = np.asarray(score, dtype=float).reshape(-1)
    y = np.asarray(realised, dtype=float).reshape(-1)
    ok = ~(date.isna().to_numpy() | np.isnan(x) | np.isnan(y))
    codes, keys = pd.factorize(date[ok], sort=True)
    return _ic_of_rows(pd.Index(keys), codes, x[ok], y[ok], rank)


def cross_section_ic(score, realised, *, rank: bool = True) -> float | None:
    """:func:`ic_by_date` of one cross-section, without pandas: the same rule (a row with a
    NaN score or return dropped, at least :data:`MIN_CROSS_SECTION` left, neither side
    constant) and the same value; None where it has no IC.

    Parameters
    ----------
    score, realised : array-like, shape (n,)
    rank : bool
        Spearman (rank IC, average ranks for ties as pandas) when True, Pearson when False.
    """
    x = np.asarray(score, dtype=float)
    y = np.asarray(realised, dtype=float)
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    if len(x) < MIN_CROSS_SECTION:
        return None
    if rank:
        from scipy.stats import rankdata

        x, y = rankdata(x), rankdata(y)
    xd, yd = x - x.mean(), y - y.mean()
    den = math.sqrt(float((xd * xd).sum() * (yd * yd).sum()))
    return float((xd * yd).sum() / den) if den > 0 else None


def panel_ic(signal: pd.DataFrame, realised: pd.DataFrame, *, rank: bool = True) -> pd.Series:
    """:func:`ic_by_date` of two dates × assets frames (aligned on dates and assets)."""
    signal, realised = signal.align(realised, join="inner")
    dates = signal.index
    if not (dates.is_unique and dates.is_monotonic_increasing) or dates.hasnans:
        s, r = signal.stack(), realised.stack()
        x, y = s.to_numpy(dtype=float), r.to_numpy(dtype=float)
        return ic_by_date(s.index.get_level_values(0), x, y, rank=rank)
    # Sorted distinct dates: row i of the frames is date i, its assets in column order,
    # the rows ic_by_date would get from the stacked frames.
    x, y = signal.to_numpy(dtype=float), realised.to_numpy(dtype=float)
    ok = ~(np.isnan(x) | np.isnan(y))
    codes = np.broadcast_to(np.arange(len(dates))[:, None], ok.shape)[ok]
    return _ic_of_rows(dates, codes, x[ok], y[ok], rank)


def hit_rate(ic: pd.Series) -> float:
    """Share of dates whose IC is positive (NaN for an empty series)."""
    v = ic.dropna()
    return float((v > 0).mean()) if len(v) else math.nan


def long_short_returns(dates, score, realised, quantile: float = 0.2) -> pd.Series:
    """Daily equal-weight return of the top minus the bottom ``quantile`` of ``score``.

    A date's usable rows are ranked by score (percentile ranks): rows above ``1 - quantile``
    are bought, rows at or below ``quantile`` sold, each leg equally weighted, earning
    ``realised``. A score tied across a whole date fills neither leg: that date has no
    return (a model that learned nothing), rather than an error.

    Returns
    -------
    Series named ``long_short``, indexed by date (sorted).
    """
    df = _usable(dates, score, realised)
    pct = df.groupby("date")["x"].rank(pct=True)
    top = df["y"].where(pct > 1 - quantile).groupby(df["date"]).mean()
    bottom = df["y"].where(pct <= quantile).groupby(df["date"]).mean()
    return (top - bottom).dropna().sort_index().rename("long_short")


def _finite(returns) -> np.ndarray:
    r = np.asarray(returns, dtype=float)
    return r[np.isfinite(r)]


def sharpe_ratio(returns, periods_per_year: int = 1) -> float:
    """``mean / std * sqrt(periods_per_year)`` (ddof=1, zero risk-free rate), NaN skipped.

    Per period with the default ``periods_per_year=1``; NaN for fewer than two returns or a
    flat series.
    """
    r = _finite(returns)
    if r.size < 2:
        return math.nan
    sd = float(r.std(ddof=1))
    if not sd > 0:
        return math.nan
    return annualise_sharpe(float(r.mean()) / sd, periods_per_year)


def annualise_sharpe(sharpe: float, periods_per_year: int = TRADING_DAYS) -> float:
    """A per-period Sharpe ratio times ``sqrt(periods_per_year)`` (iid scaling).

    The one annualisation of a Sharpe ratio: :func:`sharpe_ratio` and the overfitting
    statistics' annual figures both go through it.
    """
    return float(sharpe) * math.sqrt(periods_per_year)


def sortino_ratio(returns, periods_per_year: int = 1) -> float:
    """``mean / downside deviation * sqrt(periods_per_year)``, NaN skipped.

    The downside deviation is ``sqrt(mean(min(r, 0)^2))`` over every return (target 0,
    Sortino and Price 1994); NaN when no return is below zero or there is none.
    """
    r = _finite(returns)
    downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2))) if r.size else math.nan
    if not downside > 0:
        return math.nan
    return float(r.mean()) / downside * math.sqrt(periods_per_year)


def annualised_volatility(returns, periods_per_year: int = TRADING_DAYS) -> float:
    """``std * sqrt(periods_per_year)`` (ddof=1), NaN skipped; NaN for fewer than two."""
    r = _finite(returns)
    return float(r.std(ddof=1)) * math.sqrt(periods_per_year) if r.size > 1 else math.nan


def drawdown(returns: pd.Series | pd.DataFrame) -> pd.Series | pd.DataFrame:
    """Drawdown of each period's wealth from its running peak, initial wealth included.

    ``wealth_t / max(1, max_{s<=t} wealth_s) - 1`` with ``wealth_t = prod(1 + r)``: a loss
    in the first period is a drawdown from the starting wealth of 1 (empyrical's
    ``max_drawdown`` definition). Values are <= 0; a NaN return compounds as 1. The
    maximum drawdown is ``-drawdown(r).min()``, the current one ``-drawdown(r).iloc[-1]``.
    """
    wealth = (1.0 + returns.fillna(0.0)).cumprod()
    return wealth / np.maximum(wealth.cummax(), 1.0) - 1.0


def annualised_sharpe(returns, periods_per_year: int = TRADING_DAYS) -> float:
    """:func:`sharpe_ratio` of daily returns, annualised with ``sqrt(252)`` (iid scaling)."""
    return sharpe_ratio(returns, periods_per_year)


def newey_west_tstat(x, lags: int) -> tuple[float, float, float]:
    """Mean, Newey-West standard error and t-statistic of a series.

    Bartlett weights ``1 - l / (lags + 1)``; NaN dropped. With ``h``-day labels sampled
    daily, consecutive ICs overlap by ``h - 1`` days, so callers pass ``lags >= h - 1``.
    Returns NaNs for fewer than ``lags + 2`` observations and a NaN standard error and
    t-statistic for a non-positive long-run variance.
    """
    v = np.asarray(x, dtype=float)
    v = v[np.isfinite(v)]
    n = v.size
    if n < lags + 2:
        return math.nan, math.nan, math.nan
    mean = float(v.mean())
    e = v - mean
    s = float(e @ e) / n
    for lag in range(1, lags + 1):
        s += 2.0 * (1.0 - lag / (lags + 1)) * float(e[lag:] @ e[:-lag]) / n
    if s <= 0:
        return mean, math.nan, math.nan
    se = math.sqrt(s / n)
    return mean, se, mean / se
