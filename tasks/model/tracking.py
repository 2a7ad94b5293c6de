"""MLflow logging of a training run (docs/architecture.md contracts).

:func:`log_training` opens one run in the strategy's experiment and logs parameters,
per-fold and summary metrics, the resolved config, ``features.json``, the dev dataset as
an MLflow dataset input carrying our fingerprint, the LightGBM model with signature, input
example and its input contract among its files (:func:`model_contract`), the Python environment, the git commit, ``trials.parquet``,
``reference.parquet``, ``predictions_sample.parquet`` and the model card. The same files
are put in the artifact store (the ledger cites them by hash). :func:`register_candidate`
creates a new registered version with the contract's tags and ``status=candidate``; no
function here reads or writes registry aliases.

MLflow itself is reached only through :mod:`governance.registry.recorder`.
"""

from __future__ import annotations

import platform
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from governance.ground.canonical import canonical_json, to_jsonable
from governance.ground.environment import distributions, interpreter
from governance.identity.sandbox import run_tags
from governance.registry.contract import CONTRACT_FILE, ModelContract
from governance.registry.recorder import log_training_run
from tasks.model.card import render
from tasks.model.dataset import frame_to_parquet
from tasks.model.features import FEATURES_BY_NAME
from tasks.model.mixture import RegimeEnsemble, artifacts, python_model
from tasks.model.train import final_rounds, time_stratified_sample, trials_frame

if TYPE_CHECKING:
    from governance.decisions.context import RunContext
    from tasks.model.dataset import SealedSplit
    from tasks.model.features import FeaturesConfig
    from tasks.model.train import ModelConfig, TrialResult

# MLflow's dataset tables hold digests of at most 36 characters (VARCHAR(36), enforced on
# PostgreSQL), so the digest is the fingerprint's first 32 hex digits (128 bits); the full
# SHA-256 is the input tag ``fingerprint`` and the run tag ``dev_fingerprint``.
DIGEST_CHARS = 32

# Distributions pinned in the logged model's requirements: what loading and scoring needs.
_MODEL_REQUIREMENTS = ("lightgbm", "numpy", "pandas", "scikit-learn", "scipy", "mlflow")


@dataclass(frozen=True)
class TrainingRecord:
    """Everything a training run produced, as handed to tracking and the model card."""

    booster: lgb.Booster
    dev: pd.DataFrame
    split: SealedSplit
    features_cfg: FeaturesConfig
    model_cfg: ModelConfig
    trials: tuple[TrialResult, ...]
    best: TrialResult
    model_hash: str
    config: dict
    trials_total: int
    flow_run_id: str | None
    data_fingerprint: str
    config_hash: str
    developer: str
    #: ``features.json`` records of features not in the built-in set (a source's columns:
    #: description, unit, expected sign, source and owner from its data contract).
    declarations: Mapping[str, dict] = field(default_factory=dict)


@dataclass(frozen=True)
class LoggedRun:
    """The MLflow run and logged model of a training, and the store copies of its files."""

    run_id: str
    experiment_id: str
    model_uri: str
    artifacts: dict[str, str] = field(default_factory=dict)


def git_commit(cwd: Path | None = None) -> str | None:
    """``git rev-parse HEAD`` of the source tree, or None without git or a repository."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd or Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and sha else None


def python_environment() -> dict[str, Any]:
    """Python version, platform and every installed distribution (lower-cased name) with its
    version (governance/ground/environment.py reads them once). A fresh copy each call, so a
    caller's edit stays its own."""
    dists = {name.lower(): version for name, version in distributions().items()}
    return {
        "python": platform.python_version(),
        "platform": interpreter()["platform"],
        "distributions": dict(sorted(dists.items())),
    }


#: The vendor components the inventory of record lists and watches (issue 27): the model's
#: library, the optimiser and its solvers, the numerical stack.
COMPONENTS = (
    "lightgbm", "cvxpy", "clarabel", "piqp", "qoco", "osqp", "scs", "ecos", "numpy", "pandas",
    "scipy", "scikit-learn", "skfolio", "mlflow",
)  # fmt: skip


