"""The validation's sensitivity and replication sections, computed from loaded inputs.

:func:`robustness` reads the version's signed ``model.trained`` entry (the recipe of the
final fit, validation/replication.py), loads the sealed development frame by its
fingerprint (hash-checked: a changed frame is ``TamperDetected``), fits the replica and the
hyperparameter neighbours, and scores every sensitivity scenario (validation/sensitivity.py)
on the sealed holdout. :func:`section` is the report's JSON block, :func:`mlflow_metrics`
the numbers the validation run logs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from governance.registry.change_control import trained_entry_of
from tasks.model.dataset import load_sealed
from validation.config import ValidationConfig
from validation.inputs import ValidationInputs, predict
from validation.replication import Replication, compare, recipe_of, refit
from validation.sensitivity import Scenario, hyper_overrides, scenarios

__all__ = ["Robustness", "mlflow_metrics", "robustness", "section"]


@dataclass(frozen=True)
class Robustness:
    """The replication and the sensitivity scenarios of one validation."""

    replication: Replication
    scenarios: tuple[Scenario, ...]
    noise: float
    quantile: float


def robustness(ledger, store, inp: ValidationInputs, cfg: ValidationConfig) -> Robustness:
    """Replicate the version from its signed recipe and run every sensitivity scenario.

    Raises
    ------
    TamperDetected
        The development frame the signed entry names no longer hashes to its fingerprint.
    """
    holdout = inp.holdout
    base = predict(inp.booster, holdout, inp.features)
    quantile = 1.0 / cfg.n_quantiles
    entry = trained_entry_of(ledger, inp.ref)
    recipe = recipe_of(entry.payload) if entry is not None else None
    refits: list[tuple[str, np.ndarray]] = []
    if recipe is None or list(recipe.features) != list(inp.features):
        why = (
            "no valid signed model.trained entry"
            if entry is None
            else "the signed model.trained entry does not record the final fit's recipe"
            if recipe is None
            else "the signed entry's features differ from the model's input contract"
        )
        rep = Replication(available=False, note=f"nothing to replicate from: {why}")
    else:
        dev = load_sealed(store, recipe.dev_fingerprint)
        rep = compare(refit(dev, recipe), base, holdout, recipe)
        for name, over in hyper_overrides(recipe.params, cfg.sensitivity_hyperparameters):
            model = refit(dev, recipe, over)
            refits.append((name, np.asarray(model.predict(_matrix(holdout, inp.features)))))
        del dev

    def score(frame):
        return predict(inp.booster, frame, inp.features)

    found = scenarios(
        holdout,
        inp.features,
        base,
        score,
        refits,
        noise=cfg.sensitivity_noise,
        quantile=quantile,
        seed=cfg.seed,
        horizon=inp.horizon,
    )
    return Robustness(rep, tuple(found), cfg.sensitivity_noise, quantile)


def _matrix(frame, features):
    return frame[list(features)].to_numpy(np.float64)


def section(r: Robustness | None) -> dict[str, Any]:
    """``{"sensitivity": ..., "replication": ...}`` for the report's JSON twin."""
    if r is None:
        return {}
    return {
        "sensitivity": {
            "noise": r.noise,
            "quantile": r.quantile,
            "random_turnover": 1 - r.quantile,
            "scenarios": [asdict(s) for s in r.scenarios],
        },
        "replication": asdict(r.replication),
    }


def mlflow_metrics(report: dict[str, Any]) -> dict[str, float]:
    """The sensitivity and replication numbers the validation run logs (finite only)."""
    out: dict[str, float] = {}
    rep = report.get("replication") or {}
    for key in ("max_abs_diff", "tolerance", "rank_correlation"):
        out[f"replication_{key}"] = rep.get(key)
    if rep.get("available"):
        out["replication_matches"] = float(bool(rep.get("matches")))
    for s in (report.get("sensitivity") or {}).get("scenarios") or []:
        slug = "".join(ch if ch.isalnum() else "_" for ch in s["name"]).strip("_")
        for key in ("turnover", "rank_ic", "prediction_change"):
            out[f"sensitivity_{slug}_{key}"] = s.get(key)
    return {
        k: float(v)
        for k, v in out.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }
