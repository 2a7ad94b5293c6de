"""The monitoring checks: one pure function per check, each returning a :class:`CheckResult`.

What each check tests and where its threshold comes from is in :mod:`validation.monitoring`,
which assembles them into a report (``assess_monitoring``) and re-exports them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import pandas as pd

from governance.policy.schema import BreachAction, MonitoringPolicy
from tasks.model.stats import (
    TRADING_DAYS,
    drawdown,
    forward_returns,
    newey_west_tstat,
    panel_ic,
)
from validation.drift import psi

__all__ = [
    "Check",
    "CheckResult",
    "ICTest",
    "Status",
    "check_acceptances",
    "check_drawdown",
    "check_drift",
    "check_ic_decay",
    "check_realised_ic",
    "check_revalidation",
    "check_tracking_error",
    "current_drawdown",
    "ic_test",
    "portfolio_returns",
    "realised_ic",
]


class Check(StrEnum):
    FEATURE_DRIFT = "feature_drift"
    PREDICTION_DRIFT = "prediction_drift"
    REALISED_IC = "realised_ic"
    IC_DECAY = "ic_decay"
    IC_CUSUM = "ic_cusum"
    DRAWDOWN = "drawdown"
    TRACKING_ERROR = "tracking_error"
    REVALIDATION = "revalidation"
    ACCEPTANCE = "acceptance_expiry"
    OPERATING_BOUNDARY = "operating_boundary"
    CHALLENGERS = "challengers"


class Status(StrEnum):
    """``breach`` trips the kill switch (when the policy enables monitoring trips)."""

    OK = "ok"
    WARNING = "warning"
    BREACH = "breach"
    NOT_EVALUATED = "not_evaluated"


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one check: the value, the threshold it was held against, and why."""

    check: Check
    status: Status
    value: float | None
    threshold: float | None
    detail: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ICTest:
    """Mean realised IC over the window, its Newey-West standard error and sample size."""

    mean: float
    se: float
    n: int

    def upper(self, z: float) -> float:
        """One-sided upper confidence bound ``mean + z * se``."""
        return self.mean + z * self.se


# -- realised IC ---------------------------------------------------------------------------


def realised_ic(
    scores: pd.DataFrame,
    close: pd.DataFrame,
    horizon: int,
    as_of: pd.Timestamp | None = None,
    window: int | None = None,
) -> pd.Series:
    """Daily rank IC of predictions whose ``horizon``-day forward return is known at ``as_of``.

    Parameters
    ----------
    scores : DataFrame, shape (n_dates, n_assets)
        Predictions made at each date (point-in-time features); NaN where not scored.
    close : DataFrame, shape (n_dates', n_assets)
        Close prices. Only prices at dates ``<= as_of`` are used, so a prediction at ``t``
        counts once ``t + horizon <= as_of`` (in trading dates of ``close``).
    horizon : int
        The model's label horizon ``h`` in trading days.
    as_of : Timestamp, optional
        Evaluation date (default: the last date of ``close``).
    window : int, optional
        Keep the last ``window`` realised dates only.

    Returns
    -------
    Series
        Spearman IC indexed by prediction date (sorted); dates with fewer than
        ``tasks.model.stats.MIN_CROSS_SECTION`` assets scored and priced are absent.
    """
    px = close if as_of is None else close.loc[:as_of]
    fwd = forward_returns(px, horizon).iloc[: max(len(px) - horizon, 0)]
    dates = scores.index.intersection(fwd.index)
    if window is not None:
        dates = dates[-window:]
    if len(dates) == 0:
        return pd.Series(dtype=float, name="ic")
    return panel_ic(scores.loc[dates], fwd.loc[dates], rank=True)


def ic_test(ics: pd.Series, horizon: int) -> ICTest:
    """Mean and Newey-West standard error (lag ``h - 1``) of a daily IC series."""
    mean, se, _ = newey_west_tstat(ics.to_numpy(dtype=float), max(horizon - 1, 0))
    return ICTest(mean, se, int(ics.notna().sum()))


