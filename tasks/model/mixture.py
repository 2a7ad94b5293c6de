"""The regime ensemble as a registered model: what scoring and validation load (issue 26
item 6). It fits nothing; training the boosters is tasks/model/regime_ensemble.py.

One booster per regime ``s`` of the two-state market model (``calm``, ``turbulent``:
tasks/model/regimes.py) and one prediction::

    f(x, t) = sum_s p_s(t) f_s(x)

with ``p_s(t)`` the point-in-time regime probability (the feature ``mkt_p_turbulent``,
:data:`WEIGHT`). Its SHAP explanation is the same mixture of the boosters' exact TreeSHAP
values (LightGBM's ``pred_contrib``): ``phi(x, t) = sum_s p_s(t) phi_s(x)`` with base value
``b(t) = sum_s p_s(t) b_s``, so ``sum(phi) = f - b`` to rounding (additivity). The regime
probability is the mixture's weight, not an input of the boosters: it receives no attribution
of its own.

:class:`RegimeEnsemble` holds the boosters; :func:`python_model` is the MLflow model that
carries them (one booster text file per regime as its artifacts, governance/registry/pyfunc.py)
and rebuilds them on load with :func:`from_artifacts`. Validation loads a registered ensemble
through that factory, so this module is on validation's allow-list (tests/test_independence.py):
it must stay free of training code.

In the governed chain (``model.lightgbm.regime_mix``) the ensemble stands where a booster
stands: its input is the model's feature matrix (:attr:`RegimeEnsemble.columns`, the
contract's order, the probability among them), it predicts, names its boosting rounds and
writes one model file (:meth:`RegimeEnsemble.model_text`: the boosters' text models in
:data:`~tasks.model.regimes.HMM_STATES` order, concatenated), so training, the run's
files, validation and replication read it as they read a booster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from governance.ground.errors import Gate, GateHalt
from tasks.model.regimes import HMM_STATES

__all__ = ["WEIGHT", "RegimeEnsemble", "artifacts", "from_artifacts", "python_model"]

#: The feature whose value is ``P(turbulent at t | returns up to t)``.
WEIGHT = "mkt_p_turbulent"


@dataclass(frozen=True)
class RegimeEnsemble:
    """One booster per regime (in :data:`~tasks.model.regimes.HMM_STATES` order), their
    input features and the probability column that weighs them."""

    boosters: tuple[lgb.Booster, ...]
    features: tuple[str, ...]
    weight: str = WEIGHT
    #: The model's input order (the boosters' features and the probability): a matrix given
    #: to :meth:`predict` has these columns. Default: the features, then the probability.
    columns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.columns:
            object.__setattr__(self, "columns", (*self.features, self.weight))

    def _frame(self, data: pd.DataFrame | np.ndarray) -> pd.DataFrame:
        if isinstance(data, pd.DataFrame):
            return data
        return pd.DataFrame(np.asarray(data, dtype=float), columns=list(self.columns))

    def weights(self, frame: pd.DataFrame) -> np.ndarray:
        """``(n, 2)``: each row's ``(p_calm, p_turbulent)``; a missing probability halts the
        scoring gate (:class:`~governance.ground.errors.GateHalt`, exit 3), naming it."""
        p = self._frame(frame)[self.weight].to_numpy(dtype=float)
        missing = ~np.isfinite(p)
        if missing.any():
            # not a crash: the probability exists only once its first quarterly fit has a
            # year of market returns behind it; before that the model cannot score the rows
            raise GateHalt(
                Gate.SCORING,
                f"regime ensemble: the regime probability {self.weight} is missing on"
                f" {int(missing.sum())} of {len(p)} rows (it needs a year of market returns"
                " before its first fit): these rows cannot be scored",
            )
        p = np.clip(p, 0.0, 1.0)
        return np.column_stack([1.0 - p, p])

    def _x(self, frame: pd.DataFrame) -> np.ndarray:
        return frame[list(self.features)].to_numpy(dtype=float)

    def predict(self, frame: pd.DataFrame | np.ndarray, num_iteration=None) -> np.ndarray:
        """``sum_s p_s f_s(x)`` per row of a frame (by column name) or of a matrix in
        :attr:`columns` order; each booster at its own early-stopped round, if any
        (``num_iteration`` is accepted for a booster's signature and not used)."""
        frame = self._frame(frame)
        x, w = self._x(frame), self.weights(frame)
        return sum(w[:, s] * b.predict(x) for s, b in enumerate(self.boosters))

    @property
    def best_iteration(self) -> int:
        """The longest of the boosters' early-stopped rounds (0: none stopped early)."""
        return max(int(b.best_iteration or 0) for b in self.boosters)

    def current_iteration(self) -> int:
        """The longest of the boosters' rounds."""
        return max(int(b.current_iteration()) for b in self.boosters)

    def shap_matrix(self, frame: pd.DataFrame | np.ndarray) -> np.ndarray:
        """``(n, len(columns))``: :meth:`shap` in :attr:`columns` order, the probability's
        column zero (the mixture's weight, not an input of the boosters)."""
        phi, _ = self.shap(self._frame(frame))
        return phi.reindex(columns=list(self.columns), fill_value=0.0).to_numpy(dtype=float)

    def feature_importance(self, importance_type: str = "split") -> np.ndarray:
        """``(len(columns),)``: the boosters' importances summed, the probability's zero."""
        total = sum(b.feature_importance(importance_type) for b in self.boosters)
        found = dict(zip(self.features, np.asarray(total, dtype=float), strict=True))
        return np.array([found.get(c, 0.0) for c in self.columns])

    def model_text(self) -> bytes:
        """The ensemble's one model file: each booster's LightGBM text model, in
        :data:`~tasks.model.regimes.HMM_STATES` order, concatenated (its hash is the
        ``model_hash`` training signs; replication rebuilds it the same way)."""
        return b"".join(b.model_to_string().encode("utf-8") for b in self.boosters)

    def save_model(self, path) -> None:
        """Write :meth:`model_text` to ``path`` (a booster's ``save_model``)."""
        Path(path).write_bytes(self.model_text())

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
    def load(
        cls,
        paths: Mapping[str, str],
        features: Sequence[str],
        weight: str = WEIGHT,
        columns: Sequence[str] = (),
    ):
        boosters = tuple(lgb.Booster(model_file=str(paths[s])) for s in HMM_STATES)
        return cls(boosters, tuple(features), weight, tuple(columns))


def from_artifacts(
    artifacts: Mapping[str, str], features: Sequence[str], weight: str, columns: Sequence[str]
) -> RegimeEnsemble:
    """The ensemble from its logged files (``booster-<state>``: :func:`artifacts`)."""
    paths = {s: artifacts[f"booster-{s}"] for s in HMM_STATES}
    return RegimeEnsemble.load(paths, features, weight, columns)


def artifacts(paths: Mapping[str, str]) -> dict[str, str]:
    """The MLflow ``artifacts`` mapping from :meth:`RegimeEnsemble.save`'s paths."""
    return {f"booster-{s}": p for s, p in paths.items()}


def python_model(ensemble: RegimeEnsemble):
    """The MLflow model of ``ensemble``: a :class:`~governance.registry.pyfunc.ArtifactModel`
    that rebuilds it from its booster files (:func:`artifacts`) with :func:`from_artifacts`
    and predicts long rows carrying the features and the probability column."""
    from governance.registry.pyfunc import artifact_model

    kwargs = {"features": list(ensemble.features), "weight": ensemble.weight,
              "columns": list(ensemble.columns)}  # fmt: skip
    return artifact_model(f"{__name__}:from_artifacts", kwargs)
