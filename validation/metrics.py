"""Outcomes analysis of a cross-sectional signal on the holdout (pure numpy/pandas).

Input is a long frame, one row per (date, asset), with a score column and raw forward
returns (``fwd_ret`` at the model's horizon ``h``; ``fwd_ret_1``, ``fwd_ret_5``, ...,
see docs/architecture.md "Sealed dataset split"). Rows whose score or target is NaN are
dropped per statistic; dates with fewer than
``tasks.model.stats.MIN_CROSS_SECTION`` usable rows are skipped.
The statistics themselves (IC, long-short, Sharpe, Newey-West) live in
:mod:`tasks.model.stats`, shared with cross-validation and monitoring.

References
----------
- Grinold, R. and Kahn, R. (2000). *Active Portfolio Management*, ch. 6 and 16: IC, ICIR.
- Newey, W. and West, K. (1987). "A Simple, Positive Semi-Definite, Heteroskedasticity and
  Autocorrelation Consistent Covariance Matrix". Econometrica 55(3). With ``h``-day labels
  sampled daily, consecutive ICs overlap by ``h - 1`` days, so the lag is at least ``h - 1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import pandas as pd

from tasks.model.regimes import market_states, volatility_state
from tasks.model.stats import (
    MIN_CROSS_SECTION,
    TRADING_DAYS,
    annualised_sharpe,
    hit_rate,
    ic_by_date,
    long_short_returns,
    newey_west_tstat,
)

__all__ = [
    "ICMethod",
    "SignalMetrics",
    "evaluate_signal",
    "holdout_long_short",
    "holdout_states",
    "ic_series",
    "market_returns",
    "quantile_labels",
    "quantile_returns",
    "regime_ic",
    "regime_metrics",
    "signal_turnover",
    "volatility_regime",
]


class ICMethod(StrEnum):
    """Information coefficient: Pearson correlation, or Spearman (rank) correlation."""

    PEARSON = "pearson"
    SPEARMAN = "spearman"


def _clean(frame: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    df = frame[["date", *cols]].dropna()
    counts = df.groupby("date")["date"].transform("size")
    return df[counts >= MIN_CROSS_SECTION]


def ic_series(
    frame: pd.DataFrame, score: str, target: str, method: ICMethod = ICMethod.SPEARMAN
) -> pd.Series:
    """:func:`tasks.model.stats.ic_by_date` of two columns of a long frame."""
    rank = method is ICMethod.SPEARMAN
    cols = [frame[c].to_numpy(dtype=float) for c in (score, target)]
    return ic_by_date(frame["date"].to_numpy(), *cols, rank=rank)


def quantile_labels(frame: pd.DataFrame, score: str, n_quantiles: int) -> pd.Series:
    """Per-date quantile of ``score``: 1 (lowest) .. ``n_quantiles`` (highest); NaN kept."""
    pct = frame.groupby("date")[score].rank(pct=True)
    return np.ceil(pct * n_quantiles).clip(1, n_quantiles)


def quantile_returns(
    frame: pd.DataFrame, score: str, target: str, n_quantiles: int = 5
) -> pd.Series:
    """Mean ``target`` per score quantile: equal-weight within a date, then over dates.

    Returns a Series indexed 1..``n_quantiles``.
    """
    df = _clean(frame, [score, target])
    q = quantile_labels(df, score, n_quantiles)
    per_date = df.groupby([df["date"], q])[target].mean()
    out = per_date.groupby(level=1).mean()
    out.index = out.index.astype(int)
    return out.reindex(range(1, n_quantiles + 1))


def holdout_long_short(
    frame: pd.DataFrame, score: str, n_quantiles: int = 5, target: str = "fwd_ret_1"
) -> pd.Series:
    """Daily return long the top and short the bottom ``1 / n_quantiles`` of ``score``.

    :func:`tasks.model.stats.long_short_returns` earning the next day's return
    ``fwd_ret_1`` (non-overlapping, so its Sharpe ratio needs no overlap correction).
    """
    cols = [frame[c].to_numpy(dtype=float) for c in (score, target)]
    return long_short_returns(frame["date"].to_numpy(), *cols, 1 / n_quantiles)


def signal_turnover(frame: pd.DataFrame, score: str, n_quantiles: int = 5) -> float:
    """Mean daily share of top-quantile names that were not in the top quantile the day before.

    0 for a signal that never changes, about ``1 - 1/n_quantiles`` for a random one.
    """
    df = frame[["date", "asset", score]].dropna()
    top = quantile_labels(df, score, n_quantiles) == n_quantiles
    member = df.assign(top=top).pivot_table(
        index="date", columns="asset", values="top", aggfunc="max", fill_value=False
    )
    member = member.astype(bool).sort_index().to_numpy()
    if member.shape[0] < 2:
        return math.nan
    stay = (member[1:] & member[:-1]).sum(axis=1)
    size = member[1:].sum(axis=1)
    ok = size > 0
    return float(np.mean(1.0 - stay[ok] / size[ok])) if ok.any() else math.nan


def market_returns(frame: pd.DataFrame) -> pd.Series:
    """The equal-weight market's daily return realised on each date, point in time.

    The return realised on ``t`` is the mean ``fwd_ret_1`` of date ``t - 1`` (the close of
    ``t - 1`` to the close of ``t``), so a state at ``t`` built from it uses nothing later.
    """
    return frame.groupby("date")["fwd_ret_1"].mean().sort_index().shift(1).dropna()


def volatility_regime(frame: pd.DataFrame, window: int = 21) -> pd.Series:
    """``high_vol`` / ``low_vol`` label per date, point in time
    (:func:`tasks.model.regimes.volatility_state` of :func:`market_returns`): dates above
    the holdout's median trailing ``window``-day volatility are ``high_vol``."""
    return volatility_state(market_returns(frame), window)


