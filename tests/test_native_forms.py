"""The native forms (tasks/portfolio/optimiser/native.py) are the cvxpy problem.

For random long-only problems (holdings inside and outside the bounds, all cash, a
restricted list in both modes, per-account bounds, sector caps, turnover caps, spreads,
with and without the 3/2-power impact), PIQP on the trade form (a QP) or QOCO on the conic
form (impact) and CLARABEL on the cvxpy problem reach the same utility, and the native
form's weights satisfy every constraint the cvxpy problem states. When the cvxpy problem
is infeasible the native form does not invent a portfolio: the solve falls back to
CLARABEL, which names the conflicting groups.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks.portfolio.config import PortfolioConfig, SolverChoice
from tasks.portfolio.optimiser.core import (
    Account,
    ConstraintGroup,
    Infeasible,
    MarketInputs,
    PortfolioOptimiser,
)
from tasks.portfolio.optimiser.native import violation
from tests.helpers_optimiser import ASSETS, SECTORS, K, N, make_alpha, make_risk

pytest.importorskip("piqp")
pytest.importorskip("qoco")

#: Every solver stops at a duality gap of 1e-7 basis points (absolute and relative): each
#: lands <= 2e-7 relative from the optimum on utilities of ~1 bp (test_optimiser_solvers),
#: so two agree to 5e-7 relative; 1e-11 absolute is that gap in utility units (1e-7 bp).
UTILITY_RTOL, UTILITY_ATOL = 5e-7, 1e-11
#: Constraint rows hold to the solvers' feasibility tolerance (1e-8 in weight units here).
FEAS = 1e-7


@st.composite
def problems(draw):
    seed = draw(st.integers(0, 10_000))
    with_impact = draw(st.booleans())
    rng = np.random.default_rng(seed)
    holdings = draw(st.sampled_from(["inside", "concentrated", "cash"]))
    if holdings == "cash":
        current = None
    else:
        raw = rng.dirichlet(np.full(N, 0.3 if holdings == "concentrated" else 3.0))
        current = pd.Series(raw, index=ASSETS)
    restricted = tuple(draw(st.lists(st.sampled_from(list(ASSETS)), max_size=3, unique=True)))
    cfg = PortfolioConfig(
        solver="qoco" if with_impact else "piqp",
        max_weight=draw(st.sampled_from([0.15, 0.25, 0.5])),
        max_sector_weight=draw(st.sampled_from([None, 0.4, 0.6])),
        max_turnover=draw(st.sampled_from([None, 0.1, 0.3, 1.0])),
        half_spread_bps=draw(st.sampled_from([0.0, 5.0, 20.0])),
        restricted_mode=draw(st.sampled_from(["zero", "no_increase"])),
        min_trade_weight=0.0,
    )
    upper = None
    if draw(st.booleans()):
        upper = pd.Series({ASSETS[0]: 0.05, ASSETS[5]: 0.3})
    account = Account(current=current, restricted=restricted, upper=upper)
    return cfg, account, seed, with_impact


def solve(cfg: PortfolioConfig, account: Account, seed: int, with_impact: bool = False):
    impact = pd.Series(np.linspace(1e-3, 5e-3, N), index=ASSETS) if with_impact else None
    market = MarketInputs(make_alpha(seed), make_risk(seed), impact=impact)
    opt = PortfolioOptimiser(ASSETS, K, cfg, SECTORS, with_restricted=True, with_impact=with_impact)
    return opt, opt.solve(account, market)


def assert_feasible(opt: PortfolioOptimiser, w: np.ndarray) -> None:
    values = opt._values(None)
    lower = np.maximum(values["lower"], values["r_lo"])
    upper = np.minimum(values["upper"], values["r_hi"])
    assert np.all(w >= lower - FEAS) and np.all(w <= upper + FEAS)
    assert w.sum() == pytest.approx(opt.cfg.budget, abs=FEAS)
    if "sector_lo" in values:
        held = opt.sector_matrix @ w
        assert np.all(held >= values["sector_lo"] - FEAS)
        assert np.all(held <= values["sector_hi"] + FEAS)
    if "turnover" in values:
        assert np.abs(w - values["w0"]).sum() <= values["turnover"] + FEAS


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_native_form_reaches_the_cvxpy_optimum(problem):
    cfg, account, seed, impact = problem
    reference = cfg.model_copy(update={"solver": SolverChoice.CLARABEL})
    try:
        _, ref = solve(reference, account, seed, impact)
    except Infeasible as exc:
        with pytest.raises(Infeasible) as err:
            solve(cfg, account, seed, impact)
        assert err.value.groups == exc.groups
        return
    opt, fast = solve(cfg, account, seed, impact)
    assert fast.status == "optimal"
    if fast.solver != "CLARABEL":
        assert opt.native is not None and fast.fallback is None
    assert fast.objective == pytest.approx(ref.objective, rel=UTILITY_RTOL, abs=UTILITY_ATOL)
    assert_feasible(opt, fast.weights.to_numpy())


@pytest.mark.parametrize("impact", [False, True])
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("current", ["equal", "over the cap", "cash"])
def test_native_form_solves_ordinary_problems_itself(seed, current, impact):
    """The native form is what solves (no fallback), also from holdings over the cap."""
    start = {
        "equal": pd.Series(1.0 / N, index=ASSETS),
        "over the cap": pd.Series(np.r_[0.45, np.full(N - 1, 0.05)], index=ASSETS),
        "cash": None,
    }[current]
    cfg = PortfolioConfig(
        solver="piqp", max_weight=0.2, max_turnover=0.5, max_sector_weight=0.5,
        min_trade_weight=0.0,
    )  # fmt: skip
    opt, fast = solve(cfg, Account(current=start), seed)
    _, ref = solve(
        cfg.model_copy(update={"solver": SolverChoice.CLARABEL}), Account(current=start), seed
    )
    assert (fast.solver, fast.fallback) == ("PIQP", None)
    assert fast.objective == pytest.approx(ref.objective, rel=UTILITY_RTOL, abs=UTILITY_ATOL)
    assert_feasible(opt, fast.weights.to_numpy())


@pytest.mark.parametrize("impact", [False, True])
def test_long_short_stays_on_the_cvxpy_problem(impact):
    """Gross leverage needs |w|: no native form holds it; the fast solver solves cvxpy's."""
    solver = "qoco" if impact else "piqp"
    cfg = PortfolioConfig(solver=solver, mode="long_short", max_weight=0.2, min_weight=-0.2)
    opt, sol = solve(cfg, Account(), 1, impact)  # from cash (dollar neutral: budget 0)
    assert opt.native is None and opt.fast_problem is not None
    assert sol.solver == solver.upper() and sol.fallback is None


