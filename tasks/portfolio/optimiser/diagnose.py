"""Infeasibility diagnosis of the optimiser.

:func:`diagnose_infeasibility` names the constraint groups that conflict: a deletion
filter (Chinneck & Dravnieks 1991, at the level of constraint groups) drops one group at a
time from the feasibility problem and keeps it out whenever the rest stays infeasible.
What remains is an irreducible infeasible set: every group in it is needed for the
conflict, and relaxing any one of them restores feasibility. Each group is then explained
with its numbers (e.g. ``sector caps (sum of caps 0.60 < 1.00 fully invested)``).

The feasibility problems reuse the optimiser's parameters (same values), so the diagnosis
is of exactly the problem that failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import cvxpy as cp
import numpy as np

from tasks.portfolio.config import Mode, PortfolioConfig
from tasks.portfolio.optimiser.contract import ConstraintGroup


class ConstraintStructure(Protocol):
    """What the diagnosis reads of ``tasks.portfolio.optimiser.core.PortfolioOptimiser``."""

    cfg: PortfolioConfig
    params: dict[str, cp.Parameter]
    groups: dict[ConstraintGroup, list[cp.Constraint]]
    sector_matrix: np.ndarray
    restricted_mask: np.ndarray

    def constraints(self, without: Sequence[ConstraintGroup] = ()) -> list[cp.Constraint]: ...


#: Deletion order: soft, account-level limits first, so the set that remains names the
#: structural conflict when there is one.
DELETION_ORDER = (
    ConstraintGroup.TURNOVER,
    ConstraintGroup.TRACKING_ERROR,
    ConstraintGroup.LEVERAGE,
    ConstraintGroup.RESTRICTED,
    ConstraintGroup.ASSET_BOUNDS,
    ConstraintGroup.SECTOR_BOUNDS,
    ConstraintGroup.BUDGET,
)
_FEASIBLE = (cp.OPTIMAL, cp.OPTIMAL_INACCURATE)


@dataclass(frozen=True)
class Diagnosis:
    """Result of :func:`diagnose_infeasibility`.

    Attributes
    ----------
    groups : tuple of ConstraintGroup
        The irreducible conflicting set (empty when every group is feasible on its own
        terms, i.e. the solver's infeasibility verdict was numerical).
    explanations : dict
        group -> one-line explanation with the numbers.
    message : str
        ``infeasible: A (...) conflict with B (...)``.
    """

    groups: tuple[ConstraintGroup, ...]
    explanations: dict[ConstraintGroup, str]
    message: str

    def payload(self) -> dict:
        return {
            "groups": [g.value for g in self.groups],
            "explanations": {g.value: e for g, e in self.explanations.items()},
            "message": self.message,
        }


def _feasible(opt: ConstraintStructure, without: set[ConstraintGroup]) -> bool:
    prob = cp.Problem(cp.Minimize(0), opt.constraints(without=tuple(without)))
    try:
        prob.solve(solver=cp.CLARABEL)
    except cp.SolverError:
        return False
    return prob.status in _FEASIBLE


def conflicting_groups(opt: ConstraintStructure) -> tuple[ConstraintGroup, ...]:
    """Irreducible infeasible set of constraint groups (deletion filter)."""
    present = [g for g in DELETION_ORDER if g in opt.groups]
    if _feasible(opt, set()):
        return ()
    dropped: set[ConstraintGroup] = set()
    for group in present:
        if not _feasible(opt, dropped | {group}):
            dropped.add(group)
    return tuple(g for g in present if g not in dropped)


def _explain(opt: ConstraintStructure, group: ConstraintGroup) -> str:
    """One line naming the group with the numbers that make it bind."""
    cfg, par = opt.cfg, opt.params
    budget = cfg.budget
    lower, upper = par["lower"].value, par["upper"].value
    if group is ConstraintGroup.BUDGET:
        if cfg.mode is Mode.LONG_ONLY:
            return "full investment (sum of weights = 1.00)"
        return "dollar neutrality (sum of weights = 0.00)"
    if group is ConstraintGroup.ASSET_BOUNDS:
        if upper.sum() < budget:
            return f"asset bounds (sum of upper bounds {upper.sum():.2f} < {budget:.2f})"
        if lower.sum() > budget:
            return f"asset bounds (sum of lower bounds {lower.sum():.2f} > {budget:.2f})"
        return f"asset bounds ({lower.min():.2f} <= w <= {upper.max():.2f})"
    if group is ConstraintGroup.SECTOR_BOUNDS:
        hi = np.minimum(par["sector_hi"].value, opt.sector_matrix @ upper)
        unsectored = upper[opt.sector_matrix.sum(axis=0) == 0].sum()
        reach = hi.sum() + unsectored
        if cfg.mode is Mode.LONG_ONLY and reach < budget:
            return f"sector caps (sum of caps {reach:.2f} < {budget:.2f} fully invested)"
        floor = np.maximum(par["sector_lo"].value, 0.0).sum()
        if floor > budget:
            return f"sector caps (sum of sector floors {floor:.2f} > {budget:.2f})"
        return f"sector caps (each sector <= {par['sector_hi'].value.max():.2f})"
    if group is ConstraintGroup.TURNOVER:
        return f"turnover cap (sum |w - w_prev| <= {par['turnover'].value:.2f})"
    if group is ConstraintGroup.LEVERAGE:
        return f"gross leverage (sum |w| <= {par['leverage'].value:.2f})"
    if group is ConstraintGroup.TRACKING_ERROR:
        return f"tracking error (<= {cfg.max_tracking_error:.2%} a year)"
    restricted = int(opt.restricted_mask.sum())
    return f"restricted list ({restricted} assets, {cfg.restricted_mode.value})"


def _message(groups: tuple[ConstraintGroup, ...], explanations: dict) -> str:
    parts = [explanations[g] for g in groups]
    if not parts:
        return (
            "infeasible: the solver reported infeasibility but every constraint group is "
            "feasible together (numerical trouble)"
        )
    if len(parts) == 1:
        return f"infeasible: {parts[0]} cannot be met on its own"
    return f"infeasible: {', '.join(parts[:-1])} conflict with {parts[-1]}"


def diagnose_infeasibility(opt: ConstraintStructure) -> Diagnosis:
    """Name the constraint groups of ``opt`` in conflict, with the current parameters.

    Parameters
    ----------
    opt : ConstraintStructure
        A ``PortfolioOptimiser`` whose last solve was infeasible (market and account set).

    Returns
    -------
    Diagnosis
        Its ``message`` reads e.g. ``infeasible: sector caps (sum of caps 0.60 < 1.00
        fully invested) conflict with full investment (sum of weights = 1.00)``.
    """
    groups = conflicting_groups(opt)
    explanations = {g: _explain(opt, g) for g in groups}
    return Diagnosis(groups, explanations, _message(groups, explanations))
