"""The cvxpy optimiser: closed forms, self-consistency, constraints, DPP re-solves, failures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.decisions.pretrade import check_pretrade
from governance.ground.errors import GateHalt
from governance.policy.schema import Fallback, PretradeLimits
from tasks.portfolio.accounts import solve_many
from tasks.portfolio.config import Mode, PortfolioConfig, RiskModelKind
from tasks.portfolio.fallback import fallback_weights
from tasks.portfolio.optimiser.core import (
    Account,
    ConstraintGroup,
    Infeasible,
    MarketInputs,
    PortfolioOptimiser,
)
from tasks.portfolio.risk import RiskModel
from tests.helpers_optimiser import ASSETS, SECTORS, TOL, K, N, make_alpha, make_risk


def free(**kw) -> PortfolioConfig:
    """A config whose only constraint is the budget (bounds loose, no caps, no costs, no
    dust rule: closed forms are compared to the solver's weights)."""
    base = dict(
        max_weight=1.0,
        min_trade_weight=0.0,
        max_sector_weight=None,
        max_turnover=None,
        half_spread_bps=0.0,
        max_gross_leverage=100.0,
    )
    return PortfolioConfig(**{**base, **kw})


EQUAL = pd.Series(1.0 / N, index=ASSETS)


@pytest.fixture(scope="module")
def constrained() -> PortfolioOptimiser:
    cfg = PortfolioConfig(max_weight=0.15, max_sector_weight=0.4, max_turnover=0.3)
    return PortfolioOptimiser(ASSETS, K, cfg, SECTORS)


def test_unconstrained_minimum_variance_matches_closed_form():
    # small factor loadings: Sigma^-1 1 is positive, so long-only bounds do not bind
    risk = RiskModel(
        ASSETS,
        np.full((N, 1), 0.01),
        np.eye(1) * 1e-4,
        np.linspace(1, 3, N) * 1e-4,
        RiskModelKind.FACTOR,
    )
    opt = PortfolioOptimiser(ASSETS, 1, free(risk_aversion=1.0))
    sol = opt.solve(Account(), MarketInputs(pd.Series(0.0, index=ASSETS), risk))
    inv = np.linalg.solve(risk.covariance(), np.ones(N))
    np.testing.assert_allclose(sol.weights.to_numpy(), inv / inv.sum(), atol=1e-7)


def test_dollar_neutral_mean_variance_matches_closed_form():
    risk, alpha, gamma = make_risk(1), make_alpha(1), 4.0  # |w| < 1: bounds do not bind
    opt = PortfolioOptimiser(
        ASSETS, K, free(mode=Mode.LONG_SHORT, min_weight=-1.0, risk_aversion=gamma)
    )
    sol = opt.solve(Account(), MarketInputs(alpha, risk))
    # max a'w - g w'Sw s.t. 1'w = 0  =>  w = S^-1 (a - l 1) / 2g with l fixing the budget
    cov, a, one = risk.covariance(), alpha.to_numpy(), np.ones(N)
    sa, s1 = np.linalg.solve(cov, a), np.linalg.solve(cov, one)
    w = (sa - (one @ sa) / (one @ s1) * s1) / (2 * gamma)
    np.testing.assert_allclose(sol.weights.to_numpy(), w, atol=1e-6)


def test_reported_figures_equal_recomputed_ones(constrained):
    risk, alpha = make_risk(2), make_alpha(2)
    current = EQUAL
    sol = constrained.solve(Account(current=current), MarketInputs(alpha, risk))
    w = sol.weights.to_numpy()
    cov = risk.covariance()
    assert sol.variance == pytest.approx(w @ cov @ w, rel=1e-9)
    assert sol.expected_return == pytest.approx(alpha.to_numpy() @ w, rel=1e-9)
    trades = np.abs(w - current.to_numpy())
    assert sol.turnover == pytest.approx(trades.sum(), rel=1e-9)
    assert sol.costs == pytest.approx(5e-4 * trades.sum(), rel=1e-9)
    cfg = constrained.cfg
    utility = alpha @ w - cfg.risk_aversion * (w @ cov @ w) - sol.costs / cfg.rebalance_every
    assert sol.objective == pytest.approx(utility, rel=1e-6, abs=1e-10)
    assert sol.status == "optimal" and sol.iterations > 0 and sol.solve_time > 0


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 10_000), held=st.booleans())
def test_every_constraint_holds(constrained, seed, held):
    rng = np.random.default_rng(seed)
    # near-equal holdings (within the caps), so a 0.3 turnover can always reach the caps
    current = pd.Series(rng.dirichlet(np.full(N, 50.0)), index=ASSETS) if held else None
    sol = constrained.solve(
        Account(current=current), MarketInputs(make_alpha(seed), make_risk(seed))
    )
    w = sol.weights
    assert abs(w.sum() - 1.0) <= TOL
    assert (w >= -TOL).all() and (w <= 0.15 + TOL).all()
    assert (w.groupby(SECTORS).sum() <= 0.4 + TOL).all()
    if held:  # funding from cash is not turnover-capped
        assert (w - current).abs().sum() <= 0.3 + TOL
    limits = PretradeLimits(max_weight=0.15, max_sector_weight=0.4, max_turnover=0.3)
    assert check_pretrade(w, current, SECTORS, limits) == []


