"""Portfolio stages: the holdout backtest of a candidate, and the governed rebalance.

Composition only: risk models, alphas, the optimiser, the pre-trade checks and the fallback
rules live in ``tasks/`` and ``governance/``.
"""

from __future__ import annotations

import io

import pandas as pd

from flows.stages import Run, Trained, _subject, service_stage, stage

SOURCE_MODEL, SOURCE_FALLBACK = "model", "fallback"


@stage(name="holdout-backtest")
def backtest(run: Run, panel, sealed, model: Trained) -> None:
    """Walk-forward backtest of the candidate's holdout scores beside the benchmarks."""
    from mlflow import MlflowClient

    from tasks.backtest import run_backtest
    from tasks.dataset import load_sealed
    from tasks.scoring import load_scoring_model, score_wide

    holdout = load_sealed(run.ctx.store, sealed.holdout_fingerprint)
    scores = score_wide(load_scoring_model(model.name, model.version), holdout)
    result = run_backtest(scores, panel, run.config.portfolio)
    summary = result.summary()
    store = run.ctx.store
    artifacts = {f"backtest/{name}": store.put_bytes(png) for name, png in result.plots.items()}
    artifacts["backtest/summary.json"] = store.put_json(summary)
    artifacts["backtest/returns.parquet"] = store.put_bytes(_parquet(result.returns))
    run.ctx.record(
        "backtest.completed", subject=_subject(model), payload=summary, artifacts=artifacts
    )
    client = MlflowClient()
    for name, sha in artifacts.items():
        client.log_artifact(model.mlflow_run_id, str(store.path(sha)), _mlflow_dir(name))
    metrics = result.metrics_frame()
    rows = [
        f"{name:<20} return {m['annual_return']:+7.2%}  vol {m['annual_volatility']:6.2%}  "
        f"Sharpe {m['sharpe']:+5.2f}  maxDD {m['max_drawdown']:6.2%}"
        for name, m in metrics.iterrows()
    ]
    run.summary.note(
        "backtest",
        headline=f"holdout, {summary['rebalances']} rebalances, model vs benchmarks (net of costs)",
        details=rows,
        plots={k: str(store.path(v)) for k, v in artifacts.items() if k.endswith(".png")},
    )


def _parquet(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf)
    return buf.getvalue()


def _mlflow_dir(name: str) -> str:
    """MLflow artifact folder for an artifact named ``folder/file``."""
    return name.rsplit("/", 1)[0] if "/" in name else ""


@service_stage(name="portfolio")
def portfolio(run: Run, panel) -> None:
    """Champion-driven portfolio when the model may drive, else the policy's fallback."""
    raise NotImplementedError
