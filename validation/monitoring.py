"""Ongoing monitoring of the champion: drift, realised IC, IC decay, drawdown, tracking error.

Pure functions of frames; the flow (flows/monitoring.py) loads the inputs, records the
report and trips the kill switch on a breach. The checks themselves are in
:mod:`validation.monitoring_checks` (re-exported here); this module assembles the report. Thresholds come from the policy's
``monitoring`` section (:class:`governance.policy.schema.MonitoringPolicy`).

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

- **Sign flip, fast**: a one-sided CUSUM of the daily *one-day* rank IC below the floor
  (:mod:`validation.monitoring_cusum`, where its false-alarm rate is derived): the one-day
  IC is known the next day, so a flip trips within weeks instead of half a year.

Detection delay. A sign flip of the signal on day ``F`` reaches the realised ICs from
``F + h`` on; the floor test trips once enough of the window is post-flip for the upper
bound to cross the floor. tests/test_monitoring.py states and checks the bound.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from governance.ground.canonical import to_jsonable
from governance.ground.html import Cell, Facts, Figure, Page, Section, Table, render_page, tone_of
from governance.identity.sandbox import banner
from governance.policy.boundaries import BoundaryPolicy
from governance.policy.schema import MonitoringPolicy
from validation.boundaries import check_boundaries
from validation.challengers_live import check_challengers, realised_outcomes
from validation.monitoring_checks import (
    Check,
    CheckResult,
    Status,
    check_acceptances,
    check_drawdown,
    check_drift,
    check_ic_decay,
    check_realised_ic,
    check_revalidation,
    check_tracking_error,
    portfolio_returns,
    realised_ic,
)
from validation.monitoring_cusum import check_ic_cusum

__all__ = ["SCHEMA", "MonitoringReport", "assess_monitoring", "render_monitoring_html"]

SCHEMA = "alphagate.monitoring-report/1"
PREDICTION = "prediction"


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
    domain: Mapping[str, Any] | None = None,
    boundaries: BoundaryPolicy | None = None,
    sectors: bool = True,
    shadow: Sequence[tuple[pd.Timestamp, pd.DataFrame]] | None = None,
    sources: Sequence[Mapping[str, Any]] | None = None,
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
    domain, boundaries, sectors : optional
        The operating domain the version was validated on, the tier's ``boundaries``
        section and whether the market data has sectors (validation/boundaries.py); without
        ``boundaries`` the check is skipped.
    sources : sequence of mapping, optional
        The feature sources read today, as the boundary holds them to the domain's
        (tasks/data/sources/record.py ``live_lineage``); None skips the sources' part.
    shadow : sequence of (date, DataFrame), optional
        The rebalances' shadow scorings of the champion and its challengers
        (validation/challengers_live.py); None skips the check.
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
    if policy.cusum:
        checks += (check_ic_cusum(scores, close, as_of, policy),)
    if now is not None:
        checks += (check_revalidation(validated_at, now, policy, revalidation_due),)
    if expired_acceptances is not None:
        checks += (check_acceptances(expired_acceptances, policy),)
    if shadow is not None:
        outcomes = realised_outcomes(shadow, close, horizon, as_of)
        checks += (check_challengers(outcomes, policy.ic_z),)
    if boundaries is not None:
        checks += (check_boundaries(domain, features, close, as_of, sectors=sectors,
                                    z=boundaries.z, sources=sources),)  # fmt: skip
    head = {**(header or {}), "policy": policy, "horizon": horizon}
    head["realised_ic"] = {str(d.date()): v for d, v in ics.items()}
    return MonitoringReport(str(pd.Timestamp(as_of).date()), checks, head)


# -- HTML --------------------------------------------------------------------------------------


def _num(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def render_monitoring_html(report: Mapping[str, Any], trend: bytes | None = None) -> str:
    """Self-contained HTML of a report's JSON twin (the one renderer: no scripts or links),
    with the strategy's trend chart (``validation.monitoring_series.trend_png``) when given."""
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
        banner=banner(bool(report.get("sandbox"))),
        verdict=report["status"],
        cover=Facts.of({"as of": report["as_of"], "status": report["status"]}),
        sections=(
            Section("Breaches", (list(report["breaches"]) or ["none"],)),
            Section("Checks", (checks,)),
            *(
                [Section("Trend", (Figure(trend, "every monitoring run of the strategy"),))]
                if trend
                else []
            ),
        ),
        footer=f"schema {report['schema']}",
    )
    return render_page(page)
