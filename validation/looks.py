"""Looks at a sealed holdout: how many distinct models were validated on it.

A holdout is out of sample for the first model judged on it. Every further model whose
developer saw the earlier verdicts is chosen, in part, on the holdout: three versions
validated on one holdout are three looks, and the best of them is selected on it. The looks
are counted from the signed ``validation.completed`` entries that name the holdout's
fingerprint; a model is its training run (``model_run_id``), so validating one version
again, or a renamed copy of the same run, is not another look.
"""

from __future__ import annotations

from dataclasses import dataclass

from governance.ground.vocabulary import Action
from governance.log.ledger import Ledger

__all__ = ["HoldoutLooks", "holdout_looks"]


@dataclass(frozen=True)
class HoldoutLooks:
    """Distinct models validated on one holdout.

    Attributes
    ----------
    fingerprint : str
        The holdout's fingerprint.
    models : tuple of str
        Training runs validated on it, oldest first, the one being validated last.
    """

    fingerprint: str
    models: tuple[str, ...]

    @property
    def count(self) -> int:
        """The number of looks, this validation's included."""
        return len(self.models)


def holdout_looks(ledger: Ledger, fingerprint: str, model_run_id: str) -> HoldoutLooks:
    """The looks at ``fingerprint`` so far, with ``model_run_id`` counted once at the end."""
    seen: list[str] = []
    for e in ledger.entries(action=Action.VALIDATION_COMPLETED):
        run = e.payload.get("model_run_id")
        if e.payload.get("holdout_fingerprint") == fingerprint and run and run not in seen:
            seen.append(str(run))
    if model_run_id in seen:
        seen.remove(model_run_id)
    return HoldoutLooks(fingerprint, (*seen, model_run_id))