def test_qoco_solved_on_an_infeasible_problem_is_not_believed():
    """QOCO has no infeasibility detection: on this problem (found by the property test
    above: a 0.1 turnover cap, while selling the restricted names' 0.18 is forced) it
    reports solved after 86 iterations, still holding 0.022 of a restricted name. The answer is checked
    (``native.violation``); CLARABEL solves the cvxpy problem and the diagnosis names the
    two groups."""
    held = pd.Series(np.random.default_rng(0).dirichlet(np.full(N, 3.0)), index=ASSETS)
    cfg = PortfolioConfig(
        solver="qoco", max_weight=0.15, max_sector_weight=0.6, max_turnover=0.1,
        half_spread_bps=0.0, min_trade_weight=0.0,
    )  # fmt: skip
    account = Account(current=held, restricted=("A00", "A05", "A06"))
    opt = PortfolioOptimiser(ASSETS, K, cfg, SECTORS, with_restricted=True, with_impact=True)
    impact = pd.Series(np.linspace(1e-3, 5e-3, N), index=ASSETS)
    opt.set_market(MarketInputs(make_alpha(0), make_risk(0), impact=impact))
    opt.set_account(account)
    values = opt._values(None)
    raw = opt.native.solve(values)
    assert raw.status == "optimal"  # what QOCO says
    assert violation(raw.weights, values, cfg, opt.sector_matrix) == (
        "a weight 0.022 outside its bounds"
    )
    with pytest.raises(Infeasible) as err:
        opt.solve()
    assert set(err.value.groups) == {ConstraintGroup.TURNOVER, ConstraintGroup.RESTRICTED}


def test_a_native_solver_that_raises_hands_the_problem_to_clarabel(monkeypatch):
    """A solver error (here PIQP refusing its data) is a fallback, not a crash: CLARABEL
    solves, the reason is recorded, and the next solve sets the native form up again."""
    cfg = PortfolioConfig(solver="piqp", max_weight=0.2, max_turnover=0.5, min_trade_weight=0.0)
    opt = PortfolioOptimiser(ASSETS, K, cfg, SECTORS)
    market = MarketInputs(make_alpha(1), make_risk(1))
    account = Account(current=pd.Series(1.0 / N, index=ASSETS))
    first = opt.solve(account, market)
    assert first.solver == "PIQP"

    def refuse(values):
        raise ValueError("c contains NaN")

    monkeypatch.setattr(opt.native, "solve", refuse)
    sol = opt.solve(account, market)
    assert (sol.solver, sol.fallback) == ("CLARABEL", "PIQP: status error: c contains NaN")
    assert sol.objective == pytest.approx(first.objective, rel=UTILITY_RTOL)
    assert opt.native._solver is None


def test_an_optimal_cvxpy_solve_never_reports_a_nan_objective():
    """Found by the property above (seed 468): CLARABEL solves the impact problem, but a
    trade magnitude left at about -1e-12 makes cvxpy's value of ``|u|^1.5`` NaN. The
    objective is then the utility recomputed from the weights, which must equal the
    native solver's to the solvers' tolerance."""
    current = pd.Series(np.random.default_rng(468).dirichlet(np.full(N, 0.3)), index=ASSETS)
    account = Account(
        current=current, restricted=("A05",), upper=pd.Series({"A00": 0.05, "A05": 0.3})
    )
    cfg = PortfolioConfig(
        solver="clarabel", max_weight=0.25, max_sector_weight=0.6, max_turnover=1.0,
        half_spread_bps=5.0, restricted_mode="no_increase", min_trade_weight=0.0,
    )  # fmt: skip
    _, ref = solve(cfg, account, 468, with_impact=True)
    _, fast = solve(cfg.model_copy(update={"solver": SolverChoice.QOCO}), account, 468, True)
    assert ref.status == "optimal" and np.isfinite(ref.objective)
    assert ref.objective == pytest.approx(fast.objective, rel=UTILITY_RTOL, abs=UTILITY_ATOL)
