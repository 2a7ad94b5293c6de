"""Replication: the validator fits the version again from its signed record and compares.

The ``model.trained`` entry the developer signed records everything the final model was
fitted from: the sealed development frame (``dev_fingerprint``), the features in order, the
selected trial's LightGBM parameters (``trial_summaries[best_trial].params``) and the folds'
early-stopped rounds (``fold_rounds``; the final model boosts their median, as training's
``final_rounds`` does). :func:`refit` fits that model again with the validator's own call of
LightGBM — not training's code: tests/test_independence.py lets this one module call
``lightgbm.train`` and nothing in ``validation/`` import ``tasks.model.train`` — and
:func:`compare` holds the replica's holdout predictions against the registered booster's.

Tolerance. With ``deterministic=True``, ``force_row_wise=True``, the recorded ``seed`` and
``num_threads``, LightGBM builds the same trees from the same rows (LightGBM's parameter
docs: ``deterministic`` "ensure[s] stable results when using the same inputs and the same
parameters"), so the two models' predictions differ by float64 rounding at most: each of the
``T`` trees adds one leaf value to a running sum, so the error is bounded by
``T * eps * max(1, max|prediction|)`` with ``eps = 2**-52`` (Higham, *Accuracy and Stability
of Numerical Algorithms*, 2002, eq. 4.3: recursive summation). A difference above that bound
means the registered model is not what its signed record says it was fitted from: a
``replication_mismatch`` finding, critical in every tier (validation/findings.py).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from governance.ground.canonical import sha256_bytes
from tasks.model.dataset import LABEL

__all__ = [
    "EPS",
    "Replication",
    "TrainingRecipe",
    "compare",
    "recipe_of",
    "refit",
]

EPS = float(np.finfo(np.float64).eps)
#: LightGBMParams fields that are not ``lightgbm.train``'s ``params``: the boosting loop's,
#: and the regime ensembles' (issue 26): the gate, a forced first split, and the mix's
#: probability, one booster per regime weighted by it (:func:`refit`).
_LOOP = ("num_boost_round", "early_stopping_rounds", "regime_gate", "regime_mix")


@dataclass(frozen=True)
class TrainingRecipe:
    """What the final model was fitted from, as its signed ``model.trained`` entry says.

    Attributes
    ----------
    dev_fingerprint : str
        Artifact-store hash of the sealed development frame.
    features : tuple of str
        Input columns, in the booster's order.
    params : dict
        The selected trial's LightGBM parameters (``LightGBMParams`` fields).
    rounds : int
        Boosting rounds of the final fit: the median of the folds' early-stopped rounds.
    model_hash : str
        Hash of the model file training stored (``model.lgb``).
    """

    dev_fingerprint: str
    features: tuple[str, ...]
    params: dict[str, Any]
    rounds: int
    model_hash: str

    def booster_params(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``lightgbm.train`` parameters with LightGBM's determinism switches set."""
        p = {k: v for k, v in {**self.params, **(overrides or {})}.items() if k not in _LOOP}
        p.update(deterministic=True, force_row_wise=True, verbosity=-1)
        return p


def recipe_of(payload: Mapping[str, Any]) -> TrainingRecipe | None:
    """The recipe in a signed ``model.trained`` payload (None: the entry lacks a part)."""
    best = payload.get("best_trial")
    trials = list(payload.get("trial_summaries") or [])
    rounds = [int(r) for r in payload.get("fold_rounds") or [] if r is not None]
    fp, feats = payload.get("dev_fingerprint"), payload.get("features")
    if best is None or not 0 <= int(best) < len(trials) or not rounds or not fp or not feats:
        return None
    params = trials[int(best)].get("params")
    if not isinstance(params, Mapping):
        return None
    return TrainingRecipe(
        dev_fingerprint=str(fp),
        features=tuple(feats),
        params=dict(params),
        rounds=max(1, int(np.median(rounds))),
        model_hash=str(payload.get("model_hash") or ""),
    )


def refit(dev: pd.DataFrame, recipe: TrainingRecipe, overrides: Mapping[str, Any] | None = None):
    """Fit the recipe's model on ``dev`` (its label column), optionally with ``overrides``.

    Returns a ``lightgbm.Booster``, or for the regime ensemble combined by the probabilities
    (``regime_mix``) a :class:`Mixture` of one booster per regime.
    """
    import json

    X = np.ascontiguousarray(dev[list(recipe.features)].to_numpy(dtype=np.float64))
    y = dev[LABEL].to_numpy(dtype=np.float64)
    mix = {**recipe.params, **(overrides or {})}.get("regime_mix")
    # a weight not among the features (training refuses it) fits one booster: a mismatch
    if mix is not None and mix in recipe.features:
        return _refit_mixture(X, y, recipe, mix, overrides)
    params = recipe.booster_params(overrides)
    gate = {**recipe.params, **(overrides or {})}.get("regime_gate")
    with tempfile.TemporaryDirectory() as tmp:
        # A regime ensemble's trees split first on its 0/1 gate at LightGBM's bin boundary 0,
        # when both regimes have rows (one regime: one model, no split), as the signed
        # recipe's gate says (a gate not among its features, which training refuses, makes
        # no split: the replica then differs, a mismatch).
        if gate is not None and gate in recipe.features:
            i = list(recipe.features).index(gate)
            if np.unique(X[:, i][np.isfinite(X[:, i])]).size > 1:
                forced = Path(tmp) / "forced.json"
                forced.write_text(json.dumps({"feature": i, "threshold": 0.0}), encoding="utf-8")
                params["forcedsplits_filename"] = str(forced)
        return _train(params, X, y, recipe.features, recipe.rounds)


