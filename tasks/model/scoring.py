"""Score feature rows with a registered model version (candidate or champion).

The model is always loaded from the MLflow registry by version or alias, never from a
training run's memory, so the portfolio uses exactly what was validated and approved. Its
input contract (feature order, normalisation, horizon) comes from the model's own files,
which the approvals sign (:mod:`governance.registry.contract`), never from MLflow tags.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from governance.ground.errors import Gate, GateHalt
from governance.ground.refs import ModelRef
from governance.ground.workspace import Workspace
from governance.registry.contract import CONTRACT_FILE, ModelContract, read_contract
from governance.registry.recorder import load_model
from tasks.model.config import FeaturesConfig, LabelMode, Normalise


@dataclass(frozen=True)
class ScoringModel:
    """A registered model version ready to predict.

    Attributes
    ----------
    name, version : str, int
    contract : ModelContract
        The signed input contract read from the model's files.
    model : object
        The ``mlflow.pyfunc`` model.
    """

    name: str
    version: int
    contract: ModelContract
    model: object

    @property
    def features(self) -> tuple[str, ...]:
        """Model input order (the contract's)."""
        return self.contract.features

    @property
    def horizon(self) -> int:
        """Label horizon in trading days (the contract's)."""
        return self.contract.horizon

    def features_config(self, cfg: FeaturesConfig | None = None) -> FeaturesConfig:
        """``cfg`` (default the defaults) with the contract's features, normalisation, label
        and horizon: the features this model was trained on, computed the same way."""
        return (cfg or FeaturesConfig()).model_copy(
            update={
                "names": self.contract.features,
                "normalise": Normalise(self.contract.normalise),
                "label": LabelMode(self.contract.label),
                "horizon": self.contract.horizon,
            }
        )

    def predict(self, frame: pd.DataFrame) -> pd.Series:
        """Predictions for the rows of ``frame`` (long: ``date``, ``asset``, feature columns).

        Rows with a missing feature are scored as LightGBM scores missing values (it routes
        them down its learned default branch); the index of the result is ``frame``'s.
        """
        x = frame.loc[:, list(self.features)].astype("float64")
        return pd.Series(self.model.predict(x), index=frame.index, name="score", dtype=float)


def load_scoring_model(
    ws: Workspace, ref: ModelRef, expected_hash: str | None = None
) -> ScoringModel:
    """Load the version ``ref`` from the workspace's registry, with its signed input contract.

    The store is the workspace's (:func:`governance.registry.recorder.load_model`), whatever
    ``MLFLOW_TRACKING_URI`` says at the moment of use. With ``expected_hash`` (the model
    files hash the approvals signed), the files are downloaded once, hashed, and loaded from
    that very download only if the hash matches: a model file altered after approval is
    :class:`~governance.ground.errors.TamperDetected`.

    A model whose files carry no contract (trained before issue 22) is not scored: a
    :class:`~governance.ground.errors.GateHalt` of the scoring gate (exit 3) saying so.
    """
    _, model, extras = load_model(ws, ref, expected_hash=expected_hash)
    where = str(ref)
    contract = read_contract(extras, where)
    if contract is None:
        raise GateHalt(
            Gate.SCORING,
            f"{where} carries no signed input contract ({CONTRACT_FILE} among its model"
            " files; trained before issue 22): retrain, validate and approve a new version",
        )
    return ScoringModel(name=ref.name, version=ref.version, contract=contract, model=model)


def score_wide(model: ScoringModel, frame: pd.DataFrame) -> pd.DataFrame:
    """Scores as a dates × assets frame (NaN where an asset has no row on a date)."""
    scores = model.predict(frame)
    wide = pd.DataFrame({"date": frame["date"], "asset": frame["asset"], "score": scores})
    return wide.pivot(index="date", columns="asset", values="score").sort_index()


def latest_scores(model: ScoringModel, features: pd.DataFrame) -> pd.Series:
    """Scores on the last date of ``features`` (long), indexed by asset."""
    last = features["date"].max()
    rows = features.loc[features["date"] == last]
    return pd.Series(model.predict(rows).to_numpy(), index=rows["asset"].to_numpy(), name=last)
