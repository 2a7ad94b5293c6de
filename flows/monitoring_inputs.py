"""What monitoring reads of the champion and the market: its facts from the signed record,
its training reference, the published book and the point-in-time scores
(flows/monitoring.py composes them)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass

import pandas as pd

from governance.decisions.context import RunContext
from governance.ground.refs import ModelRef
from governance.ground.workspace import Workspace
from governance.registry.recorder import download, mlflow_client
from tasks.data.market import MarketPanel
from tasks.model.features import FeaturesConfig
from validation.records import validated_level


@dataclass(frozen=True)
class ChampionFacts:
    """What monitoring needs to know about the champion.

    ``validated_ic`` / ``validated_se``: holdout mean rank IC and its Newey-West standard
    error from the version's latest ``validation.completed`` report (None if absent).
    """

    name: str
    version: int
    run_id: str
    horizon: int
    features: tuple[str, ...]
    validated_ic: float | None
    validated_se: float | None
    validation_seq: int | None
    validated_at: str | None = None

    @property
    def ref(self) -> ModelRef:
        """The champion's version as a :class:`~governance.ground.refs.ModelRef`."""
        return ModelRef(self.name, self.version)


def champion_facts(ctx: RunContext, model) -> ChampionFacts:
    """What monitoring needs about the loaded champion ``model`` (a ``ScoringModel``): its
    horizon and features from its signed input contract, never from the version's tags."""
    ref = ModelRef(model.name, model.version)  # a ScoringModel's version is an int
    mv = mlflow_client(ctx.ws).get_model_version(*ref.mlflow)
    level = validated_level(ctx.ledger, ctx.store, ref)
    return ChampionFacts(
        name=ref.name,
        version=ref.version,
        run_id=mv.run_id,
        horizon=model.horizon,
        features=model.features,
        validated_ic=level.rank_ic if level else None,
        validated_se=level.se if level else None,
        validation_seq=level.seq if level else None,
        validated_at=level.ts if level else None,
    )


def load_reference(ws: Workspace, run_id: str) -> pd.DataFrame:
    """The training reference (``reference.parquet`` in the model's run)."""
    with tempfile.TemporaryDirectory() as tmp:
        return pd.read_parquet(download(ws, run_id, "reference.parquet", tmp))


def published_weights(ctx: RunContext, strategy: str) -> pd.DataFrame:
    """The strategy's published book over time (dates × assets, may be empty).

    Read through ``tasks.portfolio.book.book_history``, the one reader of the rebalance
    artifacts, for one account or many: only this strategy's publications count.
    """
    from tasks.portfolio.book import book_history

    return book_history(ctx.ledger, ctx.store, strategy)


def score_panel(
    model, panel: MarketPanel, features_cfg: FeaturesConfig, extra=None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Point-in-time features of the model's inputs (its contract's names, order and
    normalisation; ``features_cfg`` for the rest) and its predictions.

    Returns ``(features_long, scores)``: long rows with every input present, and the
    predictions as dates × assets (NaN where a feature was missing). ``extra``: a source's
    features joined as of publication (tasks/data/sources/), for a model trained on them.
    """
    from tasks.model.dataset import scoring_rows

    cfg, features = model.features_config(features_cfg), list(model.features)
    long = scoring_rows(panel, cfg, extra)
    missing = sorted(set(features) - set(long.columns))
    if missing:
        from governance.ground.errors import Gate, GateHalt

        raise GateHalt(Gate.SCORING, f"champion needs features not computed: {missing}")
    long = long.dropna(subset=features).reset_index(drop=True)
    scores = pd.DataFrame(
        {"date": long["date"], "asset": long["asset"], "s": model.predict(long).to_numpy()}
    ).pivot(index="date", columns="asset", values="s")
    return long, scores.reindex(index=panel.close.index, columns=panel.close.columns)
