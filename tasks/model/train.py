"""Purged walk-forward training with LightGBM: trials, the final model, and registration.

Pure part (top): :class:`ModelConfig`, :func:`fit_booster`, :func:`run_trial`,
:func:`select_best`, :func:`fit_final`. Each trial is one hyperparameter override of
``ModelConfig.lightgbm`` evaluated by purged walk-forward CV (:mod:`tasks.model.cv`); the best by
mean CV rank IC is retrained on the whole development period. LightGBM runs with fixed
seeds, ``deterministic=True``, ``force_row_wise=True`` and a fixed ``num_threads``, so the
same frame and config give the same model bytes.

Integration (bottom): :func:`train_and_register` logs the run to MLflow
(:mod:`tasks.model.register`), records ``model.trained`` and ``model.registered`` in the ledger
and registers a *candidate* version. It never touches registry aliases.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from governance.configio import StrictModel
from tasks.model.cv import CVConfig, CVSummary, make_folds, score_fold, summarise
from tasks.model.cv import inner_split as _inner_split
from tasks.model.labels import FWD_RET, LABEL

if TYPE_CHECKING:
    from governance.context import RunContext
    from tasks.model.dataset import SealedSplit
    from tasks.model.features import FeaturesConfig

TRADING_DAYS = 252  # annualisation of daily Sharpe ratios


class LightGBMParams(StrictModel):
    """LightGBM hyperparameters (names as in the LightGBM documentation).

    Defaults are deliberately conservative for noisy return targets: shallow trees, large
    leaves and shrinkage, as in Gu, Kelly & Xiu (2020, "Empirical Asset Pricing via Machine
    Learning") where boosted trees of depth 1-2 with strong shrinkage did best.
    """

    objective: str = "regression"
    learning_rate: float = Field(default=0.05, gt=0, le=1)
    num_leaves: int = Field(default=7, ge=2)
    max_depth: int = -1
    min_data_in_leaf: int = Field(default=200, ge=1)
    feature_fraction: float = Field(default=0.8, gt=0, le=1)
    bagging_fraction: float = Field(default=0.8, gt=0, le=1)
    bagging_freq: int = Field(default=1, ge=0)
    lambda_l2: float = Field(default=1.0, ge=0)
    linear_tree: bool = False
    num_boost_round: int = Field(default=200, ge=1)
    early_stopping_rounds: int = Field(default=20, ge=1)
    seed: int = 7
    # One thread by default: the pipeline shares two cores with the Prefect and MLflow
    # servers, and OpenMP threads spin-waiting on a busy core slow LightGBM down by an order
    # of magnitude (measured on this 2-core machine under load: 100 rounds on 100k rows took
    # 10 s with one thread, 87 s with two). Raise it on a dedicated training host.
    num_threads: int = Field(default=1, ge=1)

    def booster_params(self) -> dict[str, Any]:
        """Parameters for ``lightgbm.train``, with the determinism switches set."""
        p = self.model_dump(exclude={"num_boost_round", "early_stopping_rounds"})
        p.update(deterministic=True, force_row_wise=True, verbosity=-1)
        return p


class ModelConfig(StrictModel):
    """The ``model:`` section of the run config.

    Attributes
    ----------
    name : str
        Strategy name: MLflow experiment and registered model name.
    holdout_start : date or None
        First date of the final holdout; when None, the last ``holdout_fraction`` of dates.
    holdout_fraction : float
    cv : CVConfig
    lightgbm : LightGBMParams
        Base hyperparameters.
    search : list of mapping
        Hyperparameter overrides of ``lightgbm``, one trial each. Every trial counts toward
        the strategy's trial total (deflated Sharpe ratio, Bailey & López de Prado 2014).
    validation_fraction : float
        Share of each training window's last dates used for early stopping (purged).
    long_short_quantile : float
        Top-minus-bottom quantile of the trial's long-short OOS series (0.2: quintiles).
    reference_rows, sample_rows : int
        Rows of ``reference.parquet`` (drift reference) and of the predictions sample.
    """

    name: str = Field(default="alphagate-demo", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    holdout_start: dt.date | None = None
    holdout_fraction: float = Field(default=0.2, gt=0, lt=1)
    cv: CVConfig = Field(default_factory=CVConfig)
    lightgbm: LightGBMParams = Field(default_factory=LightGBMParams)
    search: tuple[dict[str, bool | int | float | str], ...] = (
        {},
        {"num_leaves": 3, "learning_rate": 0.1},
        {"num_leaves": 15, "min_data_in_leaf": 500},
    )
    validation_fraction: float = Field(default=0.2, gt=0, lt=0.5)
    long_short_quantile: float = Field(default=0.2, gt=0, le=0.5)
    reference_rows: int = Field(default=5000, ge=10)
    sample_rows: int = Field(default=200, ge=5)

    @field_validator("search")
    @classmethod
    def _known_overrides(cls, search):
        fields = set(LightGBMParams.model_fields)
        for i, override in enumerate(search):
            unknown = set(override) - fields
            if unknown:
                raise ValueError(f"search[{i}]: unknown LightGBM parameter {sorted(unknown)[0]!r}")
            LightGBMParams.model_validate({**override})
        return search

    def trial_params(self) -> tuple[LightGBMParams, ...]:
        """One validated parameter set per trial (the base set alone when ``search`` is empty)."""
        base = self.lightgbm.model_dump()
        return tuple(LightGBMParams(**{**base, **o}) for o in (self.search or ({},)))


# ---------------------------------------------------------------------------------------
# Fitting
# ---------------------------------------------------------------------------------------


def _matrix(frame: pd.DataFrame, features: list[str]) -> np.ndarray:
    return np.ascontiguousarray(frame[features].to_numpy(dtype=np.float64))


def fit_booster(
    X: np.ndarray,
    y: np.ndarray,
    features: list[str],
    params: LightGBMParams,
    *,
    valid: tuple[np.ndarray, np.ndarray] | None = None,
    num_boost_round: int | None = None,
) -> lgb.Booster:
    """Train one booster.

    Parameters
    ----------
    X : ndarray, shape (n_rows, n_features)
        NaN is LightGBM's missing value.
    y : ndarray, shape (n_rows,)
    features : list of str
        Feature names, in the columns' order.
    params : LightGBMParams
    valid : (X_valid, y_valid), optional
        Early stopping after ``params.early_stopping_rounds`` rounds without improvement.
    num_boost_round : int, optional
        Overrides ``params.num_boost_round``.
    """
    train_set = lgb.Dataset(X, label=y, feature_name=features, free_raw_data=True)
    rounds = num_boost_round or params.num_boost_round
    kwargs: dict[str, Any] = {}
    if valid is not None:
        kwargs["valid_sets"] = [lgb.Dataset(valid[0], label=valid[1], reference=train_set)]
        kwargs["callbacks"] = [lgb.early_stopping(params.early_stopping_rounds, verbose=False)]
    return lgb.train(params.booster_params(), train_set, num_boost_round=rounds, **kwargs)


@dataclass(frozen=True)
class TrialResult:
    """One evaluated hyperparameter set.

    Attributes
    ----------
    index : int
        Position in ``ModelConfig.search``.
    params : LightGBMParams
    cv : CVSummary
    oos_prediction : ndarray, shape (n_dev_rows,)
        Out-of-fold prediction of each dev row (NaN for rows never tested).
    long_short : Series
        Daily top-minus-bottom quantile return of the OOS predictions, realised over the
        next day (``fwd_ret_1``), indexed by signal date.
    sharpe : float
        Annualised Sharpe ratio of ``long_short`` (sqrt(252) scaling).
    """

    index: int
    params: LightGBMParams
    cv: CVSummary
    oos_prediction: np.ndarray = field(repr=False)
    long_short: pd.Series = field(repr=False)
    sharpe: float

    @property
    def name(self) -> str:
        return f"trial_{self.index}"


def long_short_returns(
    dates: np.ndarray, prediction: np.ndarray, realised: np.ndarray, quantile: float
) -> pd.Series:
    """Daily equal-weight top-minus-bottom ``quantile`` return of a prediction.

    Rows with NaN prediction or realised return are ignored; a date's assets are ranked
    by prediction (percentile ranks), the top ``quantile`` is bought and the bottom sold.
    """
    df = pd.DataFrame({"date": dates, "p": prediction, "y": realised}).dropna()
    pct = df.groupby("date")["p"].rank(pct=True)
    top = df["y"].where(pct > 1 - quantile).groupby(df["date"]).mean()
    bottom = df["y"].where(pct <= quantile).groupby(df["date"]).mean()
    return (top - bottom).dropna().rename("long_short")


def annualised_sharpe(returns: pd.Series) -> float:
    """``mean / std * sqrt(252)`` of daily returns (ddof=1); NaN for < 2 or flat returns."""
    r = returns.dropna().to_numpy()
    if len(r) < 2 or r.std(ddof=1) == 0:
        return float("nan")
    return float(r.mean() / r.std(ddof=1) * np.sqrt(TRADING_DAYS))


def run_trial(
    dev: pd.DataFrame,
    features: list[str],
    horizon: int,
    cfg: ModelConfig,
    params: LightGBMParams,
    index: int = 0,
) -> TrialResult:
    """Evaluate one parameter set by purged walk-forward CV on the development frame.

    In every fold the training window's last ``cfg.validation_fraction`` of dates (purged
    by ``horizon``) drives early stopping; the fold's test rows are then predicted.
    """
    dates = dev["date"].to_numpy()
    X, y = _matrix(dev, features), dev[LABEL].to_numpy(dtype=np.float64)
    realised = dev[FWD_RET].to_numpy(dtype=np.float64)
    oos = np.full(len(dev), np.nan)
    scores = []
    for k, fold in enumerate(make_folds(dates, cfg.cv, horizon)):
        fit, val = _inner_split(dates[fold.train], cfg.validation_fraction, horizon)
        fit, val = fold.train[fit], fold.train[val]
        booster = fit_booster(X[fit], y[fit], features, params, valid=(X[val], y[val]))
        best = booster.best_iteration or booster.current_iteration()
        oos[fold.test] = booster.predict(X[fold.test], num_iteration=best)
        scores.append(score_fold(k, dates[fold.test], oos[fold.test], realised[fold.test], best))
    ls = long_short_returns(dates, oos, dev["fwd_ret_1"].to_numpy(), cfg.long_short_quantile)
    return TrialResult(index, params, summarise(scores), oos, ls, annualised_sharpe(ls))


def select_best(trials: list[TrialResult] | tuple[TrialResult, ...]) -> TrialResult:
    """The trial with the highest mean CV rank IC (first one on ties; NaN ranks last)."""

    def key(t: TrialResult) -> float:
        v = t.cv.rank_ic_mean
        return v if np.isfinite(v) else -np.inf

    return max(trials, key=key)


def final_rounds(trial: TrialResult) -> int:
    """Boosting rounds of the final model: the median of the folds' early-stopped rounds."""
    return max(1, int(np.median([f.best_iteration for f in trial.cv.folds])))


