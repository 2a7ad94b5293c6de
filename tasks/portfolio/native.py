"""The optimiser's problem in a solver's own form, without cvxpy, where one applies.

cvxpy states the problem once (:class:`tasks.portfolio.optimiser.PortfolioOptimiser`);
for the common cases the same problem is also written directly in the data of the fast
solver, built once per universe, so that a re-solve only writes new values:

- a long-only quadratic program: PIQP on the trade form (:mod:`tasks.portfolio.trade_qp`);
- a long-only problem with the 3/2-power impact: QOCO on the cvxpy problem's own conic
  form (:mod:`tasks.portfolio.impact_socp`).

A tracking-error limit or gross leverage (long-short) keeps the cvxpy problem. Whatever
the native form reports other than optimal, CLARABEL solves the cvxpy problem (and
diagnoses infeasibility); tests/test_native_forms.py checks that both forms reach the same
optimum.
"""

from __future__ import annotations

from dataclasses import dataclass

import cvxpy as cp
import numpy as np

from tasks.portfolio.config import Mode, PortfolioConfig


@dataclass(frozen=True)
class NativeResult:
    """One native solve: the weights (None unless optimal), the status in cvxpy's words
    (``optimal``, ``infeasible``, ``user_limit``, ...) and the solver's iterations."""

    weights: np.ndarray | None
    status: str
    iterations: int


def weight_box(values: dict) -> tuple[np.ndarray, np.ndarray]:
    """Each weight's bounds: the asset bounds intersected with the restricted list's."""
    lower, upper = np.asarray(values["lower"]), np.asarray(values["upper"])
    if "r_lo" in values:
        lower = np.maximum(lower, values["r_lo"])
        upper = np.minimum(upper, values["r_hi"])
    return lower, upper


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
        from tasks.portfolio.trade_qp import TradeQP

        return TradeQP(n, k, cfg, sector_matrix, scale, options)
    if fast == cp.QOCO and with_impact:
        from tasks.portfolio.impact_socp import ImpactSOCP

        return ImpactSOCP(n, k, cfg, sector_matrix, scale, options)
    return None
