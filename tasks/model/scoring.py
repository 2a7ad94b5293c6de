"""Score feature rows with a registered model version (candidate or champion).

The model is always loaded from the MLflow registry by version or alias, never from a
training run's memory, so the portfolio uses exactly what was validated and approved.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from governance.ground.workspace import Workspace
from governance.registry.recorder import load_model


@dataclass(frozen=True)
class ScoringModel:
    """A registered model version ready to predict.

    Attributes
    ----------
    name, version : str, int
    features : tuple of str
        Model input order (the version's ``features`` tag).
    horizon : int
        Label horizon in trading days (the version's ``horizon`` tag).
    model : object
        The ``mlflow.pyfunc`` model.
    """

    name: str
    version: int
    features: tuple[str, ...]
    horizon: int
    model: object

    def predict(self, frame: pd.DataFrame) -> pd.Series:
        """Predictions for the rows of ``frame`` (long: ``date``, ``asset``, feature columns).

        Rows with a missing feature are scored as LightGBM scores missing values (it routes
        them down its learned default branch); the index of the result is ``frame``'s.
        """
        x = frame.loc[:, list(self.features)].astype("float64")
        return pd.Series(self.model.predict(x), index=frame.index, name="score", dtype=float)


def load_scoring_model(
    ws: Workspace,
    name: str,
    version: int | None = None,
    alias: str | None = None,
    expected_hash: str | None = None,
) -> ScoringModel:
    """Load version ``version`` (else ``alias``, default ``champion``) of ``name`` from the
    workspace's registry, with its feature order.

    The store is the workspace's (:func:`governance.registry.recorder.load_model`), whatever
    ``MLFLOW_TRACKING_URI`` says at the moment of use. With ``expected_hash`` (the model
    files hash the approvals signed), the files are downloaded once, hashed, and loaded from
    that very download only if the hash matches: a model file altered after approval is
    :class:`~governance.ground.errors.TamperDetected`.
    """
    mv, model = load_model(ws, name, version, alias=alias, expected_hash=expected_hash)
    return ScoringModel(
        name=name,
        version=int(mv.version),
        features=tuple(mv.tags["features"].split(",")),
        horizon=int(mv.tags.get("horizon", 21)),
        model=model,
    )


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