def fit_final(dev: pd.DataFrame, features: list[str], trial: TrialResult) -> lgb.Booster:
    """Retrain the chosen trial on the whole development frame (no early stopping)."""
    X, y = _matrix(dev, features), dev[LABEL].to_numpy(dtype=np.float64)
    return fit_booster(X, y, features, trial.params, num_boost_round=final_rounds(trial))


def model_bytes(booster: lgb.Booster) -> bytes:
    """The booster's LightGBM text model file, as ``Booster.save_model`` writes it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.lgb"
        booster.save_model(path)
        return path.read_bytes()


def trials_frame(trials: list[TrialResult] | tuple[TrialResult, ...]) -> pd.DataFrame:
    """``trials.parquet``: ``date`` plus one daily long-short OOS column per trial."""
    wide = pd.concat({t.name: t.long_short for t in trials}, axis=1).sort_index()
    wide.index = pd.DatetimeIndex(wide.index).astype("datetime64[ns]")
    return wide.rename_axis("date").reset_index()


def time_stratified_sample(dev: pd.DataFrame, n_rows: int, seed: int) -> np.ndarray:
    """Row positions of a sample spread evenly over time.

    The dev dates are cut into 20 consecutive buckets of equal date count; each bucket
    contributes ``n_rows / 20`` rows drawn without replacement (fixed ``seed``).
    Returns sorted positions; all rows when ``n_rows >= len(dev)``.
    """
    if n_rows >= len(dev):
        return np.arange(len(dev))
    rng = np.random.default_rng(seed)
    unique, inverse = np.unique(dev["date"].to_numpy(), return_inverse=True)
    buckets = np.minimum(inverse * 20 // len(unique), 19)
    per = int(np.ceil(n_rows / 20))
    picks = []
    for b in range(20):
        rows = np.flatnonzero(buckets == b)
        picks.append(rng.choice(rows, size=min(per, len(rows)), replace=False))
    return np.sort(np.concatenate(picks))[:n_rows] if picks else np.arange(0)


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
        Trials of this strategy so far, this run included.
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


def prior_trials(ctx: RunContext, strategy: str) -> int:
    """Trials already recorded for ``strategy`` in the ledger's ``model.trained`` entries."""
    entries = ctx.ledger.entries(action="model.trained", subject=f"strategy:{strategy}")
    return sum(int(e.payload.get("trials", 0)) for e in entries)


