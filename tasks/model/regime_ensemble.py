"""The regime ensemble combined by the regime probabilities (issue 26 item 6).

One booster per regime ``s`` of the two-state market model (``calm``, ``turbulent``:
tasks/model/regimes.py), each trained on every row weighted by that regime's filtered
probability ``p_s(t)`` (the point-in-time feature ``mkt_p_turbulent``, :data:`WEIGHT`), and
one prediction::

    f(x, t) = sum_s p_s(t) f_s(x)

Its SHAP explanation is the same mixture of the boosters' exact TreeSHAP values (LightGBM's
``pred_contrib``): ``phi(x, t) = sum_s p_s(t) phi_s(x)`` with base value
``b(t) = sum_s p_s(t) b_s``, so ``sum(phi) = f - b`` to rounding (additivity). The
regime probability is the mixture's weight, not an input of the boosters: it receives no
attribution of its own.

:class:`RegimeEnsemble` holds the boosters; :class:`RegimeEnsemblePyfunc` is the MLflow
``pyfunc`` model that carries them (one booster text file per regime as its artifacts) and
predicts long feature rows with the probability column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import mlflow.pyfunc
import numpy as np
import pandas as pd

from tasks.model.regimes import HMM_STATES

__all__ = ["WEIGHT", "RegimeEnsemble", "RegimeEnsemblePyfunc", "fit_regime_ensemble"]

#: The feature whose value is ``P(turbulent at t | returns up to t)``.
WEIGHT = "mkt_p_turbulent"


@dataclass(frozen=True)
class RegimeEnsemble:
    """One booster per regime (in :data:`~tasks.model.regimes.HMM_STATES` order), their
    input features and the probability column that weighs them."""

    boosters: tuple[lgb.Booster, ...]
    features: tuple[str, ...]
    weight: str = WEIGHT

    def weights(self, frame: pd.DataFrame) -> np.ndarray:
        """``(n, 2)``: each row's ``(p_calm, p_turbulent)``; a missing probability is an error."""
        p = frame[self.weight].to_numpy(dtype=float)
        if not np.isfinite(p).all():
            raise ValueError(f"regime ensemble: {self.weight} is missing on some rows")
        p = np.clip(p, 0.0, 1.0)
        return np.column_stack([1.0 - p, p])

    def _x(self, frame: pd.DataFrame) -> np.ndarray:
        return frame[list(self.features)].to_numpy(dtype=float)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """``sum_s p_s f_s(x)`` per row."""
        x, w = self._x(frame), self.weights(frame)
        return sum(w[:, s] * b.predict(x) for s, b in enumerate(self.boosters))

    def shap(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """``(phi, base)``: the rows' SHAP values (one column per feature) and base values,
        each the probability-weighted mixture of the regime boosters' TreeSHAP."""
        x, w = self._x(frame), self.weights(frame)
        phi = np.zeros((len(frame), len(self.features)))
        base = np.zeros(len(frame))
        for s, b in enumerate(self.boosters):
            contrib = b.predict(x, pred_contrib=True)  # features..., then the bias
            phi += w[:, [s]] * contrib[:, :-1]
            base += w[:, s] * contrib[:, -1]
        return pd.DataFrame(phi, index=frame.index, columns=list(self.features)), base

    def save(self, folder: Path) -> dict[str, str]:
        """Write each booster's text model; ``{state: path}``."""
        folder.mkdir(parents=True, exist_ok=True)
        out = {}
        for state, b in zip(HMM_STATES, self.boosters, strict=True):
            path = folder / f"booster-{state}.txt"
            b.save_model(str(path))
            out[state] = str(path)
        return out

    @classmethod
    def load(cls, paths: Mapping[str, str], features: Sequence[str], weight: str = WEIGHT):
        boosters = tuple(lgb.Booster(model_file=str(paths[s])) for s in HMM_STATES)
        return cls(boosters, tuple(features), weight)


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
    known = frame[weight].notna().to_numpy()
    rows, y = frame.loc[known], np.asarray(label, dtype=float)[known]
    x = rows[list(features)].to_numpy(dtype=float)
    p = np.clip(rows[weight].to_numpy(dtype=float), 0.0, 1.0)
    boosters = []
    for w in (1.0 - p, p):
        data = lgb.Dataset(x, y, weight=w, feature_name=list(features), free_raw_data=True)
        boosters.append(lgb.train(dict(params), data, num_boost_round=num_boost_round))
    return RegimeEnsemble(tuple(boosters), tuple(features), weight)


class RegimeEnsemblePyfunc(mlflow.pyfunc.PythonModel):
    """The MLflow model of a :class:`RegimeEnsemble`: artifacts ``booster-<state>`` (text
    models), predicting long rows that carry the features and the probability column."""

    def __init__(self, features: Sequence[str], weight: str = WEIGHT):
        self.features = tuple(features)
        self.weight = weight
        self._ensemble: RegimeEnsemble | None = None

    @staticmethod
    def artifacts(paths: Mapping[str, str]) -> dict[str, str]:
        """The ``artifacts`` mapping for ``mlflow.pyfunc.log_model`` from :meth:`RegimeEnsemble.save`."""
        return {f"booster-{s}": p for s, p in paths.items()}

    def load_context(self, context) -> None:
        paths = {s: context.artifacts[f"booster-{s}"] for s in HMM_STATES}
        self._ensemble = RegimeEnsemble.load(paths, self.features, self.weight)

    def predict(self, context, model_input: pd.DataFrame, params=None) -> np.ndarray:
        if self._ensemble is None:
            self.load_context(context)
        return self._ensemble.predict(model_input)
