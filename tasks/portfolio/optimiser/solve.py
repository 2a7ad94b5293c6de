"""Which solver solves the optimiser's problem, with CLARABEL as the fail-safe.

``PortfolioConfig.solver`` (default ``auto``) names a fast solver tried first; whenever it
is not installed, cannot take the problem, raises, or reports anything but optimal, the
same problem is solved by CLARABEL and the reason is kept (``Solution.fallback``, in the
solver statistics of every rebalance artifact). ``auto`` is PIQP for a quadratic program
(no 3/2-power impact, no tracking-error limit) and QOCO for the impact cones; a problem
with a tracking-error limit is always CLARABEL's (:func:`plan`).

Measured (docs/benchmarks.md): PIQP, a proximal interior-point QP solver, re-solves
bench/bench_optimiser.py's problem at 2,000 assets in about half CLARABEL's time, 1e-10
from the optimum; QOCO takes ~40 % less time than CLARABEL per backtest rebalance at 500
assets (the impact cones), 2e-8 from the optimum.

The fast solver solves its own form of the problem (:mod:`tasks.portfolio.optimiser.native`) where
one holds every constraint, else its own ``cp.Problem`` over the same variables,
parameters and constraints: cvxpy caches one compiled chain per problem, so a fallback
(or the many-accounts fast path, which reads CLARABEL's conic form) does not recompile
the other.
"""

from __future__ import annotations

import contextlib
import importlib.util
import warnings
from dataclasses import dataclass

import cvxpy as cp
import numpy as np

from tasks.portfolio.config import Mode, PortfolioConfig, SolverChoice
from tasks.portfolio.optimiser.contract import NumericalError
from tasks.portfolio.optimiser.impact_socp import ImpactSOCP
from tasks.portfolio.optimiser.trade_qp import TradeQP

#: Python module of each fast solver (the package is optional: absent -> CLARABEL).
MODULES = {cp.PIQP: "piqp", cp.QOCO: "qoco"}


@contextlib.contextmanager
def quiet_solver_warnings():
    """cvxpy warns on inaccurate solutions (the status is handled by the caller) and
    evaluates ``u**1.5`` at ``u = -1e-12`` (round-off) when it fills in values."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Solution may be inaccurate", UserWarning)
        warnings.filterwarnings("ignore", "invalid value encountered in power", RuntimeWarning)
        yield


def solver_options(name: str, cfg: PortfolioConfig) -> dict:
    """Tolerances of ``name`` from ``cfg.solver_tolerance`` (objective in basis points).

    CLARABEL: gap and feasibility at the tolerance. PIQP: its defaults scaled to it
    (``eps_abs = tol / 10``, ``eps_rel = tol / 100``: 1e-8 / 1e-9 at the default 1e-7).
    QOCO: absolute and relative gap at the tolerance. The fast solvers stop after
    ``cfg.solver_max_iter`` iterations (then CLARABEL solves).
    """
    tol = cfg.solver_tolerance
    if name == cp.PIQP:
        return {"eps_abs": tol / 10, "eps_rel": tol / 100, "max_iter": cfg.solver_max_iter}
    if name == cp.QOCO:
        return {"abstol": tol, "reltol": tol, "max_iters": cfg.solver_max_iter}
    return {"tol_gap_abs": tol, "tol_gap_rel": tol, "tol_feas": tol}


@dataclass(frozen=True)
class SolverPlan:
    """The fast solver to try (None: CLARABEL only) and why none is tried."""

    fast: str | None
    skipped: str | None = None


def plan(choice: SolverChoice, conic: bool, tracking: bool = False) -> SolverPlan:
    """The solver for a problem that is a QP (``conic`` False) or needs cones (True).

    A problem with a tracking-error limit (``tracking``) is CLARABEL's: on
    tests/test_backtest.py's market QOCO reported "optimal" for portfolios 5 % over the
    limit (ex-ante tracking error 0.02098 against 0.02).
    """
    if choice is SolverChoice.CLARABEL:
        return SolverPlan(None)
    if tracking:
        return SolverPlan(None, "a tracking-error limit is solved by CLARABEL")
    if choice is SolverChoice.AUTO:
        name = cp.QOCO if conic else cp.PIQP
    else:
        name = {SolverChoice.PIQP: cp.PIQP, SolverChoice.QOCO: cp.QOCO}[choice]
    if name == cp.PIQP and conic:
        return SolverPlan(None, "PIQP solves quadratic programs only (the problem has cones)")
    if importlib.util.find_spec(MODULES[name]) is None:
        return SolverPlan(None, f"{name} is not installed")
    return SolverPlan(name)


def native_form(
    fast: str | None,
    n: int,
    k: int,
    cfg: PortfolioConfig,
    sector_matrix: np.ndarray | None,
    *,
    with_impact: bool,
    scale: float,
    options: dict,
):
    """The native form for the fast solver ``fast`` (``SolverPlan.fast``), or None when
    none holds every constraint (``options``: that solver's settings)."""
    if cfg.mode is not Mode.LONG_ONLY or cfg.max_tracking_error is not None:
        return None
    if fast == cp.PIQP and not with_impact:
        return TradeQP(n, k, cfg, sector_matrix, scale, options)
    if fast == cp.QOCO and with_impact:
        return ImpactSOCP(n, k, cfg, sector_matrix, scale, options)
    return None


def try_fast(problem: cp.Problem, name: str, options: dict) -> str | None:
    """Solve ``problem`` with ``name``; None when optimal, else the reason to fall back."""
    try:
        with quiet_solver_warnings():
            problem.solve(solver=name, **options)
    except cp.SolverError as exc:
        return f"{name}: {exc}"
    if problem.status != cp.OPTIMAL:
        return f"{name}: status {problem.status}"
    return None


def solve_clarabel(problem: cp.Problem, options: dict) -> str:
    """Solve ``problem`` with CLARABEL; its status. A solver crash is a
    :class:`NumericalError` (gate ``optimiser``), not a bug."""
    try:
        with quiet_solver_warnings():
            problem.solve(solver=cp.CLARABEL, **options)
            if problem.status == cp.OPTIMAL_INACCURATE:
                # CLARABEL can stall near the 3/2-power cones' boundary (assets not traded);
                # cvxpy's re-solve updates the cached solver in place, which in our tests
                # converges. A second stall is accepted: the status says so and the
                # pre-trade gate re-checks every limit.
                problem.solve(solver=cp.CLARABEL, **options)
    except cp.SolverError as exc:
        raise NumericalError(f"solver error: {exc}") from None
    return problem.status


@dataclass(frozen=True)
class Solved:
    """The last solve of an optimiser: the solver that solved, why CLARABEL solved
    instead of the fast solver (None: it did not), the status, the iterations, and the
    objective in utility units (None: recompute it from the weights)."""

    solver: str
    fallback: str | None
    status: str
    iterations: int
    objective: float | None

    @classmethod
    def of(cls, problem: cp.Problem, solver: str, fallback: str | None, scale: float) -> Solved:
        """The record of a cvxpy solve of ``problem`` (objective divided by ``scale``).

        cvxpy evaluates the objective at the returned point: a trade magnitude the solver
        left at -1e-12 makes its 3/2 power NaN although the status is optimal (found by
        tests/test_native_forms.py). A value that is not finite is then recomputed from
        the weights (``None``)."""
        value = problem.value
        finite = value is not None and np.isfinite(value)
        objective = float(value) / scale if finite else None
        return cls(solver, fallback, problem.status, problem.solver_stats.num_iters or 0, objective)
