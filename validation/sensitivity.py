"""Sensitivity: the model's and the book's response to perturbed inputs and hyperparameters.

Three kinds of scenario, each scored on the sealed holdout against the registered model:

- ``noise``: every feature perturbed by Gaussian noise of ``noise`` times its own per-date
  cross-sectional standard deviation (seeded);
- ``drop:<feature>``: one feature set, on every date, to its cross-sectional median (the
  feature carries no information that day);
- ``hyper:<param>x<factor>``: the model fitted again from its signed recipe
  (validation/replication.py) with one hyperparameter of the selected trial scaled by
  ``factor``, the neighbourhood of the chosen point.

The portfolio's response is measured on the book the score drives in the simplest
long-only form the validator can build without the portfolio code: equal weights on the
top ``1 / n_quantiles`` of the score each date. ``turnover`` is the mean over dates of
``0.5 * sum |w_scenario - w_model|``, the share of the book that changes. Two unrelated
scores give an expected turnover of ``1 - q`` (a name in one top bucket is in the other's
with probability ``q``): :attr:`Scenario.relative_turnover` divides by it, so 1 means the
scenario's book is no closer to the model's than a random one. ``prediction_change`` is the
mean absolute change of the score in units of its per-date standard deviation, and
``rank_ic`` the scenario's holdout mean rank IC (through ``tasks.model.stats``);
``ic_loss_tstat`` is the Newey-West t-statistic of the per-date difference of the model's and
the scenario's rank IC (``horizon - 1`` lags: overlapping labels), so that a loss on a weak
model, whose IC is mostly noise, is told from a real one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tasks.model.stats import ic_by_date, newey_west_tstat

__all__ = ["Scenario", "book_turnover", "hyper_overrides", "scenarios"]


@dataclass(frozen=True)
class Scenario:
    """One perturbation and the response it caused.

    Attributes
    ----------
    name : str
        ``noise``, ``drop:<feature>`` or ``hyper:<param>x<factor>``.
    kind : str
        ``noise``, ``drop`` or ``hyper``.
    rank_ic : float
        Holdout mean rank IC of the scenario's score (NaN: none).
    ic_loss : float
        ``(base - rank_ic) / base`` when the model's rank IC ``base`` is positive, else NaN.
    ic_loss_tstat : float
        Newey-West t-statistic of the per-date rank IC of the model minus the scenario's.
    turnover : float
        Mean one-way turnover from the model's top-quantile book to the scenario's, in [0, 1].
    relative_turnover : float
        ``turnover / (1 - q)``: 1 is a random book's distance.
    prediction_change : float
        Mean |score change| over the per-date standard deviation of the model's score.
    """

    name: str
    kind: str
    rank_ic: float
    ic_loss: float
    ic_loss_tstat: float
    turnover: float
    relative_turnover: float
    prediction_change: float


def top_book(dates: np.ndarray, score: np.ndarray, quantile: float) -> pd.Series:
    """Equal weights on the top ``quantile`` of ``score`` per date (rows in input order)."""
    frame = pd.DataFrame({"date": dates, "s": score})
    pct = frame.groupby("date")["s"].rank(pct=True, method="first")
    held = (pct > 1 - quantile).astype(float)
    return held / held.groupby(frame["date"]).transform("sum").replace(0, np.nan)


def book_turnover(dates: np.ndarray, a: np.ndarray, b: np.ndarray, quantile: float) -> float:
    """Mean over dates of ``0.5 * sum |w_b - w_a|`` of the two scores' top-quantile books."""
    wa, wb = top_book(dates, a, quantile), top_book(dates, b, quantile)
    per_date = (0.5 * (wb - wa).abs()).groupby(dates).sum(min_count=1)
    return float(per_date.mean()) if per_date.notna().any() else math.nan


def _std_by_date(dates: np.ndarray, x: np.ndarray) -> np.ndarray:
    return pd.Series(x).groupby(dates).transform("std").to_numpy(dtype=float)