def test_dpp_resolve_matches_a_fresh_solve(constrained):
    assert constrained.problem.is_dpp()
    acct = Account(current=EQUAL)
    constrained.solve(acct, MarketInputs(make_alpha(3), make_risk(3)))
    resolved = constrained.solve(acct, MarketInputs(make_alpha(4), make_risk(4)))
    fresh = PortfolioOptimiser(ASSETS, K, constrained.cfg, SECTORS).solve(
        acct, MarketInputs(make_alpha(4), make_risk(4))
    )
    np.testing.assert_allclose(resolved.weights, fresh.weights, atol=1e-7)
    assert resolved.objective == pytest.approx(fresh.objective, rel=1e-7)


def test_tracking_error_and_leverage_limits_hold():
    cfg = PortfolioConfig(
        max_weight=0.3, max_sector_weight=None, max_tracking_error=0.02, max_turnover=None
    )
    risk = make_risk(5)
    opt = PortfolioOptimiser(ASSETS, K, cfg)
    sol = opt.solve(Account(), MarketInputs(make_alpha(5) * 20, risk, benchmark=EQUAL))
    active = sol.weights.to_numpy() - EQUAL.to_numpy()
    te = np.sqrt(active @ risk.covariance() @ active * 252)
    assert te <= 0.02 + 1e-6
    ls = PortfolioConfig(
        mode=Mode.LONG_SHORT,
        min_weight=-0.2,
        max_weight=0.2,
        max_gross_leverage=1.0,
        max_sector_weight=None,
        risk_aversion=0.1,
    )
    w = (
        PortfolioOptimiser(ASSETS, K, ls)
        .solve(Account(), MarketInputs(make_alpha(6), risk))
        .weights
    )
    assert abs(w.sum()) <= TOL and w.abs().sum() <= 1.0 + TOL


def test_impossible_sector_caps_name_the_conflict():
    cfg = PortfolioConfig(max_weight=0.5, max_sector_weight=0.2)
    opt = PortfolioOptimiser(ASSETS, K, cfg, SECTORS)
    with pytest.raises(Infeasible) as info:
        opt.solve(Account(current=EQUAL), MarketInputs(make_alpha(), make_risk()))
    err = info.value
    assert isinstance(err, GateHalt) and err.exit_code == 3 and err.gate == "optimiser"
    assert set(err.groups) == {ConstraintGroup.SECTOR_BOUNDS, ConstraintGroup.BUDGET}
    assert "sector caps (sum of caps 0.60 < 1.00 fully invested)" in str(err)
    assert "conflict with full investment" in str(err)


def test_restricted_holding_and_turnover_cap_conflict():
    cfg = PortfolioConfig(
        max_weight=0.6, max_turnover=0.2, max_sector_weight=None, restricted=["A00"]
    )
    opt = PortfolioOptimiser(ASSETS, K, cfg)
    current = pd.Series(0.0, index=ASSETS)
    current[["A00", "A01"]] = 0.5  # must sell all of A00 (turnover >= 1.0 > 0.2)
    with pytest.raises(Infeasible) as info:
        opt.solve(Account(current=current), MarketInputs(make_alpha(), make_risk()))
    assert set(info.value.groups) == {ConstraintGroup.TURNOVER, ConstraintGroup.RESTRICTED}
    assert "turnover cap (sum |w - w_prev| <= 0.20)" in str(info.value)
    assert "restricted list (1 assets, zero)" in str(info.value)


