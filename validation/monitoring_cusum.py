"""The fast sign-flip detector: a one-sided CUSUM on the daily one-day rank IC.

Why a second detector. The realised-IC window test (:func:`validation.monitoring_checks.
check_realised_ic`) reads ``h``-day ICs, so it waits ``h`` days for a prediction's label and
then for most of a 126-day window to turn: on planted flip markets it tripped 107-170 trading
days after the flip. A model that ranks ``h``-day returns ranks the next day's returns too
(the one-day IC is the first point of its IC term structure), and the one-day IC is known the
next day. Daily one-day ICs barely overlap (their returns do not), so they are close to
independent and Page's CUSUM (1954) applies with its known run-length theory.

The statistic. With ``x_t`` the one-day rank IC of the prediction made on ``t``, ``σ`` the
sample standard deviation of the ``x`` in the window, and ``y_t = (x_t - floor) / σ``
(``floor`` = ``min_realised_ic``)::

    S_0 = 0,   S_t = max(0, S_{t-1} - y_t - k),   alarm when S_t > h

``k`` (``cusum_k``) and ``h`` (``cusum_h``) are in units of ``σ``. The increments
``-y_t - k`` have mean ``-(δ + k)`` when the true standardised IC above the floor is ``δ``.

False-alarm rate (derived, not fitted). For independent unit-variance normal steps whose
mean after subtracting ``k`` is ``m``, Siegmund's (1985) corrected-diffusion approximation
of the average run length is ``ARL = (exp(-2 m b) - 1 + 2 m b) / (2 m²)``, ``b = h + 1.166``
(:func:`average_run_length`; tests/test_monitoring_cusum.py checks it by simulation). The
worst case for a model whose IC is at least the floor is ``δ = 0``: with the defaults
``k = 0.25, h = 8`` that is one false alarm per ~738 trading days of checking every day; a
signal with ``δ = 0.3`` above the floor has ``ARL ≈ 4e4`` days. A check only at rebalance
dates sees fewer crossings, so these are upper bounds on the false-alarm rate.

Detection. After a flip the increments have mean ``δ - k``; the expected delay is about
``ARL(δ - k)`` days plus the one-day label lag.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from governance.policy.schema import MonitoringPolicy
from validation.monitoring_checks import Check, CheckResult, Status, realised_ic

__all__ = ["SIEGMUND_SHIFT", "average_run_length", "check_ic_cusum", "cusum_path"]

#: Siegmund's correction of the threshold for the overshoot of a normal random walk
#: (2 × 0.583, the expected overshoot constant; Siegmund 1985, Sequential Analysis, §X.2).
SIEGMUND_SHIFT = 1.166


def average_run_length(mu: float, k: float, h: float) -> float:
    """Siegmund's average run length of ``S_t = max(0, S_{t-1} + X_t - k)`` to cross ``h``.

    Parameters
    ----------
    mu : float
        Mean of the unit-variance normal increments ``X_t`` (before subtracting ``k``).
    k, h : float
        Reference value and decision threshold, in standard deviations.
    """
    drift = mu - k
    b = h + SIEGMUND_SHIFT
    if abs(drift) < 1e-12:
        return b * b
    return (math.exp(-2.0 * drift * b) - 1.0 + 2.0 * drift * b) / (2.0 * drift * drift)


def cusum_path(x: np.ndarray, floor: float, k: float) -> np.ndarray:
    """``S_t`` of the module doc for the IC series ``x`` (standardised by its own sd)."""
    sd = float(np.std(x, ddof=1)) if len(x) > 1 else math.nan
    if not math.isfinite(sd) or sd <= 0:
        return np.full(len(x), math.nan)
    inc = -(x - floor) / sd - k
    s = np.empty(len(x))
    level = 0.0
    for i, v in enumerate(inc):
        level = max(0.0, level + v)
        s[i] = level
    return s


def check_ic_cusum(
    scores: pd.DataFrame, close: pd.DataFrame, as_of: pd.Timestamp, policy: MonitoringPolicy
) -> CheckResult:
    """Breach when the CUSUM of the last ``cusum_window`` one-day ICs is above ``cusum_h``."""
    k, h = policy.cusum_k, policy.cusum_h
    ics = realised_ic(scores, close, 1, as_of=as_of, window=policy.cusum_window)
    arl0 = average_run_length(0.0, k, h)
    data = {"k": k, "h": h, "n": len(ics), "window": policy.cusum_window, "arl0_at_floor": arl0}
    if len(ics) < policy.cusum_min:
        return CheckResult(
            Check.IC_CUSUM, Status.NOT_EVALUATED, None, h,
            f"{len(ics)} one-day ICs, {policy.cusum_min} needed", data,
        )  # fmt: skip
    path = cusum_path(ics.to_numpy(dtype=float), policy.min_realised_ic, k)
    level = float(path[-1])
    breach = level > h
    above = np.flatnonzero(path > h)
    since = str(ics.index[above[0]].date()) if breach and len(above) else None
    detail = (
        f"CUSUM of {len(ics)} one-day ICs below floor {policy.min_realised_ic:g}: "
        f"{level:.2f} {'>' if breach else '<='} h {h:g} (k {k:g}; "
        f"false alarm at the floor once per {arl0:.0f} days)"
    )
    status = Status.BREACH if breach else Status.OK
    return CheckResult(Check.IC_CUSUM, status, level, h, detail, {**data, "first_above": since})
