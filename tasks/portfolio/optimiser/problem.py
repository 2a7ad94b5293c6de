"""The optimiser's problem as cvxpy states it: parameters, constraint groups, objective.

The problem (daily units; ``B = F chol(Omega)`` and ``d`` from
:class:`tasks.portfolio.risk.RiskModel`)

.. math::

    \\max_w \\; \\alpha^\\top w - \\gamma (\\|y\\|^2 + \\|\\sqrt{d} \\circ w\\|^2)
        - (s^\\top u + c^\\top u^{3/2}) / h
    \\quad \\text{s.t.} \\quad y = B^\\top w, \\; u \\ge |w - w_0|,

plus the constraint groups of :class:`ConstraintGroup` (budget, asset bounds, sector
bounds, turnover ``1'u <= tau``, gross leverage, tracking error, restricted list). ``s``
is the half-spread and ``c`` the 3/2-power impact coefficients; both cost terms are
divided by the holding period ``h = rebalance_every``. Every market or account input is a
``cp.Parameter`` (:class:`tasks.portfolio.optimiser.core.PortfolioOptimiser` fills them), so
the problem is DPP and compiles once.
"""

from __future__ import annotations

from dataclasses import dataclass

import cvxpy as cp
import numpy as np
import pandas as pd

from tasks.portfolio.config import Mode, PortfolioConfig
from tasks.portfolio.optimiser.contract import ConstraintGroup
from tasks.portfolio.optimiser.values import IMPACT_UNIT, sector_bounds

#: The objective is solved in basis points of daily return: daily alphas and variances are
#: ~1e-4, so unscaled the solver's absolute gap tolerance would demand far more accuracy
#: than needed (more iterations). Reported objectives are unscaled.
OBJECTIVE_SCALE = 1e4


@dataclass(frozen=True)
class CvxpyForm:
    """The parameters by name, the weights variable, the definitions (factor exposures
    and trade sizes, never relaxed by the diagnosis), the constraint groups, the objective,
    the sector membership matrix (None without a sector group) and the utility's terms
    (``expected``, ``factor_risk``, ``specific_risk``, ``costs``: the objective is
    ``OBJECTIVE_SCALE (expected - gamma (factor_risk + specific_risk) - costs)``)."""

    params: dict[str, cp.Parameter]
    w: cp.Variable
    definitions: list[cp.Constraint]
    groups: dict[ConstraintGroup, list[cp.Constraint]]
    objective: cp.Maximize
    sector_matrix: np.ndarray | None
    terms: dict[str, cp.Expression]


def cvxpy_form(
    n: int,
    k: int,
    cfg: PortfolioConfig,
    sectors: pd.Series | None,
    with_impact: bool,
    with_restricted: bool,
) -> CvxpyForm:
    """The problem of ``n`` assets and ``k`` factor columns under ``cfg`` (see module)."""
    par = {
        "alpha": cp.Parameter(n, name="alpha"),
        "B": cp.Parameter((n, k), name="B"),
        "sqrt_d": cp.Parameter(n, nonneg=True, name="sqrt_d"),
        "w0": cp.Parameter(n, name="w0", value=np.zeros(n)),
        "lower": cp.Parameter(n, name="lower"),
        "upper": cp.Parameter(n, name="upper"),
        "half_spread": cp.Parameter(n, nonneg=True, name="half_spread"),
    }
    w = cp.Variable(n, name="w")
    y = cp.Variable(k, name="y")
    u = cp.Variable(n, name="u")  # u >= |w - w0|: trade sizes
    trade = w - par["w0"]
    specific = cp.multiply(par["sqrt_d"], w)  # specific risk's root, sqrt(d) o w
    definitions = [y == par["B"].T @ w, u >= trade, u >= -trade]
    groups: dict[ConstraintGroup, list[cp.Constraint]] = {
        ConstraintGroup.BUDGET: [cp.sum(w) == cfg.budget],
        ConstraintGroup.ASSET_BOUNDS: [w >= par["lower"], w <= par["upper"]],
    }
    member = None
    bounds = sector_bounds(sectors, cfg)
    if bounds is not None:
        member, lo, hi = bounds
        par["sector_lo"] = cp.Parameter(len(lo), name="sector_lo", value=lo)
        par["sector_hi"] = cp.Parameter(len(hi), name="sector_hi", value=hi)
        sw = member @ w
        groups[ConstraintGroup.SECTOR_BOUNDS] = [sw >= par["sector_lo"], sw <= par["sector_hi"]]
    if cfg.max_turnover is not None:
        par["turnover"] = cp.Parameter(nonneg=True, name="turnover")
        groups[ConstraintGroup.TURNOVER] = [cp.sum(u) <= par["turnover"]]
    if cfg.mode is Mode.LONG_SHORT:
        par["leverage"] = cp.Parameter(nonneg=True, name="leverage")
        groups[ConstraintGroup.LEVERAGE] = [cp.norm1(w) <= par["leverage"]]
    if cfg.max_tracking_error is not None:
        par["B_wb"] = cp.Parameter(k, name="B_wb")  # B' w_b, precomputed: stays DPP
        par["sqrt_d_wb"] = cp.Parameter(n, name="sqrt_d_wb")
        active = cp.sum_squares(y - par["B_wb"]) + cp.sum_squares(specific - par["sqrt_d_wb"])
        # daily active variance over its limit te^2 / annualisation (~1e-6): written as
        # a ratio <= 1, a well-scaled row the solver meets to its relative tolerance
        # (unscaled, measured 1e-4 relative over the limit)
        limit = cfg.max_tracking_error**2 / cfg.annualisation
        groups[ConstraintGroup.TRACKING_ERROR] = [active / limit <= 1.0]
    if with_restricted:
        par["r_lo"] = cp.Parameter(n, name="r_lo")
        par["r_hi"] = cp.Parameter(n, name="r_hi")
        groups[ConstraintGroup.RESTRICTED] = [w >= par["r_lo"], w <= par["r_hi"]]
    costs = par["half_spread"] @ u
    if with_impact:
        par["impact"] = cp.Parameter(n, nonneg=True, name="impact")
        # c |u|^1.5 written as c' |IMPACT_UNIT u|^1.5 (well-scaled cones)
        costs = costs + par["impact"] @ cp.power(IMPACT_UNIT * u, 1.5)
    # Alpha and risk are per day; a trade's cost is paid once per holding period, so it
    # is amortised over ``rebalance_every`` days (cvxportfolio's multi-period view).
    costs = costs / cfg.rebalance_every
    # ||sqrt(d) w||^2, a sum of squares of a parametrised scaling, not d' w^2: the same
    # value, but cvxpy extracts d' w^2's parametrised quadratic form through an n x n x n
    # coefficient tensor (compile time grew as n^2.5: 8.7 s at 2,000 assets, cProfile in
    # issue 28), while this one is an affine map (n coefficients) into a constant P = I.
    terms = {
        "expected": par["alpha"] @ w,
        "factor_risk": cp.sum_squares(y),
        "specific_risk": cp.sum_squares(specific),
        "costs": costs,
    }
    # risk aversion is a constant: a parameter times a parametrised risk is not DPP
    risk = terms["factor_risk"] + terms["specific_risk"]
    utility = terms["expected"] - cfg.risk_aversion * risk - terms["costs"]
    objective = cp.Maximize(OBJECTIVE_SCALE * utility)
    return CvxpyForm(par, w, definitions, groups, objective, member, terms)