def test_costs_reduce_trading():
    turnovers = []
    for bps in (0.0, 20.0, 200.0):
        cfg = PortfolioConfig(
            max_weight=0.3,
            max_turnover=None,
            half_spread_bps=bps,
            max_sector_weight=None,
            rebalance_every=1,
            min_trade_weight=0.0,  # the trades at 200 bp are all below 1e-4
        )
        opt = PortfolioOptimiser(ASSETS, K, cfg, with_impact=True)
        impact = pd.Series(1e-3, index=ASSETS)
        sol = opt.solve(
            Account(current=EQUAL), MarketInputs(make_alpha(8), make_risk(8), impact=impact)
        )
        turnovers.append(sol.turnover)
        z = np.abs(sol.weights - EQUAL).to_numpy()
        assert sol.costs == pytest.approx(bps * 1e-4 * z.sum() + 1e-3 * (z**1.5).sum(), rel=1e-9)
        assert sol.status == "optimal"
    assert turnovers[0] > turnovers[1] > turnovers[2]


def test_no_trade_below_min_trade_weight_and_costs_recomputed():
    """Dust trades are not made: every trade is 0 or at least ``min_trade_weight``; the
    reported costs and objective are those of the weights returned, and the limits hold.

    A 1e-3 threshold on 12 assets with a 0.3 turnover cap leaves some trades below it
    (checked: without the rule the solve has such trades)."""
    cfg = PortfolioConfig(max_weight=0.15, max_sector_weight=0.4, max_turnover=0.3)
    market = MarketInputs(make_alpha(11), make_risk(11))
    raw = PortfolioOptimiser(ASSETS, K, cfg.model_copy(update={"min_trade_weight": 0.0}), SECTORS)
    loose = raw.solve(Account(current=EQUAL), market)
    small = (loose.weights - EQUAL).abs()
    threshold = 1e-3
    assert ((small > 0) & (small < threshold)).any()
    opt = PortfolioOptimiser(
        ASSETS, K, cfg.model_copy(update={"min_trade_weight": threshold}), SECTORS
    )
    sol = opt.solve(Account(current=EQUAL), market)
    z = (sol.weights - EQUAL).abs()
    assert ((z == 0) | (z >= threshold)).all()
    assert sol.costs == pytest.approx(5e-4 * z.sum(), rel=1e-12)
    w, cov = sol.weights.to_numpy(), make_risk(11).covariance()
    utility = market.alpha @ w - cfg.risk_aversion * (w @ cov @ w) - sol.costs / cfg.rebalance_every
    assert sol.objective == pytest.approx(utility, rel=1e-9)
    limits = PretradeLimits(max_weight=0.15, max_sector_weight=0.4, max_turnover=0.3)
    assert check_pretrade(sol.weights, EQUAL, SECTORS, limits) == []