def check_realised_ic(ics: pd.Series, horizon: int, policy: MonitoringPolicy) -> CheckResult:
    """Breach when realised IC is significantly below ``min_realised_ic`` (see module doc)."""
    t = ic_test(ics, horizon)
    data = {"mean": t.mean, "se": t.se, "n": t.n, "window": policy.ic_window, "z": policy.ic_z}
    if t.n < policy.ic_window or not math.isfinite(t.se):
        return CheckResult(
            Check.REALISED_IC, Status.NOT_EVALUATED, t.mean, policy.min_realised_ic,
            f"{t.n} realised ICs, {policy.ic_window} needed", data,
        )  # fmt: skip
    upper = t.upper(policy.ic_z)
    breach = upper < policy.min_realised_ic
    detail = (
        f"mean realised IC {t.mean:.4f} (se {t.se:.4f}, n={t.n}); upper bound {upper:.4f} "
        f"{'<' if breach else '>='} floor {policy.min_realised_ic:g}"
    )
    status = Status.BREACH if breach else Status.OK
    return CheckResult(
        Check.REALISED_IC, status, t.mean, policy.min_realised_ic, detail, {**data, "upper": upper}
    )


def check_ic_decay(
    ics: pd.Series,
    horizon: int,
    validated_ic: float | None,
    validated_se: float | None,
    policy: MonitoringPolicy,
) -> CheckResult:
    """Realised IC significantly below ``(1 - max_ic_decay)`` of the validated IC."""
    t = ic_test(ics, horizon)
    if validated_ic is None or not math.isfinite(validated_ic):
        return CheckResult(
            Check.IC_DECAY, Status.NOT_EVALUATED, t.mean, None, "no validated IC on record"
        )
    keep = 1.0 - policy.max_ic_decay
    floor = keep * validated_ic
    if t.n < policy.ic_window or not math.isfinite(t.se):
        return CheckResult(
            Check.IC_DECAY, Status.NOT_EVALUATED, t.mean, floor,
            f"{t.n} realised ICs, {policy.ic_window} needed",
        )  # fmt: skip
    se_v = validated_se if validated_se is not None and math.isfinite(validated_se) else 0.0
    z = (t.mean - floor) / math.sqrt(t.se**2 + (keep * se_v) ** 2)
    decayed = z < -policy.ic_z
    status = Status.OK
    if decayed:
        status = Status.BREACH if policy.trip_on_ic_decay else Status.WARNING
    detail = (
        f"realised IC {t.mean:.4f} vs validated {validated_ic:.4f} "
        f"(floor {floor:.4f} = {keep:g} x validated); z = {z:.2f}"
    )
    data = {"z": z, "validated_ic": validated_ic, "validated_se": se_v, "mean": t.mean}
    return CheckResult(Check.IC_DECAY, status, t.mean, floor, detail, data)


# -- drift ---------------------------------------------------------------------------------


def check_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: Sequence[str],
    check: Check,
    policy: MonitoringPolicy,
) -> CheckResult:
    """PSI of each column of ``current`` against ``reference``; breach on the worst one.

    Columns missing from either frame, or empty after dropping NaN, are skipped.
    """
    values = {}
    for col in columns:
        if col in reference.columns and col in current.columns:
            v = psi(reference[col].to_numpy(dtype=float), current[col].to_numpy(dtype=float))
            if math.isfinite(v):
                values[col] = v
    if not values:
        return CheckResult(check, Status.NOT_EVALUATED, None, policy.psi_breach, "no data")
    worst = max(values, key=values.get)
    breach = values[worst] > policy.psi_breach
    detail = f"max PSI {values[worst]:.4f} ({worst}) vs breach {policy.psi_breach:g}"
    status = Status.BREACH if breach else Status.OK
    return CheckResult(check, status, values[worst], policy.psi_breach, detail, {"psi": values})


# -- live portfolio ------------------------------------------------------------------------


def portfolio_returns(weights: pd.DataFrame, close: pd.DataFrame) -> pd.Series:
    """Daily returns of a portfolio rebalanced to ``weights`` at each publication date.

    Parameters
    ----------
    weights : DataFrame, shape (n_publications, n_assets)
        Target weights indexed by the date they were published; held (constant mix) from
        the next trading day until the next publication. Missing assets weigh 0.
    close : DataFrame, shape (n_dates, n_assets)

    Returns
    -------
    Series
        Daily portfolio returns from the day after the first publication; an asset's NaN
        return counts as 0 (no price, no P&L).
    """
    if weights.empty:
        return pd.Series(dtype=float, name="portfolio")
    rets = close.pct_change(fill_method=None)
    w = weights.reindex(columns=close.columns, fill_value=0.0).fillna(0.0).sort_index()
    held = w.reindex(rets.index, method="ffill").shift(1)
    live = held.index > w.index[0]
    out = (held.loc[live] * rets.loc[live].fillna(0.0)).sum(axis=1)
    return out.rename("portfolio")


