"""One MLflow run for a governed act that is not a training run: its metrics and its files.

The risk report, stress, attribution and the orders' cost analysis each log one run in an
experiment of the strategy (``<strategy>-risk``, ``<strategy>-orders``), tagged with the
Prefect flow run, so that the MLflow UI shows them beside the model.
"""

from __future__ import annotations


def log_run(ctx, experiment: str, run_name: str, metrics: dict, artifacts: dict, tags=None):
    """Create a finished MLflow run in ``experiment`` with ``metrics`` (name -> number) and
    the stored ``artifacts`` (name -> sha, copied out re-hashed); return its id (through
    :func:`governance.registry.recorder.log_run`)."""
    from governance.registry.recorder import log_run as record

    all_tags = {"mlflow.runName": run_name, "prefect.flow_run_id": ctx.flow_run_id or "",
                "mlflow.user": ctx.actor}  # the proven identity, not the OS account  # fmt: skip
    run_id, _ = record(
        ctx.ws,
        experiment,
        tags={**all_tags, **(tags or {})},
        metrics=metrics,
        write=lambda folder: ctx.store.copy_out(folder, artifacts),
    )
    return run_id