def _response(name, kind, holdout, base, score, quantile, base_ics, lags) -> Scenario:
    dates = holdout["date"].to_numpy()
    ic = ic_by_date(dates, score, holdout["fwd_ret"].to_numpy(dtype=float))
    rank_ic = float(ic.mean()) if len(ic) else math.nan
    base_ic = float(base_ics.mean()) if len(base_ics) else math.nan
    loss = (base_ic - rank_ic) / base_ic if base_ic > 0 and math.isfinite(rank_ic) else math.nan
    paired = (base_ics - ic).dropna()
    tstat = newey_west_tstat(paired.to_numpy(), lags)[2]
    sd = _std_by_date(dates, base)
    change = np.abs(score - base) / np.where(sd > 0, sd, np.nan)
    turn = book_turnover(dates, base, score, quantile)
    return Scenario(
        name=name,
        kind=kind,
        rank_ic=rank_ic,
        ic_loss=float(loss),
        ic_loss_tstat=float(tstat),
        turnover=turn,
        relative_turnover=turn / (1 - quantile),
        prediction_change=float(np.nanmean(change)) if np.isfinite(change).any() else math.nan,
    )


def hyper_overrides(
    params: Mapping[str, object], factors: Sequence[Mapping[str, float]]
) -> list[tuple[str, dict[str, object]]]:
    """``(name, overrides)`` per entry of ``factors``: each named parameter scaled.

    Integer parameters are rounded and kept at 2 or more (``num_leaves`` needs 2);
    ``learning_rate`` and fractions stay at most 1. A parameter the recipe lacks is skipped.
    """
    out = []
    for spec in factors:
        over: dict[str, object] = {}
        for key, factor in spec.items():
            value = params.get(key)
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            scaled = value * float(factor)
            if isinstance(value, int):
                over[key] = max(2, round(scaled))
            else:
                over[key] = min(1.0, scaled) if key.endswith(("rate", "fraction")) else scaled
        if over and any(over[k] != params.get(k) for k in over):
            out.append(("hyper:" + ",".join(f"{k}x{spec[k]:g}" for k in over), over))
    return out


def scenarios(
    holdout: pd.DataFrame,
    features: Sequence[str],
    base: np.ndarray,
    predict: Callable[[pd.DataFrame], np.ndarray],
    refits: Sequence[tuple[str, np.ndarray]] = (),
    *,
    noise: float,
    quantile: float,
    seed: int,
    horizon: int = 1,
) -> list[Scenario]:
    """Every scenario's response, the noise scenario first, then drops, then refits.

    Parameters
    ----------
    holdout : DataFrame
        Sealed holdout rows (``date``, the features, ``fwd_ret``).
    base : ndarray, shape (n_rows,)
        The registered model's score of ``holdout``.
    predict : callable
        Scores a frame with the registered model.
    refits : sequence of (name, ndarray)
        Holdout scores of models fitted with varied hyperparameters.
    noise : float
        Noise scale in units of each feature's per-date standard deviation.
    quantile : float
        Share of names the long-only book holds (``1 / n_quantiles``).
    horizon : int
        Label horizon: the Newey-West lags of the paired IC test are ``horizon - 1``.
    """
    dates = holdout["date"].to_numpy()
    realised = holdout["fwd_ret"].to_numpy(dtype=float)
    base_ics = ic_by_date(dates, base, realised)
    lags = max(horizon - 1, 1)
    rng = np.random.default_rng(seed)
    noisy = holdout.copy()
    for f in features:
        x = noisy[f].to_numpy(dtype=float)
        noisy[f] = x + noise * np.nan_to_num(_std_by_date(dates, x)) * rng.standard_normal(len(x))
    out = [_response("noise", "noise", holdout, base, predict(noisy), quantile, base_ics, lags)]
    for f in features:
        dropped = holdout.copy()
        dropped[f] = dropped.groupby("date")[f].transform("median")
        out.append(
            _response(
                f"drop:{f}", "drop", holdout, base, predict(dropped), quantile, base_ics, lags
            )
        )
    for name, score in refits:
        out.append(_response(name, "hyper", holdout, base, score, quantile, base_ics, lags))
    return out
