"""Monitoring as a time series: one point per monitoring run, the strategy's series, its trend.

A monitoring run (``validation.monitoring.assess_monitoring``) is one point: the value of each
check (realised IC and its t-stat, the CUSUM level, IC decay's z, drawdown, tracking error,
the worst PSI and the PSI of each feature, cost slippage when measured). The point goes into
the run's ``monitoring.completed`` ledger entry; the series of a strategy is those entries in
ledger order (:func:`load_series`), so it is derived from the ledger and survives any restart.

Escalation is by edges, not levels (:func:`newly_breached`): a check trips the switch when it
*enters* breach, so a value that stays critical trips once, not once per run; after a reset it
trips again only if it leaves breach and comes back.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from governance.ground.charts import png, pyplot, title
from governance.ground.vocabulary import Action
from governance.log.ledger import Ledger
from validation.monitoring_checks import Check, CheckResult

__all__ = [
    "breached_checks",
    "last_breaches",
    "load_series",
    "newly_breached",
    "series_point",
    "trend_png",
]


def series_point(checks: Iterable[CheckResult]) -> dict[str, float]:
    """The finite numbers of one run's checks, named ``<check>`` and ``<check>.<part>``."""
    point: dict[str, float] = {}
    for c in checks:
        if c.value is not None and math.isfinite(c.value):
            point[c.check.value] = float(c.value)
        data = c.data or {}
        if c.check is Check.REALISED_IC and data.get("se"):
            point["realised_ic.tstat"] = float(data["mean"]) / float(data["se"])
        if c.check is Check.IC_DECAY and "z" in data:
            point["ic_decay.z"] = float(data["z"])
        if c.check is Check.CHALLENGERS:  # side by side: each signal's outcome and margin
            for name, row in (data.get("signals") or {}).items():
                for part in ("rank_ic", "long_short", "margin"):
                    if row.get(part) is not None:
                        point[f"challenger.{name}.{part}"] = float(row[part])
        if c.check in (Check.FEATURE_DRIFT, Check.PREDICTION_DRIFT):
            for name, v in (data.get("psi") or {}).items():
                point[f"psi.{name}"] = float(v)
    return {k: v for k, v in point.items() if math.isfinite(v)}


def breached_checks(reasons: Sequence[str]) -> set[str]:
    """The check names of a report's breach lines (``<check>: <detail>``)."""
    return {line.split(":", 1)[0] for line in reasons}


def newly_breached(previous: Sequence[str] | None, current: Sequence[str]) -> list[str]:
    """Breach lines of ``current`` whose check was not in breach on the previous run."""
    before = breached_checks(previous or ())
    return [line for line in current if line.split(":", 1)[0] not in before]


def load_series(ledger: Ledger, model_name: str) -> pd.DataFrame:
    """The strategy's monitoring series from its ``monitoring.completed`` entries.

    One row per run that has a point (``metrics`` in its payload), in ledger order: ``seq``,
    ``as_of``, ``model_version``, ``status`` and one column per metric (NaN where a run did
    not measure it).
    """
    rows = []
    for e in ledger.entries(action=Action.MONITORING_COMPLETED):
        p = e.payload
        if p.get("model_name") != model_name or "metrics" not in p:
            continue
        head = {"seq": e.seq, "as_of": p["as_of"], "model_version": p["model_version"]}
        rows.append({**head, "status": p["status"], **p["metrics"]})
    if not rows:
        return pd.DataFrame(columns=["seq", "as_of", "model_version", "status"])
    return pd.DataFrame(rows)


def last_breaches(ledger: Ledger, model_name: str) -> list[str] | None:
    """The breach lines of the strategy's previous monitoring run (None: no run yet)."""
    for e in reversed(ledger.entries(action=Action.MONITORING_COMPLETED)):
        if e.payload.get("model_name") == model_name and "breaches" in e.payload:
            return list(e.payload["breaches"])
    return None


TREND = ("realised_ic", "ic_cusum", "drawdown", "tracking_error", "feature_drift")


def trend_png(series: pd.DataFrame, thresholds: Mapping[str, Any], model: str) -> bytes:
    """One panel per headline metric over the runs, its breach threshold dashed."""
    plt = pyplot()
    shown = [m for m in TREND if m in series.columns and series[m].notna().any()]
    fig, axes = plt.subplots(max(len(shown), 1), 1, figsize=(8, 1.8 * max(len(shown), 1)))
    axes = [axes] if len(shown) <= 1 else list(axes)
    dates = pd.to_datetime(series["as_of"]) if len(series) else []
    for ax, metric in zip(axes, shown, strict=False):
        ax.plot(dates, series[metric], marker="o", lw=1)
        limit = thresholds.get(metric)
        if limit is not None:
            ax.axhline(limit, ls="--", color="grey", lw=1)
        ax.set_ylabel(metric, fontsize=8)
    period = (dates.iloc[0], dates.iloc[-1]) if len(series) else None
    axes[0].set_title(title("Monitoring trend", model, period), fontsize=9)
    return png(fig)