def holdout_states(frame: pd.DataFrame, window: int = 21) -> pd.DataFrame:
    """Each date's market state under every definition: :func:`tasks.model.regimes.market_states`
    of :func:`market_returns`, the volatility state over ``window`` days."""
    return market_states(market_returns(frame), vol_window=window)[0]


def regime_ic(rank_ic: pd.Series, states: pd.DataFrame, lags: int) -> dict[str, dict]:
    """Mean rank IC per state of each regime definition, with its standard error.

    ``{definition: {state: {rank_ic, se, tstat, n_dates}}}``. The standard error is
    Newey-West with ``lags`` on the state's dates taken as one series (overlapping labels
    within a stretch of the state; the few joins between stretches add at most ``lags``
    spurious cross terms each, small beside the stretches' own length).
    """
    out: dict[str, dict] = {}
    for definition in states.columns:
        labels = states[definition].reindex(rank_ic.index)
        per: dict[str, dict] = {}
        for state, ic in rank_ic.groupby(labels):
            mean, se, tstat = newey_west_tstat(ic.to_numpy(), lags)
            per[str(state)] = {"rank_ic": float(mean), "se": float(se), "tstat": float(tstat),
                               "n_dates": int(ic.size)}  # fmt: skip
        out[str(definition)] = per
    return out


def regime_metrics(by_state: dict[str, dict]) -> dict[str, float]:
    """``{rank_ic_<regime>_<state>: mean rank IC}``: the per-regime ICs as MLflow metrics."""
    return {f"rank_ic_{d}_{s}": v["rank_ic"] for d, per in by_state.items() for s, v in per.items()}