def current_drawdown(returns: pd.Series) -> float:
    """Loss from the running peak of the compounded NAV to the last date (>= 0)."""
    return math.nan if returns.empty else float(-drawdown(returns).iloc[-1])


def check_drawdown(returns: pd.Series, policy: MonitoringPolicy) -> CheckResult:
    """Breach when the live portfolio is more than ``max_drawdown`` below its peak."""
    dd = current_drawdown(returns)
    if not math.isfinite(dd):
        return CheckResult(
            Check.DRAWDOWN, Status.NOT_EVALUATED, None, policy.max_drawdown, "no live portfolio"
        )
    breach = dd > policy.max_drawdown
    detail = f"drawdown {dd:.2%} from peak vs limit {policy.max_drawdown:.0%}"
    status = Status.BREACH if breach else Status.OK
    return CheckResult(Check.DRAWDOWN, status, dd, policy.max_drawdown, detail)


def check_tracking_error(
    returns: pd.Series, close: pd.DataFrame, policy: MonitoringPolicy
) -> CheckResult:
    """Annualised tracking error against equal weight over the last ``recent_days`` dates."""
    recent = returns.iloc[-policy.recent_days :]
    if len(recent) < 2:
        return CheckResult(
            Check.TRACKING_ERROR, Status.NOT_EVALUATED, None, policy.max_tracking_error,
            "fewer than two live days",
        )  # fmt: skip
    bench = close.pct_change(fill_method=None).mean(axis=1).reindex(recent.index)
    te = float((recent - bench).std(ddof=1) * math.sqrt(TRADING_DAYS))
    breach = te > policy.max_tracking_error
    detail = (
        f"tracking error {te:.2%} a year vs equal weight over {len(recent)} days "
        f"(limit {policy.max_tracking_error:.0%})"
    )
    status = Status.BREACH if breach else Status.OK
    return CheckResult(Check.TRACKING_ERROR, status, te, policy.max_tracking_error, detail)


def _acting(action: BreachAction) -> Status:
    """A due revalidation or expired acceptance: a breach only when the policy trips on it
    (``fallback`` is enforced at use time by ``model_may_drive``, so a warning here)."""
    return Status.BREACH if action is BreachAction.TRIP else Status.WARNING


def check_revalidation(
    validated_at: str | None,
    now: pd.Timestamp,
    policy: MonitoringPolicy,
    due: tuple[str, str, bool] | None = None,
) -> CheckResult:
    """Revalidation cadence (SR 11-7 periodic review; SR 26-2 trigger- and materiality-based).

    Overdue when the last validation is older than ``revalidation_days``, or when ``due``
    (``(date, reason, at_once)`` from governance/findings/review.py ``revalidation_due``,
    which also knows the triggers) has passed. Overdue is a warning unless the policy's
    ``on_revalidation_due`` is ``trip``.
    """
    limit = float(policy.revalidation_days)
    if validated_at is None:
        return CheckResult(Check.REVALIDATION, Status.WARNING, None, limit, "never validated")
    age = (pd.Timestamp(now) - pd.Timestamp(validated_at)).total_seconds() / 86400.0
    overdue = age > limit
    detail = f"last validation {age:.0f} days ago (every {policy.revalidation_days} days)"
    if due is not None:
        day, reason, at_once = pd.Timestamp(due[0]).date(), due[1], due[2]
        today = pd.Timestamp(now).date()
        overdue = today >= day if at_once else today > day
        detail = f"revalidation due {day} ({reason}); {detail}"
    status = _acting(policy.on_revalidation_due) if overdue else Status.OK
    return CheckResult(Check.REVALIDATION, status, age, limit, detail)


def check_acceptances(expired: Sequence[tuple[str, str]], policy: MonitoringPolicy) -> CheckResult:
    """Finding acceptances past their date (``[(finding id, until)]``), acted on per
    ``on_acceptance_expired``."""
    if not expired:
        return CheckResult(Check.ACCEPTANCE, Status.OK, 0.0, None, "no expired acceptance")
    detail = "; ".join(f"acceptance of {fid} expired on {until}" for fid, until in expired)
    status = _acting(policy.on_acceptance_expired)
    return CheckResult(Check.ACCEPTANCE, status, float(len(expired)), None, detail)
