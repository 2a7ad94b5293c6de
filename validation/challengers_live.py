"""Live challengers: the realised outcomes of the signals a rebalance scored in shadow.

Each rebalance scores the champion and its challengers (the previous champion, 12-1
momentum, any version in paper) on its day and records the scores (``challengers.scored``,
flows/challenger_stage.py); none of them but the champion drives the book. Once the
horizon ``h`` has passed, each signal's outcome on that rebalance is realised from the
prices: its rank IC against the ``h``-day forward return of the rebalance's close, and the
return of its top-minus-bottom quintile over those days (``tasks.model.stats``, the one
home of both). The monitor keeps them side by side (:func:`check_challengers`): each
signal's mean over the rebalances realised so far and the champion's margin over it,
paired on the rebalances both were scored.

The margin's standard error is the sample standard deviation of the paired differences
over ``sqrt(n)`` (the ``h``-day outcomes of monthly rebalances do not overlap when
``h <= 21``). A challenger ahead of the champion by more than ``z`` standard errors
(the monitoring policy's ``ic_z``, one-sided) after at least :data:`MIN_REBALANCES`
realised rebalances is a warning, which escalation turns into a finding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from tasks.model.stats import forward_returns, ic_by_date, long_short_returns
from validation.monitoring_checks import Check, CheckResult, Status

__all__ = ["CHAMPION", "MIN_REBALANCES", "check_challengers", "realised_outcomes"]

#: The champion's column in a shadow scoring.
CHAMPION = "champion"
#: Realised rebalances before a margin may warn: fewer leave the t-statistic meaningless.
MIN_REBALANCES = 6


def realised_outcomes(
    shadow: Sequence[tuple[pd.Timestamp, pd.DataFrame]],
    close: pd.DataFrame,
    horizon: int,
    as_of: pd.Timestamp,
) -> pd.DataFrame:
    """One row per (rebalance, signal) whose horizon has passed by ``as_of``.

    Parameters
    ----------
    shadow : sequence of (date, DataFrame)
        Each rebalance's day and its scores: ``asset`` and one column per signal.
    close : DataFrame, shape (n_dates, n_assets)
    horizon : int
    as_of : Timestamp
        Nothing after it is read.

    Returns
    -------
    DataFrame with ``date``, ``signal``, ``rank_ic``, ``long_short`` (NaN where the
    cross-section is too small).
    """
    fwd = forward_returns(close.loc[:as_of], horizon)
    rows = []
    for day, scores in shadow:
        day = pd.Timestamp(day)
        if day not in fwd.index or fwd.loc[day].isna().all():
            continue  # the horizon has not passed yet (or the day is not in the data)
        realised = fwd.loc[day].reindex(scores["asset"]).to_numpy(dtype=float)
        dates = np.full(len(scores), day)
        for signal in (c for c in scores.columns if c != "asset"):
            x = scores[signal].to_numpy(dtype=float)
            ic = ic_by_date(dates, x, realised)
            ls = long_short_returns(dates, x, realised)
            rows.append({"date": day, "signal": signal,
                         "rank_ic": float(ic.iloc[0]) if len(ic) else math.nan,
                         "long_short": float(ls.iloc[0]) if len(ls) else math.nan})  # fmt: skip
    return pd.DataFrame(rows, columns=["date", "signal", "rank_ic", "long_short"])


def check_challengers(outcomes: pd.DataFrame, z: float) -> CheckResult:
    """Each signal's realised mean, the champion's paired margin over it, and a warning
    when a challenger is significantly ahead (module docstring).

    ``data["signals"]``: ``{signal: {rebalances, rank_ic, long_short, margin, margin_se}}``.
    """
    check = Check.CHALLENGERS
    if outcomes.empty:
        return CheckResult(check, Status.NOT_EVALUATED, None, None, "no realised rebalance yet")
    wide = outcomes.pivot_table(index="date", columns="signal", values="rank_ic")
    signals, ahead = {}, []
    for name in wide.columns:
        mine = outcomes.loc[outcomes["signal"] == name]
        row = {"rebalances": int(mine["rank_ic"].notna().sum()),
               "rank_ic": _mean(mine["rank_ic"]), "long_short": _mean(mine["long_short"]),
               "margin": None, "margin_se": None}  # fmt: skip
        if name != CHAMPION and CHAMPION in wide.columns:
            d = (wide[CHAMPION] - wide[name]).dropna()
            row["margin"] = _mean(d)
            se = float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else math.nan
            row["margin_se"] = se if math.isfinite(se) else None
            if len(d) >= MIN_REBALANCES and se > 0 and row["margin"] / se < -z:
                ahead.append(f"{name} ahead of the champion by {-row['margin']:.4f} rank IC"
                             f" (se {se:.4f}, {len(d)} rebalances)")  # fmt: skip
        signals[name] = row
    worst = min((r["margin"] for r in signals.values() if r["margin"] is not None), default=None)
    n = len(wide)
    detail = "; ".join(ahead) or (
        f"{n} realised rebalances: "
        + ", ".join(
            f"{k} {v['rank_ic']:.4f}" for k, v in signals.items() if v["rank_ic"] is not None
        )
    )
    status = Status.WARNING if ahead else Status.OK
    return CheckResult(check, status, worst, 0.0, detail, {"signals": signals})


def _mean(x: pd.Series) -> float | None:
    v = x.dropna()
    return float(v.mean()) if len(v) else None
