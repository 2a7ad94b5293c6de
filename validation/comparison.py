"""The minor path's automatic comparison with the previous version (issue 27, item 2).

A retrain classified *minor* (governance/registry/change_control.py: new data only) may take
its tier's lighter approval path only when it behaves like the version it retrains. The
validator's process scores the new version's sealed holdout with both the new version and
its baseline (the previous registered version the class was computed against, read from the
registry by version) and measures:

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

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from governance.registry.change_control import ChangeClass, comparison_breaches
from governance.registry.contract import read_contract
from governance.registry.recorder import load_model
from tasks.model.stats import ic_by_date, newey_west_tstat
from validation.inputs import ValidationInputs, predict
from validation.sensitivity import book_turnover

__all__ = ["Comparison", "compare_scores", "compare_with_baseline"]


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
        baseline_version=str(baseline_version),
        rank_ic=float(ic_new.mean()),
        baseline_rank_ic=float(ic_base.mean()),
        ic_change=float(paired.mean()) if len(paired) else math.nan,
        ic_change_tstat=float(tstat),
        turnover=turn,
        relative_turnover=turn / (1 - quantile),
        importance_rank_corr=float(corr),
        dates=int(paired.size),
    )


def compare_with_baseline(ws, inp: ValidationInputs, change: dict, tier, quantile: float):
    """The comparison section of a minor change's validation (None for a material one):
    the figures, the baseline and the breaches of ``tier``'s ``change.comparison``."""
    base_version = change.get("baseline_version")
    if change.get("class") != ChangeClass.MINOR.value or base_version is None:
        return None
    _, booster, extras = load_model(ws, inp.model_name, int(base_version), flavor="lightgbm")
    booster = getattr(booster, "booster_", booster)
    contract = read_contract(extras, f"model {inp.model_name} v{base_version}")
    features = list(contract.features) if contract is not None else list(inp.features)
    found = compare_scores(
        inp.holdout,
        predict(inp.booster, inp.holdout, inp.features),
        predict(booster, inp.holdout, features),
        (inp.booster.feature_importance("gain"), booster.feature_importance("gain")),
        baseline_version=str(base_version),
        quantile=quantile,
        horizon=inp.horizon,
    ).to_json()
    bounds = tier.change.comparison
    return {**found, "bounds": bounds.model_dump(),
            "breaches": comparison_breaches(bounds, found, str(base_version))}  # fmt: skip
