"""Ongoing monitoring of the champion: drift, realised IC, IC decay, drawdown, tracking error.

Pure functions of frames; the flow (flows/monitoring.py) loads the inputs, records the
report and trips the kill switch on a breach. Thresholds come from the policy's
``monitoring`` section (:class:`governance.policy.MonitoringPolicy`).

Checks
------
- **Feature and prediction drift**: population stability index (``validation.drift.psi``,
  reference deciles) of each feature and of the prediction over the last ``recent_days``
  dates against the model's training reference (``reference.parquet``). Breach above
  ``psi_breach`` (Siddiqi 2006: > 0.25 is a significant shift).
- **Realised IC**: the daily cross-sectional rank IC of the champion's predictions whose
  ``h``-day horizon has passed (the forward return is known at ``as_of``), last
  ``ic_window`` of them. Breach when the one-sided upper confidence bound
  ``mean + ic_z * se`` is below ``min_realised_ic``: the model is *significantly* worse than
  the floor, not merely unlucky. ``se`` is Newey-West with lag ``h - 1`` (consecutive
  ``h``-day ICs overlap by ``h - 1`` days; Newey & West 1987).
- **IC decay**: ``(mean - (1 - max_ic_decay) * IC_val) / sqrt(se² + ((1 - max_ic_decay)
  se_val)²) < -ic_z``, with ``IC_val`` and ``se_val`` the validated holdout IC and its
  standard error (the version's ``validation.completed`` report). A warning unless
  ``trip_on_ic_decay``.
- **Drawdown** of the live portfolio from its peak to ``as_of`` above ``max_drawdown``.
- **Tracking error** of the live portfolio against equal weight over the last
  ``recent_days`` dates, annualised (√252), above ``max_tracking_error``.
- **Revalidation** older than ``revalidation_days`` or due after a trigger, and **finding
  acceptances** past their date: a warning, or a breach when the policy trips on it
  (``on_revalidation_due`` / ``on_acceptance_expired``; SR 11-7, SR 26-2).

Detection delay. A sign flip of the signal on day ``F`` reaches the realised ICs from
``F + h`` on; the floor test trips once enough of the window is post-flip for the upper
bound to cross the floor. tests/test_monitoring.py states and checks the bound.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from governance.canonical import to_jsonable
from governance.html import Cell, Facts, Page, Section, Table, render_page, tone_of
from governance.policy import BreachAction, MonitoringPolicy
from tasks.model.stats import TRADING_DAYS, forward_returns, newey_west_tstat, panel_ic
from validation.drift import psi

__all__ = [
    "SCHEMA",
    "Check",
    "CheckResult",
    "ICTest",
    "MonitoringReport",
    "Status",
    "assess_monitoring",
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
    "render_monitoring_html",
]

SCHEMA = "alphagate.monitoring-report/1"
PREDICTION = "prediction"


class Check(StrEnum):
    FEATURE_DRIFT = "feature_drift"
    PREDICTION_DRIFT = "prediction_drift"
    REALISED_IC = "realised_ic"
    IC_DECAY = "ic_decay"
    DRAWDOWN = "drawdown"
    TRACKING_ERROR = "tracking_error"
    REVALIDATION = "revalidation"
    ACCEPTANCE = "acceptance_expiry"


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
    if returns.empty:
        return math.nan
    nav = (1.0 + returns.fillna(0.0)).cumprod()
    peak = np.maximum.accumulate(np.r_[1.0, nav.to_numpy()])[1:]
    return float(1.0 - nav.iloc[-1] / peak[-1])


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
    (``(date, reason, at_once)`` from governance/findings_review.py ``revalidation_due``,
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


# -- the report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonitoringReport:
    """All checks of one monitoring run.

    ``breaches`` are the checks whose status is ``breach``: each is a reason to trip the
    kill switch. ``header`` carries the model and data identity copied into the JSON.
    """

    as_of: str
    checks: tuple[CheckResult, ...]
    header: Mapping[str, Any] = field(default_factory=dict)

    @property
    def breaches(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.status is Status.BREACH)

    @property
    def warnings(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.status is Status.WARNING)

    def reasons(self) -> list[str]:
        """One line per breach: ``<check>: <detail>``."""
        return [f"{c.check.value}: {c.detail}" for c in self.breaches]

    def to_json(self) -> dict[str, Any]:
        return to_jsonable(
            {
                "schema": SCHEMA,
                "as_of": self.as_of,
                **self.header,
                "status": "breach" if self.breaches else "ok",
                "breaches": self.reasons(),
                "checks": [asdict(c) for c in self.checks],
            }
        )


def assess_monitoring(
    *,
    as_of: pd.Timestamp,
    scores: pd.DataFrame,
    features: pd.DataFrame,
    reference: pd.DataFrame,
    close: pd.DataFrame,
    horizon: int,
    feature_names: Sequence[str],
    policy: MonitoringPolicy,
    validated_ic: float | None = None,
    validated_se: float | None = None,
    weights: pd.DataFrame | None = None,
    validated_at: str | None = None,
    now: pd.Timestamp | None = None,
    header: Mapping[str, Any] | None = None,
    revalidation_due: tuple[str, str, bool] | None = None,
    expired_acceptances: Sequence[tuple[str, str]] | None = None,
) -> MonitoringReport:
    """Every monitoring check at ``as_of``.

    Parameters
    ----------
    as_of : Timestamp
        Evaluation date; nothing after it is read.
    scores : DataFrame, shape (n_dates, n_assets)
        The champion's predictions per date.
    features : DataFrame
        Long point-in-time features (``date, asset, <feature>...``) as the model saw them.
    reference : DataFrame
        Training reference sample: feature columns and ``prediction``.
    close : DataFrame, shape (n_dates, n_assets)
    horizon : int
    feature_names : sequence of str
        Model input features (drift is measured on these).
    policy : MonitoringPolicy
    validated_ic, validated_se : float, optional
        Holdout rank IC of the version and its standard error (IC decay).
    weights : DataFrame, optional
        Published target weights (dates × assets); None or empty: no live portfolio yet.
    validated_at, now : str, Timestamp, optional
        UTC time of the version's last validation and the current time (revalidation
        cadence); without ``now`` the check is skipped.
    revalidation_due : (date, reason, at_once), optional
        The due date governance computed (cadence and triggers), see
        :func:`check_revalidation`.
    expired_acceptances : sequence of (finding id, until), optional
        Finding acceptances past their date; None skips the check.
    """
    close = close.loc[:as_of]
    scores = scores.loc[:as_of]
    recent_dates = close.index[-policy.recent_days :]
    feats = features.loc[features["date"].isin(recent_dates)]
    recent_scores = scores.reindex(recent_dates).stack().rename(PREDICTION).to_frame()
    ics = realised_ic(scores, close, horizon, window=policy.ic_window)
    live = portfolio_returns(weights.loc[:as_of] if weights is not None else pd.DataFrame(), close)
    checks = (
        check_drift(reference, feats, feature_names, Check.FEATURE_DRIFT, policy),
        check_drift(reference, recent_scores, [PREDICTION], Check.PREDICTION_DRIFT, policy),
        check_realised_ic(ics, horizon, policy),
        check_ic_decay(ics, horizon, validated_ic, validated_se, policy),
        check_drawdown(live, policy),
        check_tracking_error(live, close, policy),
    )
    if now is not None:
        checks += (check_revalidation(validated_at, now, policy, revalidation_due),)
    if expired_acceptances is not None:
        checks += (check_acceptances(expired_acceptances, policy),)
    head = {**(header or {}), "policy": policy, "horizon": horizon}
    head["realised_ic"] = {str(d.date()): v for d, v in ics.items()}
    return MonitoringReport(str(pd.Timestamp(as_of).date()), checks, head)


# -- HTML --------------------------------------------------------------------------------------


def _num(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def render_monitoring_html(report: Mapping[str, Any]) -> str:
    """Self-contained HTML of a report's JSON twin (the one renderer: no scripts or links)."""
    model = report.get("model") or {}
    checks = Table(
        ("check", "status", "value", "threshold", "detail"),
        tuple(
            (
                c["check"],
                Cell(c["status"].replace("_", " "), tone=tone_of(c["status"])),
                _num(c["value"]),
                _num(c["threshold"]),
                c["detail"],
            )
            for c in report["checks"]
        ),
        numeric=(2, 3),
    )
    page = Page(
        title=f"Monitoring {model.get('name', '')} v{model.get('version', '?')}",
        kind="alphagate monitoring report",
        verdict=report["status"],
        cover=Facts.of({"as of": report["as_of"], "status": report["status"]}),
        sections=(
            Section("Breaches", (list(report["breaches"]) or ["none"],)),
            Section("Checks", (checks,)),
        ),
        footer=f"schema {report['schema']}",
    )
    return render_page(page)
