"""The optimiser's problem in a solver's own form, without cvxpy, where one applies.

(The forms: :mod:`tasks.portfolio.optimiser.trade_qp`, :mod:`tasks.portfolio.optimiser.impact_socp`; which
one, if any: :func:`tasks.portfolio.optimiser.solve.native_form`. This module holds what
they share: the result, and the check of a fast solver's answer.)

cvxpy states the problem once (:class:`tasks.portfolio.optimiser.core.PortfolioOptimiser`);
for the common cases the same problem is also written directly in the data of the fast
solver, built once per universe, so that a re-solve only writes new values:

- a long-only quadratic program: PIQP on the trade form (:mod:`tasks.portfolio.optimiser.trade_qp`);
- a long-only problem with the 3/2-power impact: QOCO on the cvxpy problem's own conic
  form (:mod:`tasks.portfolio.optimiser.impact_socp`).

A tracking-error limit or gross leverage (long-short) keeps the cvxpy problem. Whatever
the native form reports other than optimal, or weights that break a constraint
(:func:`violation`), CLARABEL solves the cvxpy problem (and diagnoses infeasibility); tests/test_native_forms.py checks that both forms reach the same
optimum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tasks.portfolio.config import PortfolioConfig
from tasks.portfolio.optimiser.values import weight_box


@dataclass(frozen=True)
class NativeResult:
    """One native solve: the weights (None unless optimal), the status in cvxpy's words
    (``optimal``, ``infeasible``, ``user_limit``, ...) and the solver's iterations."""

    weights: np.ndarray | None
    status: str
    iterations: int


#: A fast solver's weights must meet every row to this (the pre-trade gate's default
#: tolerance, governance/policy/schema.py): QOCO has no infeasibility detection and reports
#: "solved" for an infeasible problem (tests/test_native_forms.py found one: a turnover
#: cap below the sales a restricted list forces), so its answer is checked, not trusted.
FEASIBILITY = 1e-6


class NativeForm:
    """A fast solver's own data for one universe and constraint structure: built once
    (:meth:`_build`, by each form), values change per solve.

    Parameters
    ----------
    n, k : int
        Assets and factor columns (``B`` is n × k).
    cfg : PortfolioConfig
        Risk aversion, budget, turnover cap, holding period, tolerances.
    sector_matrix : ndarray, shape (n_sectors, n), optional
        0/1 membership rows; the sector bounds come with each solve's values.
    scale : float
        The objective's scale (``OBJECTIVE_SCALE``: basis points of daily return).
    options : dict
        The solver's settings (``tasks.portfolio.optimiser.solve.solver_options``).
    """

    def __init__(
        self,
        n: int,
        k: int,
        cfg: PortfolioConfig,
        sector_matrix: np.ndarray | None,
        scale: float,
        options: dict,
    ):
        self.n, self.k, self.cfg = n, k, cfg
        self.sector_matrix = sector_matrix
        self.scale, self.options = scale, options
        self._solver = None
        self._last: dict | None = None  # the data of the last solve
        self._build()

    def _build(self) -> None:
        """The form's fixed structure (sparsity patterns, constant rows)."""

    def reset(self) -> None:
        """Forget the solver (the next solve sets it up again)."""
        self._solver, self._last = None, None


def changed(new: dict, last: dict | None) -> dict:
    """The entries of ``new`` that differ from ``last`` (all when ``last`` is None).

    Arrays are compared by value, sparse matrices by their stored values (each form keeps
    its pattern fixed): a re-solve hands the solver only what changed, as cvxpy's own
    interfaces do (the same risk model's matrices are not re-sent for new alphas).
    """
    if last is None:
        return dict(new)

    def values_of(x):
        return getattr(x, "data", x) if not isinstance(x, np.ndarray) else x

    return {
        key: value
        for key, value in new.items()
        if value is not None
        and value is not last[key]
        and not np.array_equal(values_of(value), values_of(last[key]))
    }


def violation(
    w: np.ndarray, values: dict, cfg: PortfolioConfig, sector_matrix: np.ndarray | None
) -> str | None:
    """The first constraint group ``w`` breaks by more than :data:`FEASIBILITY` (bounds,
    budget, sector bounds, turnover), or None."""
    lower, upper = weight_box(values)
    worst = float(np.max(np.maximum(lower - w, w - upper)))
    if worst > FEASIBILITY:
        return f"a weight {worst:.2g} outside its bounds"
    if abs(w.sum() - cfg.budget) > FEASIBILITY:
        return f"weights sum to {w.sum():.8g}, budget {cfg.budget:g}"
    if sector_matrix is not None:
        held = sector_matrix @ w
        over = np.maximum(values["sector_lo"] - held, held - values["sector_hi"])
        if over.max() > FEASIBILITY:
            return f"a sector {over.max():.2g} outside its bounds"
    if "turnover" in values:
        turnover = float(np.abs(w - values["w0"]).sum())
        if turnover > values["turnover"] + FEASIBILITY:
            return f"turnover {turnover:.6g} over the cap {float(values['turnover']):.6g}"
    return None
