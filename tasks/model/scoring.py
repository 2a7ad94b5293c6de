"""Score feature rows with a registered model version (candidate or champion).

The model is always loaded from the MLflow registry by version or alias, never from a
training run's memory, so the portfolio uses exactly what was validated and approved.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd


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
    name: str,
    version: int | None = None,
    alias: str | None = None,
    expected_hash: str | None = None,
):
    """Load ``models:/name/version`` or ``models:/name@alias`` with its feature order.

    With ``expected_hash`` (the model files hash the approvals signed), the files are
    downloaded once, hashed, and loaded from that very download only if the hash matches:
    a model file altered after approval is :class:`~governance.ground.errors.TamperDetected`.
    """
    import tempfile

    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient()
    mv = (
        client.get_model_version(name, str(version))
        if version is not None
        else client.get_model_version_by_alias(name, alias or "champion")
    )
    if expected_hash is None:
        model = mlflow.pyfunc.load_model(f"models:/{name}/{mv.version}")
    else:
        from governance.ground.errors import TamperDetected
        from governance.registry.versions import hash_model_dir

        uri = client.get_model_version_download_uri(name, str(mv.version))
        with tempfile.TemporaryDirectory() as tmp:
            local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp)
            found = hash_model_dir(Path(local))
            if found != expected_hash:
                raise TamperDetected(
                    f"{name} v{mv.version}: the model files hash {found[:12]} at load, the"
                    f" approvals signed {expected_hash[:12]} (model files altered)"
                )
            model = mlflow.pyfunc.load_model(local)
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
