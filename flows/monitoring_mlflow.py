"""The monitoring series in MLflow: one run per model version, a metric step per monitoring run.

The run lives in the ``<strategy>-monitoring`` experiment, tagged with the version; every
monitoring run logs its point (``validation.monitoring_series.series_point``) at the next
step, with the evaluation date as the metric timestamp, and replaces the trend PNG and the
series Parquet, so MLflow's metric charts and the artifact show the version's history.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping

import pandas as pd

from governance.decisions.context import RunContext
from governance.ground.refs import ModelRef

VERSION_TAG = "alphagate.monitoring.model_version"
_META = ("as_of", "model_version", "status")


def monitoring_run(ctx: RunContext, ref: ModelRef) -> str:
    """The id of the version ``ref``'s monitoring run (created on its first monitoring)."""
    from governance.registry.recorder import mlflow_client, mlflow_experiment

    exp_id = mlflow_experiment(f"{ref.name}-monitoring", ctx.ws)
    client = mlflow_client(ctx.ws)
    tag = ref.version_text  # the tag's value, as MLflow stores tags (strings)
    found = client.search_runs([exp_id], f"tags.`{VERSION_TAG}` = '{tag}'", max_results=1)
    if found:
        return found[0].info.run_id
    tags = {"mlflow.runName": f"monitoring-{ref.name}-v{ref.version}", VERSION_TAG: tag}
    return client.create_run(exp_id, tags=tags).info.run_id


def log_series(
    ctx: RunContext, ref: ModelRef, series: pd.DataFrame, files: Mapping[str, str]
) -> str:
    """Log the last row of ``series`` at its step on the version ``ref``'s run; attach the
    files."""
    from governance.registry.recorder import attach, log_metrics

    run_id = monitoring_run(ctx, ref)
    mine = series[series["model_version"] == ref.version]
    step = len(mine) - 1
    row = mine.iloc[-1]
    ts = int(pd.Timestamp(row["as_of"]).timestamp() * 1000)
    metrics = {k: v for k, v in row.items() if k not in _META and pd.notna(v)}
    log_metrics(ctx.ws, run_id, metrics, step=step, timestamp_ms=ts)
    with tempfile.TemporaryDirectory() as tmp:
        ctx.store.copy_out(tmp, {k: files[k] for k in ("trend.png", "series.parquet")})
        attach(ctx.ws, run_id, tmp, "monitoring")
    return run_id
