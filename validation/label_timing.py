"""Label-timing leak test: does the signal know the returns *inside* its label window only?

A feature that leaks the label (a return stamped with its period date, a future price, a
target computed one row too late) makes the model's score correlate with the returns of
the ``h`` days its label spans and with nothing after them: its IC falls off a cliff at the
window's end. A score built from information known at ``t`` has an IC profile over the
days after ``t`` that decays smoothly (the planted 63-day characteristic of
:mod:`tasks.data.synthetic` keeps almost all of it from one window to the next).

The test splits the one-day returns after each date into the label window (days
``1..h``) and the window after it (days ``h+1..2h``), and compares the score's mean daily
rank IC on each, date by date::

    step_t = mean_{j<=h} IC_j(t) - mean_{h<j<=2h} IC_j(t)

with ``IC_j(t)`` the cross-sectional rank IC of the score at ``t`` and the return of day
``t+j`` (:func:`tasks.model.stats.panel_ic`). The mean step is tested with a Newey-West
t-statistic (lags ``2h - 1``: consecutive steps share up to ``2h - 1`` days of returns),
and the share of the window's IC the next window retains is reported. A leak shows a
significant step and keeps little of its IC (``retained`` near 0); a genuine signal keeps
most of it. A genuine signal whose IC halves within one horizon also shows a cliff: its
horizon is too long for what it knows, and the finding says so.

Standard error. With ``n`` assets a daily rank IC has a standard error near
``1/sqrt(n)``; the window means average ``h`` such days, so over ``D`` dates the step's
standard error is about ``sqrt(2 / (n h D))`` times the overlap inflation the Newey-West
lags absorb. A leak of IC 0.09 at horizon 5 puts about ``0.09 / sqrt(5) = 0.04`` on each
day of the window: on 50 assets and 220 holdout dates the step's t-statistic is about 6.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from tasks.model.stats import newey_west_tstat, panel_ic

__all__ = ["LabelTiming", "label_timing"]


@dataclass(frozen=True)
class LabelTiming:
    """The score's IC inside its label window and in the window after it.

    Attributes
    ----------
    horizon : int
        Label horizon ``h`` (days).
    ic_by_day : dict of int to float
        Mean rank IC of the score at ``t`` and the one-day return of day ``t+j``,
        ``j = 1..2h``.
    inside, after : float
        Mean daily rank IC over days ``1..h`` and ``h+1..2h``.
    step, step_tstat : float
        Mean of ``inside - after`` date by date, and its Newey-West t-statistic.
    retained : float
        ``after / inside``: the share of the window's IC the next window keeps (NaN when
        ``inside <= 0``).
    n_dates : int
        Dates with both windows complete.
    """

    horizon: int
    ic_by_day: dict[int, float]
    inside: float
    after: float
    step: float
    step_tstat: float
    retained: float
    n_dates: int


def label_timing(frame: pd.DataFrame, score: str, horizon: int) -> LabelTiming:
    """:class:`LabelTiming` of ``score`` in a long holdout frame.

    Parameters
    ----------
    frame : DataFrame
        One row per (date, asset): ``date``, ``asset``, ``score`` and ``fwd_ret_1`` (the
        return from ``t`` to the next date). Dates are the holdout's consecutive trading
        dates; NaN scores and returns are skipped per date.
    score : str
        Column of the score.
    horizon : int
        The label horizon ``h >= 1``.
    """
    h = int(horizon)
    signal = frame.pivot(index="date", columns="asset", values=score).sort_index()
    one_day = frame.pivot(index="date", columns="asset", values="fwd_ret_1").sort_index()
    by_day = {
        j: panel_ic(signal, one_day.shift(-(j - 1))).reindex(signal.index)
        for j in range(1, 2 * h + 1)
    }
    days = pd.DataFrame(by_day)
    inside = days[list(range(1, h + 1))].mean(axis=1, skipna=False)
    after = days[list(range(h + 1, 2 * h + 1))].mean(axis=1, skipna=False)
    step = (inside - after).dropna()
    _, _, tstat = newey_west_tstat(step.to_numpy(), max(2 * h - 1, 1))
    both = inside.notna() & after.notna()
    mean_in, mean_after = float(inside[both].mean()), float(after[both].mean())
    retained = mean_after / mean_in if mean_in > 0 else math.nan
    return LabelTiming(
        horizon=h,
        ic_by_day={j: float(days[j].mean()) for j in days.columns},
        inside=mean_in,
        after=mean_after,
        step=float(step.mean()) if len(step) else math.nan,
        step_tstat=tstat,
        retained=retained,
        n_dates=len(step),
    )
