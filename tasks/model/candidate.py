"""The registered candidate of a training run, and the one an earlier attempt registered.

A run killed between training and the end of the pipeline is started again with the same
inputs (the same run key, flows/run.py): :func:`registered_earlier` finds the version that
attempt registered, so no second version is trained.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from governance.ground.refs import ModelRef
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
    #: Mean CV rank IC over every trial of the run: the best of ``trials`` is selected, so
    #: ``cv_rank_ic`` is biased upward and this is the unselected level beside it.
    cv_rank_ic_trials_mean: float | None = None
    trials_total: int | None = None

    def cv_headline(self) -> str:
        """``+0.0123 ± 0.0040 (best of 3 trials; mean over trials +0.0061)``."""
        if self.cv_rank_ic is None:
            return "n/a"
        std = "" if self.cv_rank_ic_std is None else f" ± {self.cv_rank_ic_std:.4f}"
        out = f"{self.cv_rank_ic:+.4f}{std}"
        if self.trials:
            mean = self.cv_rank_ic_trials_mean
            out += f" (best of {self.trials} trials" + (
                "" if mean is None else f"; mean over trials {mean:+.4f}"
            )
            if self.trials_total is not None:
                out += f"; {self.trials_total} distinct trials on this data"
            out += ")"
        return out


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
    mv, p = versions[0], trained.payload
    cv = p.get("metrics") or {}
    return Trained(
        name,
        ModelRef.number(mv.version),  # read once: the registry hands back a string
        mv.run_id,
        cv.get("cv_rank_ic_mean"),
        cv.get("cv_rank_ic_std"),
        p.get("trials"),
        resumed=True,
        cv_rank_ic_trials_mean=trials_mean_ic(p.get("trial_summaries") or []),
        trials_total=p.get("trials_total"),
    )


def trials_mean_ic(trials) -> float | None:
    """Mean ``cv_rank_ic_mean`` over trial summaries (finite values; None when none)."""
    vals = [float(t["cv_rank_ic_mean"]) for t in trials if t.get("cv_rank_ic_mean") is not None]
    vals = [v for v in vals if v == v and abs(v) != float("inf")]
    return sum(vals) / len(vals) if vals else None
