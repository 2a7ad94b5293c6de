"""Types the optimiser hands out: constraint groups, errors, market/account inputs, solutions.

Re-exported by :mod:`tasks.portfolio.optimiser.core`. The error hierarchy follows cvxportfolio's
(``cvxportfolio/errors.py``): bad data is an ``InputError``; a bad constraint set or a
solver failure is an :class:`OptimisationError`, a ``GateHalt`` of gate ``optimiser``
(exit 3), so an uncaught one halts the run instead of crashing it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import cvxpy as cp
import numpy as np
import pandas as pd

from governance.ground.errors import GateHalt
from tasks.portfolio.risk import RiskModel

GATE = "optimiser"


class ConstraintGroup(StrEnum):
    """Constraint groups, the unit of infeasibility diagnosis (``tasks.portfolio.optimiser.diagnose``)."""

    BUDGET = "budget"
    ASSET_BOUNDS = "asset bounds"
    SECTOR_BOUNDS = "sector caps"
    TURNOVER = "turnover cap"
    LEVERAGE = "gross leverage"
    TRACKING_ERROR = "tracking error"
    RESTRICTED = "restricted list"


class OptimisationError(GateHalt):
    """The optimiser could not produce a portfolio (gate ``optimiser``, exit 3)."""

    def __init__(self, reasons: list[str] | str, status: str = "error"):
        self.status = status
        super().__init__(GATE, reasons)

    def diagnosis(self) -> dict:
        """What the ledger records of the failure (``portfolio.optimised``): ``status``,
        ``reasons`` and, when infeasible, ``conflicting_groups``; :func:`from_diagnosis`
        raises it again."""
        groups = [g.value for g in getattr(self, "groups", ())]
        return {"status": self.status, "reasons": list(self.reasons)} | (
            {"conflicting_groups": groups} if isinstance(self, Infeasible) else {}
        )


class Infeasible(OptimisationError):
    """No portfolio meets every constraint; ``groups`` names the conflicting groups."""

    def __init__(self, reasons: list[str] | str, groups: Sequence[ConstraintGroup] = ()):
        self.groups = tuple(groups)
        super().__init__(reasons, status="infeasible")


class Unbounded(OptimisationError):
    """The objective is unbounded (no risk aversion and no binding constraint)."""

    def __init__(self, reasons: list[str] | str):
        super().__init__(reasons, status="unbounded")


class NumericalError(OptimisationError):
    """The solver failed or returned no usable solution."""

    def __init__(self, reasons: list[str] | str):
        super().__init__(reasons, status="numerical")


def from_diagnosis(diagnosis: dict) -> OptimisationError:
    """The :class:`OptimisationError` whose :meth:`~OptimisationError.diagnosis` this is."""
    status, reasons = diagnosis.get("status", "error"), list(diagnosis.get("reasons") or [])
    if status == "infeasible":
        groups = [ConstraintGroup(g) for g in diagnosis.get("conflicting_groups", ())]
        return Infeasible(reasons, groups)
    kinds = {"unbounded": Unbounded, "numerical": NumericalError}
    return kinds[status](reasons) if status in kinds else OptimisationError(reasons, status)


@dataclass(frozen=True)
class MarketInputs:
    """What every account shares on one date.

    Attributes
    ----------
    alpha : Series, shape (n,)
        Expected daily returns (``tasks.portfolio.alphas``); reindexed to the universe, NaN -> 0.
    risk : RiskModel
        Point-in-time risk model on the universe (any asset order; aligned by name).
    benchmark : Series or None
        Benchmark weights for the tracking-error limit (NaN -> 0).
    half_spread : Series or None
        Per-asset half-spread (fraction of traded value); default from config.
    impact : Series or None
        Per-asset 3/2-power impact coefficients (``tasks.portfolio.costs.impact_from_adv``); None when
        no volume is known.
    tradable : Series of bool or None
        False where an asset has no price on the date: its weight is held at zero.
    """

    alpha: pd.Series
    risk: RiskModel
    benchmark: pd.Series | None = None
    half_spread: pd.Series | None = None
    impact: pd.Series | None = None
    tradable: pd.Series | None = None


@dataclass(frozen=True)
class Account:
    """One account's own state: holdings, restricted list, per-asset bound overrides.

    ``current`` is the weight vector held now (None: all cash); ``lower``/``upper``
    replace the config bounds for the assets they name.
    """

    name: str = "main"
    current: pd.Series | None = None
    restricted: tuple[str, ...] = ()
    lower: pd.Series | None = None
    upper: pd.Series | None = None


@dataclass(frozen=True)
class Solution:
    """An optimal portfolio and the solver's statistics.

    ``weights`` is None and ``error`` set when the account failed in
    :meth:`PortfolioOptimiser.solve_many` (``solve`` raises instead). ``variance`` is
    recomputed from the returned weights (``||B'w||^2 + ||sqrt(d) w||^2``), not read from
    the solver; ``costs`` are the un-amortised cost of the trades (fraction of value).
    """

    account: str
    weights: pd.Series | None
    status: str
    objective: float
    expected_return: float
    variance: float
    costs: float
    turnover: float
    solve_time: float
    iterations: int
    solver: str = cp.CLARABEL
    fallback: str | None = None  # why CLARABEL solved instead of the configured solver
    error: str | None = None
    diagnosis: dict | None = None  # OptimisationError.diagnosis() of a failed account

    @classmethod
    def failed(cls, account: str, exc: OptimisationError) -> Solution:
        """The Solution of an account the optimiser could not solve (no weights)."""
        nan = float("nan")
        return cls(
            account, None, exc.status, nan, nan, nan, nan, nan, nan, 0,
            error=str(exc), diagnosis=exc.diagnosis(),
        )  # fmt: skip

    @property
    def volatility(self) -> float:
        return float(np.sqrt(max(self.variance, 0.0)))

    def stats(self) -> dict:
        """Solver statistics for the ``portfolio.optimised`` ledger entry and artifacts."""
        keys = ("status", "objective", "expected_return", "variance", "costs", "turnover")
        out = {k: getattr(self, k) for k in keys}
        out.update(
            account=self.account,
            volatility=self.volatility,
            solve_time=self.solve_time,
            iterations=self.iterations,
            solver=self.solver,
            fallback=self.fallback,
        )
        return out
