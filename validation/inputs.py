"""What validation reads, and only from where independence allows.

The model comes from the MLflow registry by name and version (the booster, or the regime
ensemble's boosters, inside the logged model), with its input contract (feature order, horizon) from its own files
(:mod:`governance.registry.contract`), never from the version's tags; the holdout from the artifact store by the fingerprint tagged on the version,
which must also appear in a ``data.split`` ledger entry; trial accounting from the
``model.trained`` ledger entries of the strategy. Nothing here imports training code.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from governance.ground.errors import InputError, TamperDetected
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action, Subject
from governance.log.ledger import Ledger
from governance.registry.contract import CONTRACT_FILE, read_contract
from governance.registry.recorder import load_model, mlflow_client, mlflow_error
from tasks.model.dataset import load_sealed
from tasks.model.trials import DataSketch, count_trials

__all__ = [
    "TrialAccounting",
    "ValidationInputs",
    "load_inputs",
    "predict",
    "strategy_trials",
    "trial_accounting",
]

_RUN_FILES = ("features.json", "trials.parquet", "reference.parquet")


@dataclass(frozen=True)
class TrialAccounting:
    """Honest trial count for a version, from the ledger (tasks/model/trials.py).

    Attributes
    ----------
    n_trials : int
        Distinct search points evaluated on data overlapping the version's, under any
        strategy name.
    trial_sharpes : tuple of float
        Annualised OOS Sharpe ratio of each of those trials' latest evaluation (NaN dropped).
    runs : tuple of str
        MLflow run ids of the training runs in scope, oldest first.
    best_trial : int or None
        Index of the trial the version's own run selected.
    columns : tuple of str
        The trial series (``<run8>:trial_<i>``) that stand for the distinct trials: the
        version's own run's, else each key's latest.
    """

    n_trials: int
    trial_sharpes: tuple[float, ...]
    runs: tuple[str, ...]
    best_trial: int | None
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class ValidationInputs:
    """Everything one validation needs, loaded by version and fingerprint."""

    model_name: str
    version: int
    run_id: str
    tags: dict[str, str]
    developer: str | None
    strategy: str
    horizon: int
    features: list[str]
    expected_signs: dict[str, int]
    holdout_fingerprint: str
    holdout: pd.DataFrame
    reference: pd.DataFrame
    trials: pd.DataFrame
    accounting: TrialAccounting
    booster: Any

    @property
    def ref(self) -> ModelRef:
        return ModelRef(self.model_name, self.version)


def trial_accounting(ledger: Ledger, strategy: str, run_id: str) -> TrialAccounting:
    """Count the distinct trials on the data the version ``run_id`` was trained on.

    The data is the sketch its ``model.trained`` entry recorded; the variance of trial
    Sharpes for the deflated Sharpe ratio uses every counted trial (Bailey & López de Prado
    2014: every trial, not only the selected).
    """
    own = training_facts(ledger, strategy, run_id)
    sketch = DataSketch.from_payload(own.get("data_sketch"))
    count = count_trials(ledger, sketch, strategy, prefer_run=run_id)
    best = own.get("best_trial")
    return TrialAccounting(
        n_trials=count.n_trials,
        trial_sharpes=tuple(count.sharpes[k] for k in count.keys if k in count.sharpes),
        runs=count.runs,
        best_trial=None if best is None else int(best),
        columns=tuple(f"{run[:8]}:trial_{i}" for run, i in count.columns.values()),
    )


def training_facts(ledger: Ledger, strategy: str, run_id: str) -> dict:
    """The ``model.trained`` payload of the training run ``run_id`` (empty when absent)."""
    for e in reversed(
        ledger.entries(action=Action.MODEL_TRAINED, subject=Subject.strategy(strategy))
    ):
        if e.payload.get("mlflow_run_id") == run_id:
            return dict(e.payload)
    return {}


def _download(client, run_id: str, name: str, dst: Path) -> Path:
    try:
        return Path(client.download_artifacts(run_id, name, str(dst)))
    except (*mlflow_error(), OSError):
        raise InputError(f"model run {run_id}: artifact {name} is missing") from None


def _read_parquet(path: Path) -> pd.DataFrame:
    frame = pd.read_parquet(path)
    if "date" in frame.columns:
        frame["date"] = frame["date"].astype("datetime64[ns]")
    return frame


def strategy_trials(client, runs: tuple[str, ...], tmp: Path) -> pd.DataFrame:
    """Wide daily OOS returns of every trial of the strategy (columns ``<run>:<trial>``)."""
    frames = []
    for rid in runs:
        try:
            path = _download(client, rid, "trials.parquet", tmp / rid)
        except InputError:
            continue  # a run whose files were purged still counts in n_trials
        t = _read_parquet(path).set_index("date")
        frames.append(t.add_prefix(f"{rid[:8]}:"))
    return pd.concat(frames, axis=1).sort_index() if frames else pd.DataFrame()


def load_inputs(ws, ledger: Ledger, store, ref: ModelRef) -> ValidationInputs:
    """Load the version, its run's files, the sealed holdout and the trial accounting.

    Raises
    ------
    InputError
        Unknown model version, a missing run artifact or tag, or a model without its
        input contract.
    TamperDetected
        The holdout fingerprint is not recorded by any ``data.split`` entry, or the stored
        holdout no longer hashes to it.
    """
    model_name, version = ref.name, ref.version
    client = mlflow_client(ws)
    try:
        mv = client.get_model_version(*ref.mlflow)
    except mlflow_error():
        raise InputError(
            f"--model-version: model {model_name!r} has no version {version}"
        ) from None
    tags = dict(mv.tags or {})
    for key in ("holdout_fingerprint", "strategy"):
        if not tags.get(key):
            raise InputError(f"model {model_name} v{version}: tag {key!r} is missing")
    fp = tags["holdout_fingerprint"]
    if not any(
        e.payload.get("holdout_fingerprint") == fp for e in ledger.entries(action=Action.DATA_SPLIT)
    ):
        raise TamperDetected(
            f"holdout {fp[:12]} of {model_name} v{version} is not recorded by any data.split entry"
        )
    holdout = load_sealed(store, fp)
    accounting = trial_accounting(ledger, tags["strategy"], mv.run_id)
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        paths = {n: _download(client, mv.run_id, n, tmpdir) for n in _RUN_FILES}
        declared = json.loads(paths["features.json"].read_text(encoding="utf-8"))
        reference = _read_parquet(paths["reference.parquet"])
        runs = accounting.runs if mv.run_id in accounting.runs else (*accounting.runs, mv.run_id)
        trials = strategy_trials(client, runs, tmpdir / "trials")
    # One series per distinct trial (a retrain's repeat of a search point is not another).
    keep = [c for c in trials.columns if c in accounting.columns] if accounting.columns else []
    trials = trials[keep] if keep else trials
    _, booster, extras = load_model(ws, ref, flavor="native")
    # the booster, or the regime ensemble rebuilt from its files by the registered model's
    # own loader (governance/registry/pyfunc.py); sklearn wrapper -> Booster
    booster = getattr(booster, "booster_", booster)
    contract = read_contract(extras, f"model {model_name} v{version}")
    if contract is None:
        raise InputError(
            f"model {model_name} v{version} carries no input contract ({CONTRACT_FILE} among"
            " its model files; trained before issue 22): retrain it"
        )
    return ValidationInputs(
        model_name=model_name,
        version=version,
        run_id=mv.run_id,
        tags=tags,
        developer=tags.get("developer"),
        strategy=tags["strategy"],
        horizon=contract.horizon,
        features=list(contract.features),
        expected_signs={d["name"]: int(d.get("expected_sign") or 0) for d in declared},
        holdout_fingerprint=fp,
        holdout=holdout,
        reference=reference,
        trials=trials,
        accounting=accounting,
        booster=booster,
    )


def predict(booster, frame: pd.DataFrame, features: list[str]) -> np.ndarray:
    """The registered booster's prediction for each row, shape (n_rows,)."""
    return np.asarray(booster.predict(frame[features].to_numpy(np.float64)), dtype=float)
