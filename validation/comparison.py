"""The minor path's automatic comparison with the previous version (issue 27, item 2).

A retrain classified *minor* (governance/registry/change_control.py: new data only) may take
its tier's lighter approval path only when it behaves like the version it retrains. The
validator's process scores the new version's sealed holdout with both the new version and
its baseline (the previous registered version the class was computed against; its model file
is the one its signed training entry names, :func:`baseline_booster`) and measures:

- ``ic_change``: the new version's holdout mean rank IC minus the baseline's, and
  ``ic_change_tstat``, the Newey-West t-statistic of the per-date difference (``horizon - 1``
  lags: overlapping labels), so that a change on a weak model is told from noise;
- ``turnover``: the mean over dates of ``0.5 * sum |w_new - w_base|`` of the two scores'
  top-quantile books (validation/sensitivity.py ``book_turnover``), and
  ``relative_turnover``, over a random book's distance ``1 - q``;
- ``importance_rank_corr``: Spearman correlation of the two boosters' gain importances
  over the model's features.

The figures travel in the report's ``change`` section and in the signed
``validation.completed`` (``comparison``) with the breaches of the bounds in force when it
was made; the champion's derivation judges them again under the adopted policy in force at
each approval (governance/registry/champion.py), so a bound edited in a run config changes
nothing.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from governance.ground.errors import TamperDetected
from governance.ground.refs import ModelRef
from governance.registry.change_control import ChangeClass, comparison_breaches, trained_entry_of
from tasks.model.stats import ic_by_date, newey_west_tstat
from validation.inputs import ValidationInputs, predict
from validation.replication import Mixture
from validation.sensitivity import book_turnover

__all__ = ["Comparison", "baseline_booster", "compare_scores", "compare_with_baseline"]


@dataclass(frozen=True)
class Comparison:
    """The new version against its baseline on the new version's holdout (module doc)."""

    baseline_version: str
    rank_ic: float
    baseline_rank_ic: float
    ic_change: float
    ic_change_tstat: float
    turnover: float
    relative_turnover: float
    importance_rank_corr: float
    dates: int

    def to_json(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in asdict(self).items()}  # fmt: skip


def compare_scores(
    holdout: pd.DataFrame,
    new: np.ndarray,
    base: np.ndarray,
    importances: tuple[np.ndarray, np.ndarray],
    *,
    baseline_version: str,
    quantile: float,
    horizon: int,
) -> Comparison:
    """Compare two scores of ``holdout`` (rows ``date``, ``fwd_ret``) and two importance
    vectors over the same features (pure).

    Parameters
    ----------
    new, base : ndarray, shape (n_rows,)
        The new version's and the baseline's scores.
    importances : (ndarray, ndarray), each shape (n_features,)
        Gain importances, in the same feature order.
    quantile : float
        Share of names the top-quantile book holds.
    """
    dates = holdout["date"].to_numpy()
    realised = holdout["fwd_ret"].to_numpy(dtype=float)
    ic_new, ic_base = ic_by_date(dates, new, realised), ic_by_date(dates, base, realised)
    paired = (ic_new - ic_base).dropna()
    tstat = newey_west_tstat(paired.to_numpy(), max(horizon - 1, 1))[2]
    turn = book_turnover(dates, base, new, quantile)
    a, b = (np.asarray(x, dtype=float) for x in importances)
    corr = spearmanr(a, b)[0] if len(a) > 1 and np.ptp(a) > 0 and np.ptp(b) > 0 else math.nan
    return Comparison(
        baseline_version=baseline_version,
        rank_ic=float(ic_new.mean()),
        baseline_rank_ic=float(ic_base.mean()),
        ic_change=float(paired.mean()) if len(paired) else math.nan,
        ic_change_tstat=float(tstat),
        turnover=turn,
        relative_turnover=turn / (1 - quantile),
        importance_rank_corr=float(corr),
        dates=int(paired.size),
    )


def baseline_booster(ledger, ref: ModelRef) -> lgb.Booster | Mixture:
    """The baseline ``ref``'s LightGBM model (a regime ensemble's boosters: ``ensemble.mix``) from
    the file its developer's signed ``model.trained`` names (``model_hash``), read from the content-addressed store and re-hashed: never the
    registry's copy, which an insider could swap for the new version's to pass the
    comparison.

    Raises
    ------
    TamperDetected
        No valid signed training entry names a model file, or the file changed.
    """
    entry = trained_entry_of(ledger, ref)
    digest = entry.payload.get("model_hash") if entry is not None else None
    if not isinstance(digest, str):
        raise TamperDetected(f"{ref}: no valid signed model.trained names its model")
    text = ledger.store.read_bytes(digest).decode("utf-8")
    mix = (entry.payload.get("ensemble") or {}).get("mix")
    features = list(entry.payload.get("features") or [])
    if mix is not None and mix in features:  # the regime ensemble's boosters, one file
        return Mixture.from_model_text(text, features.index(mix))
    return lgb.Booster(model_str=text)


def compare_with_baseline(ledger, inp: ValidationInputs, change: dict, tier, quantile: float):
    """The comparison section of a minor change's validation (None for a material one):
    the figures, the baseline and the breaches of ``tier``'s ``change.comparison``. A minor
    change has the baseline's features in the same order (its class says so)."""
    if change.get("class") != ChangeClass.MINOR.value or change.get("baseline_version") is None:
        return None
    base = ModelRef.parse(inp.model_name, change["baseline_version"])  # the signed class's
    booster = baseline_booster(ledger, base)
    found = compare_scores(
        inp.holdout,
        predict(inp.booster, inp.holdout, inp.features),
        predict(booster, inp.holdout, inp.features),
        (inp.booster.feature_importance("gain"), booster.feature_importance("gain")),
        baseline_version=base.version_text,  # signed as a string, as it always was
        quantile=quantile,
        horizon=inp.horizon,
    ).to_json()
    bounds = tier.change.comparison
    return {**found, "bounds": bounds.model_dump(),
            "breaches": comparison_breaches(bounds, found, base.version)}  # fmt: skip
