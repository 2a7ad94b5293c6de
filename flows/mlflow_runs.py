"""One MLflow run for a governed act that is not a training run: its metrics and its files.

The risk report, stress, attribution and the orders' cost analysis each log one run in an
experiment of the strategy (``<strategy>-risk``, ``<strategy>-orders``), tagged with the
Prefect flow run, so that the MLflow UI shows them beside the model.
"""

from __future__ import annotations

import tempfile


def log_run(ctx, experiment: str, run_name: str, metrics: dict, artifacts: dict, tags=None):
    """Create a finished MLflow run in ``experiment`` with ``metrics`` (name -> number) and
    the stored ``artifacts`` (name -> sha, copied out re-hashed); return its id."""
    from mlflow.entities import Metric, RunStatus

    from governance.ground.workspace import mlflow_experiment
    from governance.registry.versions import mlflow_client

    exp_id = mlflow_experiment(experiment, ctx.ws)
    client = mlflow_client(ctx.ws)
    all_tags = {"mlflow.runName": run_name, "prefect.flow_run_id": ctx.flow_run_id or ""}
    run = client.create_run(exp_id, tags={**all_tags, **(tags or {})})
    now = run.info.start_time
    client.log_batch(
        run.info.run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()]
    )
    with tempfile.TemporaryDirectory() as tmp:
        ctx.store.copy_out(tmp, artifacts)
        client.log_artifacts(run.info.run_id, tmp)
    client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FINISHED))
    return run.info.run_id
