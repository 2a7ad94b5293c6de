"""Many accounts on the native form (issue 28): only the account's data change per solve,
and the answer is the one a loop of single-account solves gives (to 1e-8)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tasks.portfolio.accounts import solve_many
from tasks.portfolio.config import PortfolioConfig
from tasks.portfolio.optimiser.core import Account, MarketInputs, PortfolioOptimiser
from tasks.portfolio.optimiser.values import aligned, positions_of
from tests.helpers_optimiser import ASSETS, SECTORS, K, N, make_alpha, make_risk

CFG = PortfolioConfig(
    max_weight=0.2, max_turnover=0.5, max_sector_weight=0.5, restricted_mode="no_increase"
)


def accounts(count: int = 12, seed: int = 4) -> list[Account]:
    """Books of every kind: bound overrides, restricted lists, from cash, dust-sized moves,
    one infeasible (a lower bound above the cap)."""
    rng = np.random.default_rng(seed)
    out = [Account("cash")]
    heavy = pd.Series(0.0, index=ASSETS)
    heavy[["A00", "A01", "A02", "A03", "A04"]] = 0.2
    out.append(Account("bad", current=heavy, lower=pd.Series({"A00": 0.3})))
    for i in range(count):
        held = pd.Series(rng.dirichlet(np.full(N, 30.0)), index=ASSETS)
        upper = pd.Series({ASSETS[rng.integers(N)]: 0.01, "NOT-IN-UNIVERSE": 0.5})
        restricted = tuple(rng.choice(ASSETS, size=2, replace=False))
        out.append(Account(f"x{i}", current=held, upper=upper, restricted=restricted))
    return out


def same(a, b) -> None:
    assert a.account == b.account and a.status == b.status and a.solver == b.solver
    if b.weights is None:
        assert a.weights is None and a.error == b.error
        return
    np.testing.assert_allclose(a.weights, b.weights, rtol=0, atol=1e-8)
    assert a.objective == pytest.approx(b.objective, rel=1e-8, abs=1e-12)
    assert a.variance == pytest.approx(b.variance, rel=1e-8)
    assert a.costs == pytest.approx(b.costs, rel=1e-8, abs=1e-15)


def test_native_accounts_equal_single_solves():
    opt = PortfolioOptimiser(ASSETS, K, CFG, SECTORS, with_restricted=True)
    market = MarketInputs(make_alpha(9), make_risk(9))
    books = accounts()
    many = solve_many(opt, books, market)
    assert opt.native is not None and many[2].solver == "PIQP"
    assert many[1].weights is None and many[1].status == "infeasible"
    single = [opt.solve_or_record(a) for a in books]
    for a, b in zip(many, single, strict=True):
        same(a, b)
    fresh = PortfolioOptimiser(ASSETS, K, CFG, SECTORS, with_restricted=True)
    fresh.set_market(market)
    for a, b in zip(many, [fresh.solve_or_record(a) for a in books], strict=False):
        if b.weights is not None:  # a fresh setup: the same optimum to the solver's tolerance
            np.testing.assert_allclose(a.weights, b.weights, atol=1e-6)


def test_risk_model_edited_in_place_is_a_new_model():
    """The native form keeps the risk model's matrices across accounts: an insider who
    edits the optimiser's risk values in place (same array object) must not be solved
    against the stale matrices."""
    opt = PortfolioOptimiser(ASSETS, K, CFG, SECTORS, with_restricted=True)
    books = accounts(4)
    solve_many(opt, books, MarketInputs(make_alpha(9), make_risk(9)))
    other = PortfolioOptimiser(ASSETS, K, CFG, SECTORS, with_restricted=True)
    other.set_market(MarketInputs(make_alpha(9), make_risk(10)))
    opt.params["B"].value[...] = other.params["B"].value  # in place: the same object
    opt.params["sqrt_d"].value[...] = other.params["sqrt_d"].value
    for a, b in zip(solve_many(opt, books), solve_many(other, books), strict=True):
        if b.weights is not None:
            np.testing.assert_allclose(a.weights, b.weights, atol=1e-8)


def test_short_series_placed_as_reindex_places_it():
    where = positions_of(ASSETS)
    cases = [
        pd.Series({"A03": 0.01}),
        pd.Series({"A03": np.nan, "ZZ": 1.0}),
        pd.Series(dtype=float),
    ]
    for s in cases:
        np.testing.assert_array_equal(aligned(s, ASSETS, 0.2, where), aligned(s, ASSETS, 0.2))
    dup = pd.Series([0.1, 0.2], index=["A01", "A01"])
    for where_ in (where, None):
        with pytest.raises(ValueError, match="duplicate"):
            aligned(dup, ASSETS, 0.2, where_)


def test_data_of_many_accounts_is_each_accounts_data():
    """:meth:`TradeQP.data` with one row per account gives each account's own data."""
    from tasks.portfolio.accounts import ACCOUNT_PARAMS

    opt = PortfolioOptimiser(ASSETS, K, CFG, SECTORS, with_restricted=True)
    opt.set_market(MarketInputs(make_alpha(9), make_risk(9)))
    market = {n: p.value for n, p in opt.params.items() if n not in ACCOUNT_PARAMS}
    rows = [opt.account_values(a) for a in accounts(5)]
    batch = {key: np.array([r[key] for r in rows], dtype=float) for key in rows[0]}
    many = opt.native.data({**market, **batch})
    for i, row in enumerate(rows):
        one = opt.native.data({**market, **row})
        assert one["P"] is many["P"] and one["A"] is many["A"]  # the market's, built once
        for key in ("c", "b", "x_l", "x_u", "h_l", "h_u", "feasible_bounds"):
            np.testing.assert_allclose(many[key][i], one[key], rtol=1e-15, atol=1e-18)
