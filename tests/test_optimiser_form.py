"""The specific risk written as a sum of squares, ``||sqrt(d) o w||^2``, is ``d'w^2``.

tasks/portfolio/optimiser/problem.py states the specific variance as the sum of squares of
a parametrised scaling (it compiles in O(n); ``d'w^2`` with ``d`` a parameter compiled in
~n^2.5, issue 28). Here the previous form is stated again from the optimiser's own terms
and constraints, with ``d`` the same values, and both problems are solved by CLARABEL on
the draws of the optimiser's property tests (long-only and long-short, tracking error,
impact, sector and turnover caps, restricted lists, holdings or cash): same optimum.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks.portfolio.config import PortfolioConfig
from tasks.portfolio.optimiser.core import (
    OBJECTIVE_SCALE,
    Account,
    MarketInputs,
    PortfolioOptimiser,
)
from tasks.portfolio.optimiser.solve import solve_clarabel, solver_options
from tests.helpers_optimiser import ASSETS, SECTORS, K, N, make_alpha, make_risk

#: Both problems are solved by CLARABEL to a duality gap of 1e-9 bp, absolute and relative
#: (``solver_tolerance``; the production 1e-7 lands each within ~2e-7 relative, too loose
#: to tell two forms apart, and 1e-11 stalls CLARABEL at "optimal_inaccurate"). Each then
#: lands within ~1e-9 relative of the optimum, so the two agree to the 1e-8 relative that
#: issue 28 asks (measured: 3.5e-10 on these draws).
TOLERANCE = 1e-9
SAME_OPTIMUM = 1e-8
#: Weights: the utility is strongly convex in w with modulus m >= 2 gamma min(d) = 1e-3
#: (helpers_optimiser: d >= 1e-4, gamma 5), so a solve within g of the optimum's utility
#: is within sqrt(2 g / m) of its weights: g <= 1e-9 bp + 1e-9 x 5 bp = 5e-13 gives 3.2e-5
#: each, 6.4e-5 between the two forms.
SAME_WEIGHTS = 7e-5


@st.composite
def problems(draw):
    seed = draw(st.integers(0, 10_000))
    long_short = draw(st.booleans())
    rng = np.random.default_rng(seed)
    current = None
    if draw(st.booleans()):
        raw = rng.dirichlet(np.full(N, 3.0))
        current = pd.Series(raw - (raw.mean() if long_short else 0.0), index=ASSETS)
    cap = draw(st.sampled_from([0.15, 0.25, 0.5]))
    cfg = PortfolioConfig(
        solver="clarabel",
        solver_tolerance=TOLERANCE,
        mode="long_short" if long_short else "long_only",
        min_weight=-cap if long_short else 0.0,
        max_weight=cap,
        max_sector_weight=draw(st.sampled_from([None, 0.4, 0.6])),
        max_turnover=draw(st.sampled_from([None, 0.3, 1.0])),
        max_tracking_error=None if long_short else draw(st.sampled_from([None, 0.05])),
        half_spread_bps=draw(st.sampled_from([0.0, 5.0])),
        min_trade_weight=0.0,
    )
    restricted = tuple(draw(st.lists(st.sampled_from(list(ASSETS)), max_size=2, unique=True)))
    return cfg, Account(current=current, restricted=restricted), seed, draw(st.booleans())


def previous_form(opt: PortfolioOptimiser) -> cp.Problem:
    """The optimiser's problem with the specific risk written as before, ``d'w^2``."""
    d = np.square(opt.params["sqrt_d"].value)
    t = opt.terms
    risk = t["factor_risk"] + cp.sum(cp.multiply(d, cp.square(opt.w)))
    utility = t["expected"] - opt.cfg.risk_aversion * risk - t["costs"]
    return cp.Problem(cp.Maximize(OBJECTIVE_SCALE * utility), opt.problem.constraints)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_sum_of_squares_form_reaches_the_previous_optimum(problem):
    cfg, account, seed, with_impact = problem
    impact = pd.Series(np.linspace(1e-3, 5e-3, N), index=ASSETS) if with_impact else None
    bench = pd.Series(1.0 / N, index=ASSETS)
    market = MarketInputs(make_alpha(seed), make_risk(seed), impact=impact, benchmark=bench)
    opt = PortfolioOptimiser(ASSETS, K, cfg, SECTORS, with_restricted=True, with_impact=with_impact)
    opt.set_market(market)
    opt.set_account(account)
    options = solver_options(cp.CLARABEL, cfg)
    before = previous_form(opt)
    status = solve_clarabel(before, options)
    w_before, u_before = np.array(opt.w.value), before.value / OBJECTIVE_SCALE
    assert solve_clarabel(opt.problem, options) == status
    if status != cp.OPTIMAL:  # an infeasible draw is infeasible in both forms
        return
    u_after = opt.problem.value / OBJECTIVE_SCALE
    assert abs(u_after - u_before) <= SAME_OPTIMUM * max(abs(u_before), 1e-4)
    np.testing.assert_allclose(opt.w.value, w_before, atol=SAME_WEIGHTS)