def train_and_register(
    ctx: RunContext,
    split: SealedSplit,
    features_cfg: FeaturesConfig,
    model_cfg: ModelConfig,
    *,
    developer: str,
    config_hash: str,
    data_fingerprint: str,
    resolved_config: Mapping[str, Any] | None = None,
    trial_map: TrialMap | None = None,
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
    config_hash : str
        SHA-256 of the resolved run config.
    data_fingerprint : str
        Fingerprint of the market data (``MarketPanel.fingerprint``).
    resolved_config : mapping, optional
        The full resolved run config to log as ``config.json``; defaults to the features
        and model sections.
    trial_map : callable, optional
        ``trial_map(run_trial, args_per_trial) -> list[TrialResult]`` evaluates the trials,
        each ``run_trial(*args)``; default: one after the other in this process. The flow
        passes one that submits them to its Prefect task runner (threads or a Dask cluster);
        trials are deterministic, so the result is the same either way.

    Returns
    -------
    TrainingResult
    """
    from tasks.model.register import TrainingRecord, log_training, register_candidate

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
    total = prior_trials(ctx, model_cfg.name) + len(trials)
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
    trained = ctx.record(
        "model.trained",
        subject=f"strategy:{model_cfg.name}",
        payload={
            "metrics": best.cv.metrics(),
            "best_trial": best.index,
            "trials": len(trials),
            "trials_total": total,
            "trial_sharpes": [t.sharpe for t in trials],
            "trial_summaries": list(trial_rows),
            "model_hash": model_hash,
            "mlflow_run_id": logged.run_id,
            "dev_fingerprint": split.dev_fingerprint,
            "holdout_fingerprint": split.holdout_fingerprint,
            "features": features,
            "horizon": h,
            "config_hash": config_hash,
        },
        artifacts={"model.lgb": model_hash, **logged.artifacts},
    )
    version = register_candidate(record, logged, ledger_seq=trained.seq)
    ctx.record(
        "model.registered",
        subject=f"model:{model_cfg.name}/v{version}",
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
