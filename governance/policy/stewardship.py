"""A tier's stewardship sections: the inventory of record, overlays and the minor-change path.

- ``inventory:`` (:class:`InventoryPolicy`): how often the named owner attests a model
  (SS1/23 principle 1: an owner accountable for each model, attested periodically; SR 26-2:
  materiality-based cadence, so per tier). governance/decisions/stewardship.py records the
  acts; governance/registry/stewardship.py reads them.
- ``overlays:`` (:class:`OverlayPolicy`): who signs a post-model adjustment or a restriction
  of use, and for how long at most (SS1/23 principle 5, "post-model adjustments"; an
  adjustment without an expiry becomes a second, unvalidated model).
  governance/decisions/overlays.py.
- ``change:`` (:class:`ChangePathPolicy`): the path of a minor change (new data only,
  governance/registry/change_control.py) — the tier's full four eyes, or one validator's
  signed approval (SS1/23 principle 3: proportional change management) plus the automatic
  comparison with the previous version within ``change.comparison``'s bounds
  (:class:`ComparisonBounds`; validation/comparison.py measures, the champion's derivation
  judges under the adopted policy in force at the approval).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from governance.ground.configio import StrictModel

__all__ = ["ChangePathPolicy", "ComparisonBounds", "InventoryPolicy", "MinorPath", "OverlayPolicy"]


class InventoryPolicy(StrictModel):
    """``attestation_days``: the named owner attests the model at least this often; past it
    the attestation is ``overdue`` in the inventory (at most a year: SR 26-2 annual review)."""

    attestation_days: int = Field(default=365, gt=0, le=366)


class OverlayPolicy(StrictModel):
    """``role`` signs overlays and restrictions (narrowing governance/identity/duties.py
    ``ROLES[Act.OVERLAY]``); ``max_days`` is the longest life of one; ``max_alpha_scale`` the
    largest factor an alpha overlay may scale by (above 1 amplifies the model: bounded)."""

    role: Literal["risk_officer", "validator"] = "risk_officer"
    max_days: int = Field(default=30, gt=0, le=366)
    max_alpha_scale: float = Field(default=1.0, gt=0, le=2.0)


class MinorPath(StrEnum):
    """How a minor change is approved: the tier's ``approvals`` (``full``), or one
    validator's signed approval (``validator``)."""

    FULL = "full"
    VALIDATOR = "validator"


class ComparisonBounds(StrictModel):
    """How far a minor retrain may move from the previous version, both scored on the new
    version's sealed holdout (validation/comparison.py); outside any bound it takes the full
    path.

    ``max_ic_change_tstat``: |Newey-West t| of the per-date rank IC difference (``horizon -
    1`` lags), 2.0 as the tier's ``min_ic_tstat``: a difference the holdout can tell from
    noise. ``max_relative_turnover``: the top-quantile book's change from the previous
    version's, over a random book's distance (``1 - q``): above 0.75 the book is mostly a
    new one (a retrain on new data moves more than a hyperparameter neighbour, whose bound
    is ``validation.max_sensitivity_turnover``). ``min_importance_rank_corr``: Spearman
    correlation of the two versions' LightGBM gain importances (what drives the model kept
    in order; 0.5 is one adjacent swap among three features)."""

    max_ic_change_tstat: float = Field(default=2.0, gt=0)
    max_relative_turnover: float = Field(default=0.75, gt=0, le=1)
    min_importance_rank_corr: float = Field(default=0.5, ge=-1, le=1)


class ChangePathPolicy(StrictModel):
    """``minor``: the approval path of a version whose change class, recomputed from the
    signed training entries, is minor — only while its automatic comparison with the previous
    version (signed in its validation) is within ``comparison``. A material change always
    takes the full path."""

    minor: MinorPath = MinorPath.FULL
    comparison: ComparisonBounds = Field(default_factory=ComparisonBounds)