def test_accounts_reuse_one_compiled_problem():
    cfg = PortfolioConfig(max_weight=0.2, max_turnover=0.5, max_sector_weight=0.5)
    opt = PortfolioOptimiser(ASSETS, K, cfg, SECTORS, with_restricted=True)
    market = MarketInputs(make_alpha(9), make_risk(9))
    heavy = pd.Series(0.0, index=ASSETS)
    heavy[["A00", "A01", "A02", "A03", "A04"]] = 0.2
    accounts = [
        Account("a", current=EQUAL),
        Account("b", current=EQUAL, restricted=("A03", "A04")),
        Account("c", current=heavy, upper=pd.Series({"A05": 0.01})),
        Account("bad", current=heavy, restricted=("A00", "A01", "A02")),  # sells 0.6 > 0.5
    ]
    sols = solve_many(opt, accounts, market)
    assert opt.native is not None and sols[0].solver == "PIQP"
    assert [s.account for s in sols] == ["a", "b", "c", "bad"]
    assert sols[1].weights[["A03", "A04"]].abs().max() <= TOL
    assert sols[2].weights["A05"] <= 0.01 + TOL
    assert sols[3].weights is None and sols[3].status == "infeasible"
    assert "turnover cap" in sols[3].error and "restricted list" in sols[3].error
    # each account is a re-solve of one PIQP trade form (its data updated in place); a
    # fresh optimiser solves from a new setup. Both stop at solver_tolerance 1e-7 (gap <=
    # 1e-7 bp + 1e-7 relative): on utilities of ~1 bp <= 2e-7 relative each, so the two
    # agree to 5e-7 relative; weights to 1e-6 (interior points differ along the
    # optimum's flat directions)
    for acct, sol in zip(accounts[:3], sols[:3], strict=True):
        fresh = PortfolioOptimiser(ASSETS, K, cfg, SECTORS, with_restricted=True)
        single = fresh.solve(acct, market)
        np.testing.assert_allclose(sol.weights, single.weights, atol=1e-6)
        assert sol.objective == pytest.approx(single.objective, rel=5e-7)


def test_fallback_weights():
    bench = pd.Series([0.5, 0.5], index=["x", "y"])
    held = pd.Series([1.0], index=["x"])
    assert fallback_weights(Fallback.HOLD, held, bench).to_dict() == {"x": 1.0, "y": 0.0}
    assert fallback_weights(Fallback.HOLD, None, bench).to_dict() == {"x": 0.5, "y": 0.5}
    assert fallback_weights(Fallback.BENCHMARK, held, bench).to_dict() == {"x": 0.5, "y": 0.5}
    assert fallback_weights(Fallback.FLAT, held, bench).sum() == 0.0


def test_account_fast_path_matches_cvxpy_and_workers():
    from tasks.portfolio.accounts import AccountSolver

    cfg = PortfolioConfig(
        max_weight=0.2,
        max_turnover=0.5,
        max_sector_weight=0.5,
        restricted_mode="no_increase",
        solver="clarabel",  # the fast path is CLARABEL's conic form: same solver both ways
    )
    opt = PortfolioOptimiser(ASSETS, K, cfg, SECTORS, with_restricted=True)
    opt.set_market(MarketInputs(make_alpha(10), make_risk(10)))
    rng = np.random.default_rng(3)
    accounts = [
        Account(
            f"x{i}",
            current=pd.Series(rng.dirichlet(np.full(N, 30.0)), index=ASSETS),
            restricted=(ASSETS[i], ASSETS[i + 1]),
        )
        for i in range(6)
    ]
    fast = AccountSolver(opt)
    assert fast.check(accounts[2]) < 1e-9  # the measured b-map equals cvxpy's
    for acct in accounts[:3]:
        quick = fast.solve(acct)
        slow = opt.solve(acct)
        np.testing.assert_allclose(quick.weights, slow.weights, atol=1e-7)
        assert quick.objective == pytest.approx(slow.objective, rel=1e-7, abs=1e-12)
        assert quick.variance == pytest.approx(slow.variance, rel=1e-9)
    serial = solve_many(opt, accounts)
    parallel = solve_many(opt, accounts, n_jobs=2)
    for a, b in zip(serial, parallel, strict=True):
        assert a.account == b.account
        np.testing.assert_allclose(a.weights, b.weights, atol=1e-9)


def test_fallback_trades_below_min_trade_weight_are_left_undone():
    """A benchmark fallback 3e-5 away from the book on one asset: that trade is not made,
    its net goes to the largest trade, the total weight is kept."""
    from tasks.portfolio.fallback import without_dust

    held = pd.Series({"x": 0.2, "y": 0.5, "z": 0.3})
    target = pd.Series({"x": 0.6, "y": 0.09997, "z": 0.30003})
    w = without_dust(target, held, 1e-4)
    assert w["z"] == 0.3 and w.sum() == pytest.approx(1.0, abs=1e-15)
    change = (w - held).abs()
    assert ((change == 0) | (change >= 1e-4)).all()
    assert without_dust(target, None, 1e-4).equals(target)  # from cash: nothing is dust
