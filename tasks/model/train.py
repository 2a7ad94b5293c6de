"""Purged walk-forward training with LightGBM: trials and the final model (pure).

:class:`ModelConfig`, :func:`fit_booster`, :func:`run_trial`, :func:`select_best`,
:func:`fit_final`. Each trial is one hyperparameter override of
``ModelConfig.lightgbm`` evaluated by purged walk-forward CV (:mod:`tasks.model.cv`); the best by
mean CV rank IC is retrained on the whole development period. LightGBM runs with fixed
seeds, ``deterministic=True``, ``force_row_wise=True`` and a fixed ``num_threads``, so the
same frame and config give the same model bytes.

Logging the run, the ledger entries and the candidate version are
:mod:`tasks.model.register`; nothing here touches MLflow, the ledger or registry aliases.
"""

from __future__ import annotations

import json
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from governance.ground.errors import InputError
from tasks.model.config import LightGBMParams, ModelConfig
from tasks.model.cv import CVSummary, inner_split, make_folds, score_fold, summarise
from tasks.model.labels import FWD_RET, LABEL
from tasks.model.stats import annualised_sharpe, long_short_returns

#: LightGBM's native calls are not safe from two threads of one process at once: Prefect's
#: thread-pool runner ran two trials together and one fold's ``predict`` beside another's
#: ``Dataset`` construction segfaulted the process (seen in the suite and in ``alphagate
#: demo``; LightGBM's docs warn against simultaneous jobs sharing its OpenMP state,
#: lightgbm-org/LightGBM#6142). One lock per process serialises them; Dask workers are
#: processes, so fold-parallel training there is unchanged.
NATIVE_LOCK = threading.Lock()

if TYPE_CHECKING:
    import lightgbm as lgb


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
    # imported here: LightGBM (and the scikit-learn it loads) took 4.6 s of every command
    # that reads a config (flows/config.py imports ModelConfig), training or not
    import lightgbm as lgb

    train_set = lgb.Dataset(X, label=y, feature_name=features, free_raw_data=True)
    rounds = num_boost_round or params.num_boost_round
    kwargs: dict[str, Any] = {}
    if valid is not None:
        kwargs["valid_sets"] = [lgb.Dataset(valid[0], label=valid[1], reference=train_set)]
        kwargs["callbacks"] = [lgb.early_stopping(params.early_stopping_rounds, verbose=False)]
    booster_params = params.booster_params()
    if params.regime_mix is not None:
        return _fit_mixture(X, y, features, params, valid, rounds)
    with tempfile.TemporaryDirectory() as tmp:
        if params.regime_gate is not None:
            if params.regime_gate not in features:
                raise InputError(f"model.lightgbm.regime_gate: {params.regime_gate!r} is not "
                                 "among the features (add it to features.names)")  # fmt: skip
            i = features.index(params.regime_gate)
            # Both regimes must be present (LightGBM refuses an empty side); with one, the
            # rows are that regime's and one model is the ensemble. Gate values are 0 and 1:
            # LightGBM's bin boundary for them is 0 (left: gate 0, right: gate 1).
            if np.unique(X[:, i][np.isfinite(X[:, i])]).size > 1:
                forced = Path(tmp) / "forced.json"
                forced.write_text(json.dumps({"feature": i, "threshold": 0.0}), encoding="utf-8")
                booster_params["forcedsplits_filename"] = str(forced)
        return lgb.train(booster_params, train_set, num_boost_round=rounds, **kwargs)


def _fit_mixture(X, y, features, params: LightGBMParams, valid, rounds: int):
    """The regime ensemble combined by ``params.regime_mix`` (tasks/model/regime_ensemble.py):
    it stands where a booster stands (predicts the same matrix, names its rounds)."""
    from tasks.model.regime_ensemble import fit_matrix

    if params.regime_gate is not None:
        raise InputError("model.lightgbm: regime_gate and regime_mix are two kinds of regime "
                         "ensemble; set one")  # fmt: skip
    if params.regime_mix not in features:
        raise InputError(f"model.lightgbm.regime_mix: {params.regime_mix!r} is not among the "
                         "features (add it to features.names)")  # fmt: skip
    return fit_matrix(X, y, features, params.regime_mix, params.booster_params(), rounds,
                      valid=valid, early_stopping_rounds=params.early_stopping_rounds)  # fmt: skip


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
        fit, val = inner_split(dates[fold.train], cfg.validation_fraction, horizon)
        fit, val = fold.train[fit], fold.train[val]
        with NATIVE_LOCK:
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
    """The booster's LightGBM text model file, as ``Booster.save_model`` writes it (a regime
    ensemble's: its boosters' text models, concatenated)."""
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