def vendor_components(env: dict[str, Any], data: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{python, price_vendor, packages: {name: version}}`` signed in ``model.trained``: the
    recorded environment's versions of :data:`COMPONENTS` and the market data's source."""
    d = env["distributions"]
    vendor = (data or {}).get("source")
    return {
        "python": env["python"],
        "price_vendor": str(vendor) if vendor is not None else None,
        "packages": {n: d[n] for n in COMPONENTS if n in d},
    }


def _requirements(env: dict[str, Any]) -> list[str]:
    d = env["distributions"]
    return [f"{n}=={d[n]}" for n in _MODEL_REQUIREMENTS if n in d]


def flat_params(rec: TrainingRecord) -> dict[str, Any]:
    """MLflow parameters: horizon, features, split, CV and the chosen LightGBM parameters."""
    cfg = rec.model_cfg
    params: dict[str, Any] = {
        "horizon": rec.split.horizon,
        "features": ",".join(rec.split.features),
        "normalise": rec.features_cfg.normalise.value,
        "label": rec.features_cfg.label.value,
        "holdout_start": rec.split.holdout_period[0].date().isoformat(),
        "best_trial": rec.best.name,
        "n_trials": len(rec.trials),
        "final_num_boost_round": final_rounds(rec.best),
        "validation_fraction": cfg.validation_fraction,
    }
    params.update({f"cv.{k}": v for k, v in cfg.cv.model_dump(mode="json").items()})
    params.update({f"lightgbm.{k}": v for k, v in rec.best.params.model_dump().items()})
    return params


def _metrics(rec: TrainingRecord) -> dict[str, float]:
    out = dict(rec.best.cv.metrics())
    for t in rec.trials:
        out[f"{t.name}_cv_rank_ic_mean"] = t.cv.rank_ic_mean
        out[f"{t.name}_sharpe"] = t.sharpe
    out["best_trial_sharpe"] = rec.best.sharpe
    out["trials_total"] = float(rec.trials_total)
    return out


def _files(rec: TrainingRecord) -> dict[str, bytes]:
    """The run's files, by artifact name, with deterministic bytes."""
    features = list(rec.split.features)
    rows = time_stratified_sample(rec.dev, rec.model_cfg.reference_rows, rec.best.params.seed)
    reference = rec.dev.iloc[rows][features].reset_index(drop=True)
    reference["prediction"] = rec.booster.predict(reference[features].to_numpy(np.float64))
    spread = np.unique(np.linspace(0, len(reference) - 1, rec.model_cfg.sample_rows).astype(int))
    sample = reference.iloc[spread].reset_index(drop=True)  # spread over the whole period
    declarations = [
        FEATURES_BY_NAME[n].declaration()
        if n in FEATURES_BY_NAME
        else dict(rec.declarations.get(n)
                  or {"name": n, "description": "extra feature supplied by the caller",
                      "expected_sign": 0})
        for n in features
    ]  # fmt: skip
    card_md, card_html, card_doc = render(rec)
    return {
        "features.json": canonical_json(declarations),
        "config.json": canonical_json(rec.config),
        "trials.parquet": frame_to_parquet(trials_frame(rec.trials)),
        "reference.parquet": frame_to_parquet(reference),
        "predictions_sample.parquet": frame_to_parquet(sample),
        "model_card.md": card_md.encode("utf-8"),
        "model_card.html": card_html.encode("utf-8"),
        "model_card.json": canonical_json(card_doc),
    }


def model_contract(rec: TrainingRecord) -> ModelContract:
    """The model's input contract, written among its model files (signed with them)."""
    return ModelContract(
        features=tuple(rec.split.features),
        normalise=rec.features_cfg.normalise.value,
        label=rec.features_cfg.label.value,
        horizon=rec.split.horizon,
        config_hash=rec.config_hash,
    )


def log_training(ctx: RunContext, rec: TrainingRecord) -> LoggedRun:
    """Log one training run to MLflow (the recorder) and copy its files into the store."""
    name = rec.model_cfg.name
    commit = git_commit()
    env = python_environment()
    tags = {
        "prefect.flow_run_id": rec.flow_run_id or "",
        "strategy": name,
        "developer": rec.developer,
        "data_fingerprint": rec.data_fingerprint,
        "dev_fingerprint": rec.split.dev_fingerprint,
        "holdout_fingerprint": rec.split.holdout_fingerprint,
        "config_hash": rec.config_hash,
        "model_hash": rec.model_hash,
        "alphagate.run_key": ctx.run_key,
        "mlflow.user": ctx.actor,  # the proven developer, not the OS account ("root")
        **run_tags(ctx.policy_hash, ctx.sandbox),
    }
    if commit:
        tags.update({"git_commit": commit, "mlflow.source.git.commit": commit})
    files = _files(rec)
    stored = {n: ctx.store.put_bytes(b) for n, b in files.items()}
    with tempfile.TemporaryDirectory() as tmp:
        pyfunc, files_of_model = _python_model(rec.booster, Path(tmp))
        return _log(ctx, rec, tags, files, stored, env, pyfunc, files_of_model)


def _python_model(model, folder: Path):
    """``(python_model, artifacts)`` for MLflow: the regime ensemble's pyfunc and its booster
    files written under ``folder``; ``(None, None)`` for a booster (logged as LightGBM)."""
    if not isinstance(model, RegimeEnsemble):
        return None, None
    return python_model(model), artifacts(model.save(folder / "boosters"))


def _log(ctx, rec, tags, files, stored, env, pyfunc, files_of_model) -> LoggedRun:
    name = rec.model_cfg.name
    features = list(rec.split.features)
    steps = [
        (f.fold, {"fold_rank_ic": f.rank_ic, "fold_ic": f.ic, "fold_hit_rate": f.hit_rate})
        for f in rec.best.cv.folds
    ]
    dataset = {
        "frame": rec.dev,
        "source": str(ctx.store.path(rec.split.dev_fingerprint)),
        "name": f"{name}-dev",
        "digest": rec.split.dev_fingerprint[:DIGEST_CHARS],
        "fingerprint": rec.split.dev_fingerprint,
    }
    run_id, experiment_id, model_uri = log_training_run(
        ctx.ws,
        name,
        run_name=f"train-{name}",
        tags=tags,
        params=flat_params(rec),
        metrics=_metrics(rec),
        steps=steps,
        dataset=dataset,
        environment=to_jsonable(env),
        files=files,
        booster=rec.booster,
        example=rec.dev[features].head(5).reset_index(drop=True),
        requirements=_requirements(env),
        model_files={CONTRACT_FILE: model_contract(rec).to_bytes()},
        python_model=pyfunc,
        artifacts=files_of_model,
    )
    return LoggedRun(run_id, experiment_id, model_uri, stored)
