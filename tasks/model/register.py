"""Training as a governed step: train, log, record, register a *candidate* version.

:func:`train_and_register` runs the trials of :mod:`tasks.model.train` on the sealed
development frame, logs the run to MLflow (:mod:`tasks.model.tracking`), records
``model.trained`` and ``model.registered`` in the ledger and registers a new version with
the contract's tags and ``status=candidate``. Nothing here reads or writes registry
aliases: only ``governance`` promotes.

MLflow is reached through :mod:`governance.registry.recorder`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from governance.ground.vocabulary import Action, Subject
from governance.registry.change_control import classify_training
from governance.registry.recorder import register
from tasks.model.card import intended_use
from tasks.model.cv import CVSummary
from tasks.model.tracking import (
    LoggedRun,
    TrainingRecord,
    log_training,
    python_environment,
    vendor_components,
)
from tasks.model.train import (
    ModelConfig,
    TrialResult,
    fit_final,
    model_bytes,
    run_trial,
    select_best,
)
from tasks.model.trials import count_trials, data_sketch, trial_key

if TYPE_CHECKING:
    from governance.decisions.context import RunContext
    from governance.ground.workspace import Workspace
    from tasks.model.dataset import SealedSplit
    from tasks.model.features import FeaturesConfig


@dataclass(frozen=True)
class TrainingResult:
    """What the flow and later stages need from a training run.

    Attributes
    ----------
    model_name : str
        Registered model name (= strategy = ``ModelConfig.name``).
    version : int
        The new registered version (``status=candidate``).
    mlflow_run_id : str
    model_hash : str
        SHA-256 of the LightGBM model file (also stored in the artifact store).
    cv : CVSummary
        Scores of the chosen trial.
    trials : tuple of dict
        ``{name, params, cv_rank_ic_mean, cv_rank_ic_std, sharpe}`` per trial.
    features : tuple of str
        Model input order.
    best_trial : int
    trials_total : int
        Distinct trials on this data so far, this run included (tasks/model/trials.py).
    train_period : (Timestamp, Timestamp)
        First and last date of any row the model or its CV trained on.
    ledger_seq : int
        Sequence number of the ``model.trained`` entry.
    """

    model_name: str
    version: int
    mlflow_run_id: str
    model_hash: str
    cv: CVSummary
    trials: tuple[dict, ...]
    features: tuple[str, ...]
    best_trial: int
    trials_total: int
    train_period: tuple[pd.Timestamp, pd.Timestamp]
    ledger_seq: int


TrialMap = Callable[[Callable[..., TrialResult], list[tuple]], Iterable[TrialResult]]


def serial_map(fn: Callable[..., TrialResult], args: list[tuple]) -> list[TrialResult]:
    """Evaluate ``fn(*a)`` for each ``a`` in order, in this process."""
    return [fn(*a) for a in args]


def search_point(
    features: Sequence[str],
    features_cfg: FeaturesConfig,
    model_cfg: ModelConfig,
    params,
    sources: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """What defines one trial (tasks/model/trials.py): never the strategy name or the data.

    The features as used (names in model order, normalisation, label, horizon), the trial's
    effective LightGBM parameters except the thread count, the CV and selection settings,
    and the feature sources.
    """
    lgb = params.model_dump(mode="json", exclude={"num_threads"})
    for kind in ("regime_gate", "regime_mix"):  # keys of search points from before them stand
        if lgb.get(kind) is None:
            lgb.pop(kind, None)
    return {
        "features": list(features),
        "normalise": str(features_cfg.normalise),
        "label": str(features_cfg.label),
        "horizon": int(features_cfg.horizon),
        "lightgbm": lgb,
        "cv": model_cfg.cv.model_dump(mode="json"),
        "validation_fraction": model_cfg.validation_fraction,
        # A source is in the search by its contract, not its data: a new vintage of the same
        # contract is new data; a new contract version is a new search point.
        "sources": [
            {k: s.get(k) for k in ("source", "contract", "version", "contract_sha256")}
            for s in sources
        ],
    }


def train_and_register(
    ctx: RunContext,
    split: SealedSplit,
    features_cfg: FeaturesConfig,
    model_cfg: ModelConfig,
    *,
    developer: str,
    config_hash: str,
    data_fingerprint: str,
    tier: str | None = None,
    resolved_config: Mapping[str, Any] | None = None,
    trial_map: TrialMap | None = None,
    sources: Sequence[Mapping[str, Any]] = (),
) -> TrainingResult:
    """Train on the sealed development frame, log to MLflow, register a candidate.

    Parameters
    ----------
    ctx : RunContext
    split : SealedSplit
        Only ``split.dev`` is read; holdout rows never reach this function.
    features_cfg, model_cfg : FeaturesConfig, ModelConfig
    developer : str
        Identity of the developer (``--as``), tagged on the version.
    tier : str, optional
        The policy tier the strategy is trained under (governance/policy/tiers.py), signed in the
        ``model.trained`` entry with the rest of the evidence.
    config_hash : str
        SHA-256 of the resolved run config.
    data_fingerprint : str
        Fingerprint of the market data (``MarketPanel.fingerprint``).
    resolved_config : mapping, optional
        The full resolved run config to log as ``config.json``; defaults to the features
        and model sections.
    sources : sequence of mapping, optional
        Each feature source's lineage (``source``, ``fingerprint``, ``contract``,
        ``version``, ``owner``, ``contract_sha256``) and its ``features`` declarations
        (tasks/data/sources/record.py): in the trial keys, ``features.json`` and the
        ``model.trained`` entry.
    trial_map : callable, optional
        ``trial_map(run_trial, args_per_trial) -> list[TrialResult]`` evaluates the trials,
        each ``run_trial(*args)``; default: one after the other in this process. The flow
        passes one that submits them to its Prefect task runner (threads or a Dask cluster);
        trials are deterministic, so the result is the same either way.

    Returns
    -------
    TrainingResult
    """
    dev, features, h = split.dev, list(split.features), split.horizon
    last_allowed = split.holdout_period[0]
    if len(dev) and dev["date"].max() >= last_allowed:
        raise ValueError("train_and_register: the development frame reaches the holdout")
    args = [(dev, features, h, model_cfg, p, i) for i, p in enumerate(model_cfg.trial_params())]
    trials = list((trial_map or serial_map)(run_trial, args))
    best = select_best(trials)
    booster = fit_final(dev, features, best)
    raw_model = model_bytes(booster)
    model_hash = ctx.store.put_bytes(raw_model)
    config = resolved_config or {
        "features": features_cfg.model_dump(mode="json"),
        "model": model_cfg.model_dump(mode="json"),
    }
    keys = [
        trial_key(search_point(features, features_cfg, model_cfg, t.params, sources))
        for t in trials
    ]
    sketch = data_sketch(dev)
    total = count_trials(
        ctx.ledger,
        sketch,
        model_cfg.name,
        pending=[(k, t.sharpe) for k, t in zip(keys, trials, strict=True)],
    ).n_trials
    record = TrainingRecord(
        booster=booster,
        dev=dev,
        split=split,
        features_cfg=features_cfg,
        model_cfg=model_cfg,
        trials=tuple(trials),
        best=best,
        model_hash=model_hash,
        config=dict(config),
        trials_total=total,
        flow_run_id=ctx.flow_run_id,
        data_fingerprint=data_fingerprint,
        config_hash=config_hash,
        developer=developer,
        declarations={d["name"]: d for s in sources for d in s.get("features", [])},
    )
    logged = log_training(ctx, record)
    trial_rows = tuple(
        {
            "name": t.name,
            "params": t.params.model_dump(),
            "cv_rank_ic_mean": t.cv.rank_ic_mean,
            "cv_rank_ic_std": t.cv.rank_ic_std,
            "sharpe": t.sharpe,
        }
        for t in trials
    )
    trained_payload = {
        "metrics": best.cv.metrics(),
        "best_trial": best.index,
        "trials": len(trials),
        "trials_total": total,
        "trial_sharpes": [t.sharpe for t in trials],
        # The count is keyed to these and the data, not the name (tasks/model/trials.py).
        "trial_keys": keys,
        "data_sketch": sketch.to_payload(),
        "sources": [{k: v for k, v in s.items() if k != "features"} for s in sources],
        # a regime ensemble (tasks/model/regimes.py) is listed among the champion's
        # challengers once validated (governance/decisions/challengers.py)
        "ensemble": ensemble_of(best.params),
        "trial_summaries": list(trial_rows),
        "model_hash": model_hash,
        "mlflow_run_id": logged.run_id,
        "dev_fingerprint": split.dev_fingerprint,
        "holdout_fingerprint": split.holdout_fingerprint,
        "features": features,
        "horizon": h,
        "config_hash": config_hash,
        "tier": tier,
        # Read by the validation report: folds that stopped after one boosting round
        # mean degenerate training; the intended use is quoted on its cover.
        "fold_rounds": [int(f.best_iteration) for f in best.cv.folds],
        "intended_use": intended_use(h),
        # vendor components with versions, for the inventory's dependencies (issue 27)
        "components": vendor_components(python_environment(), config.get("data")),
    }
    # minor or material against the previous version, computed and signed here
    # (governance/registry/change_control.py); readers compute it again
    change = classify_training(ctx.ledger, model_cfg.name, trained_payload)
    trained = ctx.record(
        Action.MODEL_TRAINED,
        subject=Subject.strategy(model_cfg.name),
        payload={**trained_payload, "change": change.to_json()},
        artifacts={"model.lgb": model_hash, **logged.artifacts},
        signed=True,  # the developer is the signer of this entry (governance/decisions/promotion.py)
    )
    version = register_candidate(
        ctx.ws, record, logged, ledger_seq=trained.seq, change=trained.payload.get("change")
    )
    ctx.record(
        Action.MODEL_REGISTERED,
        subject=Subject.model(model_cfg.name, version),
        payload={
            "model_name": model_cfg.name,
            "version": version,
            "mlflow_run_id": logged.run_id,
            "model_hash": model_hash,
            "status": "candidate",
            "trained_seq": trained.seq,
        },
    )
    return TrainingResult(
        model_name=model_cfg.name,
        version=version,
        mlflow_run_id=logged.run_id,
        model_hash=model_hash,
        cv=best.cv,
        trials=trial_rows,
        features=tuple(features),
        best_trial=best.index,
        trials_total=total,
        train_period=(pd.Timestamp(dev["date"].min()), pd.Timestamp(dev["date"].max())),
        ledger_seq=trained.seq,
    )


def ensemble_of(params) -> dict[str, str] | None:
    """``model.trained``'s ``ensemble``: ``{kind: regime, mix: <probability feature>}`` for
    the probability-combined regime ensemble, ``{kind: regime, gate: <feature>}`` for the
    forced-split one, else None."""
    if params.regime_mix is not None:
        return {"kind": "regime", "mix": params.regime_mix}
    if params.regime_gate is not None:
        return {"kind": "regime", "gate": params.regime_gate}
    return None


def version_tags(
    rec: TrainingRecord, ledger_seq: int, change: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """The registered-version tags of docs/architecture.md (all strings)."""
    change = change or {}
    return {
        "change_class": str(change.get("class") or "material"),
        "change_baseline": str(change.get("baseline_version") or ""),
        "data_fingerprint": rec.data_fingerprint,
        "dev_fingerprint": rec.split.dev_fingerprint,
        "holdout_fingerprint": rec.split.holdout_fingerprint,
        "config_hash": rec.config_hash,
        "developer": rec.developer,
        "ledger_seq": str(ledger_seq),
        "status": "candidate",
        "horizon": str(rec.split.horizon),
        "features": ",".join(rec.split.features),
        "strategy": rec.model_cfg.name,
        "model_hash": rec.model_hash,
    }


def register_candidate(
    ws: Workspace,
    rec: TrainingRecord,
    logged: LoggedRun,
    *,
    ledger_seq: int,
    change: Mapping[str, Any] | None = None,
) -> int:
    """Register ``logged``'s model as a new version of ``ModelConfig.name``; return it."""
    tags = version_tags(rec, ledger_seq, change)
    return register(ws, logged.model_uri, rec.model_cfg.name, tags)