@dataclass(frozen=True)
class Mixture:
    """The replica of a regime ensemble: one booster per regime of
    ``tasks.model.regimes.HMM_STATES`` (calm, turbulent), predicting
    ``(1 - p) f_calm(x) + p f_turbulent(x)`` with ``p`` the ``weight_column`` of the matrix
    and ``x`` the other columns, as the signed recipe says the model was fitted."""

    boosters: tuple
    weight_column: int

    def predict(self, X: np.ndarray) -> np.ndarray:
        p = np.clip(X[:, self.weight_column], 0.0, 1.0)
        x = np.delete(X, self.weight_column, axis=1)
        f = [b.predict(x) for b in self.boosters]
        return (1.0 - p) * f[0] + p * f[1]

    def feature_importance(self, importance_type: str = "split") -> np.ndarray:
        """The boosters' importances summed, in the matrix's column order (the weight's 0)."""
        total = sum(np.asarray(b.feature_importance(importance_type), float) for b in self.boosters)
        return np.insert(total, self.weight_column, 0.0)

    def model_text(self) -> bytes:
        """The boosters' text models, concatenated in state order (training's model file)."""
        return b"".join(b.model_to_string().encode("utf-8") for b in self.boosters)

    @classmethod
    def from_model_text(cls, text: str, weight_column: int) -> Mixture:
        """The ensemble of the model file :meth:`model_text` writes (each LightGBM text
        model begins with a ``tree`` line followed by ``version=``)."""
        import re

        import lightgbm

        parts = [p for p in re.split(r"(?m)^(?=tree\nversion=)", text) if p.strip()]
        return cls(tuple(lightgbm.Booster(model_str=p) for p in parts), weight_column)


def _refit_mixture(X, y, recipe: TrainingRecipe, mix: str, overrides) -> Mixture:
    """One booster per regime on every row with a known probability, weighted by that
    regime's probability (calm: ``1 - p``, turbulent: ``p``)."""
    i = list(recipe.features).index(mix)
    known = np.isfinite(X[:, i])
    p = np.clip(X[known, i], 0.0, 1.0)
    x = np.ascontiguousarray(np.delete(X[known], i, axis=1))
    names = [f for f in recipe.features if f != mix]
    params = recipe.booster_params(overrides)
    return Mixture(
        tuple(_train(params, x, y[known], names, recipe.rounds, w) for w in (1 - p, p)), i
    )


def _train(params, X, y, names, rounds: int, weight=None):
    """The validator's own call of LightGBM (the one this package makes)."""
    import lightgbm

    data = lightgbm.Dataset(X, label=y, weight=weight, feature_name=list(names), free_raw_data=True)
    return lightgbm.train(params, data, num_boost_round=rounds)


def _model_file(booster) -> bytes:
    if hasattr(booster, "model_text"):
        return booster.model_text()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.lgb"
        booster.save_model(path)
        return path.read_bytes()


@dataclass(frozen=True)
class Replication:
    """The replica against the registered model, on the sealed holdout.

    Attributes
    ----------
    available : bool
        False when the signed entry does not say how to fit the model (``note`` says why).
    rounds : int
        Boosting rounds of the replica (``T`` of the tolerance).
    max_abs_diff : float
        Largest absolute difference of the two models' holdout predictions.
    tolerance : float
        ``T * eps * max(1, max|prediction|)`` (module docstring).
    rank_correlation : float
        Mean per-date Spearman correlation of the two predictions (1 when they agree).
    same_bytes : bool
        The replica's model file hashes to the one training stored (``model_hash``).
    matches : bool
        ``max_abs_diff <= tolerance``.
    """

    available: bool
    rounds: int = 0
    max_abs_diff: float = float("nan")
    tolerance: float = float("nan")
    rank_correlation: float = float("nan")
    same_bytes: bool = False
    matches: bool = False
    note: str = ""


def compare(
    replica, registered: np.ndarray, holdout: pd.DataFrame, recipe: TrainingRecipe
) -> Replication:
    """Hold the replica's holdout predictions against ``registered`` (shape (n_rows,))."""
    X = holdout[list(recipe.features)].to_numpy(np.float64)
    mine = np.asarray(replica.predict(X), dtype=float)
    diff = float(np.max(np.abs(mine - registered))) if len(mine) else 0.0
    scale = max(1.0, float(np.max(np.abs(registered))) if len(registered) else 1.0)
    tol = recipe.rounds * EPS * scale
    frame = pd.DataFrame({"date": holdout["date"].to_numpy(), "a": registered, "b": mine})
    ranks = frame.groupby("date")[["a", "b"]].rank()
    per_date = ranks.groupby(frame["date"]).corr().xs("a", level=1)["b"]
    return Replication(
        available=True,
        rounds=recipe.rounds,
        max_abs_diff=diff,
        tolerance=tol,
        rank_correlation=float(per_date.mean()) if per_date.notna().any() else float("nan"),
        same_bytes=sha256_bytes(_model_file(replica)) == recipe.model_hash,
        matches=diff <= tol,
    )
