"""Readers of recorded validation results: what later stages take from a validation.

The writer is :func:`validation.run.validate_model_version` (``validation.completed``
with its ``report.json`` artifact); this module reads what it wrote, in that shape only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from governance.ground.artifacts import ArtifactStore
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from governance.log.ledger import Ledger

REPORT = "report.json"


@dataclass(frozen=True)
class ValidatedLevel:
    """The holdout signal level a version was validated at.

    ``rank_ic`` is the holdout mean rank IC and ``se`` its Newey-West standard error (the
    report's ``metrics.rank_ic_mean`` / ``metrics.rank_ic_se``); ``seq`` and ``ts`` date the
    ``validation.completed`` entry. NaN where the holdout gave no statistic.
    """

    rank_ic: float
    se: float
    seq: int
    ts: str


def validated_level(ledger: Ledger, store: ArtifactStore, ref: ModelRef) -> ValidatedLevel | None:
    """The level of the version ``ref``'s latest ``validation.completed``; None if never
    validated."""
    entry = ledger.last(action=Action.VALIDATION_COMPLETED, subject=ref.subject)
    if entry is None:
        return None
    metrics = store.read_json(entry.artifacts[REPORT])["metrics"]
    return ValidatedLevel(
        rank_ic=_number(metrics["rank_ic_mean"]),
        se=_number(metrics["rank_ic_se"]),
        seq=entry.seq,
        ts=entry.ts,
    )


def _number(v: float | None) -> float:
    # Canonical JSON writes a NaN statistic (too few holdout dates) as null.
    return math.nan if v is None else float(v)


def validated_domain(store: ArtifactStore, report_sha256: str) -> dict | None:
    """The operating domain (validation/boundaries.py) in a validation report, by its hash
    (re-checked as it is read); None for a report made before domains were recorded."""
    return store.read_json(report_sha256).get("domain")