@dataclass(frozen=True)
class SignalMetrics:
    """Holdout outcomes of one signal. ICs are Spearman unless named ``ic_*`` (Pearson).

    ``rank_ic_se`` is the Newey-West standard error of ``rank_ic_mean`` (lag ``nw_lags``);
    ``hit_rate`` is the share of dates with a positive rank IC. Sharpe ratios, returns and
    volatilities of the long-short portfolio are annualised with ``periods_per_year``.
    ``ic_decay`` maps a horizon (days) to the mean rank IC against ``fwd_ret_<h>``.
    """

    name: str
    n_dates: int
    n_rows: int
    ic_mean: float
    rank_ic_mean: float
    rank_ic_std: float
    icir: float
    rank_ic_se: float
    rank_ic_tstat: float
    nw_lags: int
    hit_rate: float
    quantile_returns: dict[int, float]
    top_minus_bottom: float
    ls_sharpe: float
    ls_annual_return: float
    ls_annual_vol: float
    turnover: float
    ic_by_year: dict[str, float] = field(default_factory=dict)
    ic_by_regime: dict[str, float] = field(default_factory=dict)
    ic_by_state: dict[str, dict] = field(default_factory=dict)
    ic_decay: dict[int, float] = field(default_factory=dict)


def evaluate_signal(
    frame: pd.DataFrame,
    score: str,
    *,
    horizon: int,
    name: str | None = None,
    n_quantiles: int = 5,
    decay_horizons: tuple[int, ...] = (1, 5, 21, 63),
    periods_per_year: int = TRADING_DAYS,
    regime_window: int = 21,
    states: pd.DataFrame | None = None,
) -> tuple[SignalMetrics, pd.Series]:
    """All outcome metrics of ``score`` against ``fwd_ret`` (horizon ``h``).

    ``states`` is :func:`holdout_states` of ``frame`` and ``regime_window`` when the caller
    has it already (signals scored on the same holdout rows share one market and one HMM
    fit); None computes it.

    Returns
    -------
    (metrics, long_short) : SignalMetrics and the daily long-short return Series.
    """
    rank_ic = ic_series(frame, score, "fwd_ret", ICMethod.SPEARMAN)
    ic = ic_series(frame, score, "fwd_ret", ICMethod.PEARSON)
    lags = max(horizon - 1, 1)
    _, se, tstat = newey_west_tstat(rank_ic.to_numpy(), lags)
    std = float(rank_ic.std()) if rank_ic.size > 1 else math.nan
    qret = quantile_returns(frame, score, "fwd_ret", n_quantiles)
    ls = holdout_long_short(frame, score, n_quantiles)
    ls_std = float(ls.std()) if ls.size > 1 else math.nan
    ann = math.sqrt(periods_per_year)
    by_year = rank_ic.groupby(rank_ic.index.year).mean()
    if states is None:
        states = holdout_states(frame, regime_window)
    by_state = regime_ic(rank_ic, states, lags)
    by_regime = {k: v["rank_ic"] for k, v in by_state.get("volatility", {}).items()}
    decay = {}
    for h in decay_horizons:
        col = f"fwd_ret_{h}"
        if col in frame.columns:
            decay[h] = float(ic_series(frame, score, col).mean())
    metrics = SignalMetrics(
        name=name or score,
        n_dates=int(rank_ic.size),
        n_rows=int(frame[[score, "fwd_ret"]].dropna().shape[0]),
        ic_mean=float(ic.mean()),
        rank_ic_mean=float(rank_ic.mean()),
        rank_ic_std=std,
        icir=float(rank_ic.mean()) / std if std and std > 0 else math.nan,
        rank_ic_se=se,
        rank_ic_tstat=tstat,
        nw_lags=lags,
        hit_rate=hit_rate(rank_ic),
        quantile_returns={int(k): float(v) for k, v in qret.items()},
        top_minus_bottom=float(qret.iloc[-1] - qret.iloc[0]),
        ls_sharpe=annualised_sharpe(ls, periods_per_year),
        ls_annual_return=float(ls.mean()) * periods_per_year,
        ls_annual_vol=ls_std * ann,
        turnover=signal_turnover(frame, score, n_quantiles),
        ic_by_year={str(k): float(v) for k, v in by_year.items()},
        ic_by_regime=by_regime,
        ic_by_state=by_state,
        ic_decay=decay,
    )
    return metrics, ls
