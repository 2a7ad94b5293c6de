"""Training the regime ensemble combined by the regime probabilities (issue 26 item 6).

One booster per regime ``s`` of the two-state market model (tasks/model/regimes.py), each
trained on every row weighted by that regime's filtered probability ``p_s(t)`` (the
point-in-time feature ``mkt_p_turbulent``); the model they make, its prediction
``sum_s p_s(t) f_s(x)``, its SHAP values and its MLflow files: tasks/model/mixture.py.

``from_artifacts`` is re-exported: the MLflow models registered before the model moved to
tasks/model/mixture.py name ``tasks.model.regime_ensemble:from_artifacts`` as their loader.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from tasks.model.mixture import WEIGHT, RegimeEnsemble, from_artifacts
from tasks.model.regimes import HMM_STATES

__all__ = ["fit_matrix", "fit_regime_ensemble", "from_artifacts"]


def fit_regime_ensemble(
    frame: pd.DataFrame,
    label: Sequence[float] | np.ndarray,
    features: Sequence[str],
    params: Mapping[str, Any],
    num_boost_round: int,
    weight: str = WEIGHT,
) -> RegimeEnsemble:
    """Train one booster per regime on every row of ``frame`` weighted by that regime's
    probability (rows whose probability is missing are dropped: the model is not defined
    there)."""
    columns = [*features, weight]
    X = frame[columns].to_numpy(dtype=float)
    return fit_matrix(X, np.asarray(label, dtype=float), columns, weight, params, num_boost_round)


def fit_matrix(
    X: np.ndarray,
    y: np.ndarray,
    columns: Sequence[str],
    weight: str,
    params: Mapping[str, Any],
    num_boost_round: int,
    *,
    valid: tuple[np.ndarray, np.ndarray] | None = None,
    early_stopping_rounds: int | None = None,
) -> RegimeEnsemble:
    """:func:`fit_regime_ensemble` on a matrix whose columns are ``columns`` (the weight
    among them): each regime's booster sees the other columns, every row with a known
    probability weighted by its regime's probability; with ``valid``, each booster stops
    early on the validation rows weighted the same way."""
    columns = list(columns)
    i = columns.index(weight)
    inputs = [j for j in range(len(columns)) if j != i]
    names = [columns[j] for j in inputs]

    def split(x, target):
        known = np.isfinite(x[:, i])
        p = np.clip(x[known, i], 0.0, 1.0)
        return np.ascontiguousarray(x[known][:, inputs]), target[known], (1.0 - p, p)

    x, y, w = split(X, y)
    val = split(*valid) if valid is not None else None
    boosters = []
    for s in range(len(HMM_STATES)):
        data = lgb.Dataset(x, y, weight=w[s], feature_name=names, free_raw_data=True)
        kwargs: dict[str, Any] = {}
        if val is not None:
            vx, vy, vw = val
            kwargs["valid_sets"] = [lgb.Dataset(vx, vy, weight=vw[s], reference=data)]
            kwargs["callbacks"] = [lgb.early_stopping(early_stopping_rounds or 1, verbose=False)]
        boosters.append(lgb.train(dict(params), data, num_boost_round=num_boost_round, **kwargs))
    return RegimeEnsemble(tuple(boosters), tuple(names), weight, tuple(columns))
