"""The registered candidate of a training run, and the one an earlier attempt registered.

A run killed between training and the end of the pipeline is started again with the same
inputs (the same run key, flows/run.py): :func:`registered_earlier` finds the version that
attempt registered, so no second version is trained.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from governance.ground.vocabulary import Action, Subject
from governance.registry.recorder import mlflow_client

if TYPE_CHECKING:
    from governance.decisions.context import RunContext


@dataclass(frozen=True)
class Trained:
    """The registered candidate, whether trained now or found from an earlier attempt."""

    name: str
    version: int
    mlflow_run_id: str
    cv_rank_ic: float | None
    cv_rank_ic_std: float | None
    trials: int | None
    resumed: bool


def registered_earlier(ctx: RunContext, name: str) -> Trained | None:
    """The version an earlier attempt with the same run key registered, if any.

    Training records ``model.trained`` before registering and tags the version with that
    entry's sequence number (``ledger_seq``), so a crash between the two is recoverable too:
    an entry without a version means train again (the entry is reused).
    """
    trained = ctx.ledger.by_key(ctx.idempotency_key(Action.MODEL_TRAINED, Subject.strategy(name)))
    if trained is None:
        return None
    versions = mlflow_client(ctx.ws).search_model_versions(
        f"name='{name}' and tags.ledger_seq='{trained.seq}'"
    )
    if not versions:
        return None
    mv, cv = versions[0], trained.payload.get("cv", {})
    return Trained(
        name,
        int(mv.version),
        mv.run_id,
        cv.get("rank_ic_mean"),
        cv.get("rank_ic_std"),
        trained.payload.get("trials"),
        resumed=True,
    )
