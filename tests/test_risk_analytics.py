"""Risk analytics (tasks/risk): decomposition, VaR/ES, scenarios, stress, attribution.

Exact identities (Euler sums, factor + specific, Brinson sums) hold to floating-point
round-off, so they are checked at 1e-12 relative; library comparisons at 1e-10.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tasks.data.market import MarketPanel, load_demo, to_panel
from tasks.portfolio.config import PortfolioConfig, RiskModelKind
from tasks.portfolio.market import MarketHistory
from tasks.portfolio.risk import RiskModel, statistical_factor_model
from tasks.risk.attribution import attribute, brinson_fachler, factor_attribution
from tasks.risk.config import HistoricalWindow, SampledConfig, Shock, StressConfig
from tasks.risk.decomposition import decompose, oriented
from tasks.risk.sampling import filtered_bootstrap
from tasks.risk.scenarios import historical_scenario, hypothetical_scenario
from tasks.risk.stress import (
    SAMPLED_TAIL,
    account_losses,
    run_stress,
    scenario_losses,
    stress_portfolio,
)
from tasks.risk.var import historical_var, parametric_var, var_table


@pytest.fixture(scope="module")
def returns() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    t, n = 300, 15
    market = rng.normal(0.0, 0.01, (t, 1))
    x = market * rng.uniform(0.5, 1.5, n) + rng.normal(0.0, 0.012, (t, n))
    return pd.DataFrame(x, columns=[f"A{i:02d}" for i in range(n)])


@pytest.fixture(scope="module")
def model(returns) -> RiskModel:
    return statistical_factor_model(returns, 4)


@pytest.fixture(scope="module")
def weights(returns) -> pd.Series:
    w = np.random.default_rng(3).dirichlet(np.ones(returns.shape[1]))
    return pd.Series(w, index=returns.columns)


@pytest.fixture(scope="module")
def sectors(returns) -> pd.Series:
    return pd.Series(["S0", "S1", "S2"] * 5, index=returns.columns)


@pytest.fixture(scope="module")
def demo():
    return to_panel(load_demo())


# -- decomposition ---------------------------------------------------------------------------


def test_euler_contributions_sum_to_total_risk(model, weights, sectors):
    d = decompose(weights, model, sectors, benchmark=None)
    sigma = np.sqrt(weights.to_numpy() @ model.covariance() @ weights.to_numpy())
    assert d.volatility == pytest.approx(sigma, rel=1e-12)
    assert d.assets.contribution.sum() == pytest.approx(sigma, rel=1e-12)
    assert d.sectors.contribution.sum() == pytest.approx(sigma, rel=1e-12)
    assert d.factors.contribution.sum() == pytest.approx(sigma, rel=1e-12)
    assert d.assets.share.sum() == pytest.approx(1.0, rel=1e-12)


def test_factor_plus_specific_is_total_variance(model, weights):
    d = decompose(weights, model)
    w = weights.to_numpy()
    assert d.factor_variance + d.specific_variance == pytest.approx(
        w @ model.covariance() @ w, rel=1e-12
    )
    assert d.specific_variance == pytest.approx(model.specific_var @ (w * w), rel=1e-12)
    assert 0.0 < d.factor_share < 1.0


def test_tracking_error_and_active_exposures_against_the_benchmark(model, weights):
    bench = pd.Series(1.0 / len(weights), index=weights.index)
    d = decompose(weights, model, benchmark=bench)
    a = (weights - bench).to_numpy()
    assert d.tracking_error == pytest.approx(np.sqrt(a @ model.covariance() @ a), rel=1e-12)
    assert d.assets.active_contribution.sum() == pytest.approx(d.tracking_error, rel=1e-12)
    factors = d.factors.iloc[:-1]
    np.testing.assert_allclose(
        factors.active_exposure, factors.exposure - factors.benchmark_exposure, atol=1e-15
    )


def test_orientation_keeps_the_covariance_and_makes_factor_one_the_market(model):
    o = oriented(model)
    np.testing.assert_allclose(o.covariance(), model.covariance(), atol=1e-15)
    assert (o.exposures.sum(axis=0) >= 0).all()


# -- VaR / ES --------------------------------------------------------------------------------


@pytest.mark.parametrize("c", [0.95, 0.99])
def test_parametric_var_es_agree_with_scipy(c):
    sigma = 0.013
    var, es = parametric_var(sigma, c)
    assert var == pytest.approx(stats.norm.ppf(c, scale=sigma), rel=1e-12)
    # ES by direct integration of the tail: E[L | L >= VaR]
    tail = stats.norm.expect(lambda x: x, scale=sigma, lb=var) / (1.0 - c)
    assert es == pytest.approx(tail, rel=1e-8)


@pytest.mark.parametrize("c", [0.95, 0.99])
def test_historical_var_es_agree_with_a_direct_computation(c):
    r = np.random.default_rng(5).standard_t(4, 1000) * 0.01
    losses = np.sort(-r)
    pos = c * (len(losses) - 1)  # numpy's linear interpolation, by hand
    lo = int(np.floor(pos))
    var_hand = losses[lo] + (pos - lo) * (losses[lo + 1] - losses[lo])
    var, es = historical_var(r, c)
    assert var == pytest.approx(var_hand, rel=1e-12)
    assert es == pytest.approx(losses[losses >= var_hand].mean(), rel=1e-12)


def test_var_table_scales_with_the_square_root_of_time():
    r = np.random.default_rng(1).normal(0, 0.01, 252)
    table = {(f.method, f.confidence, f.horizon): f for f in var_table(0.01, r, [0.99], [1, 21])}
    for method in ("parametric", "historical"):
        one, month = table[(method, 0.99, 1)], table[(method, 0.99, 21)]
        assert month.var == pytest.approx(one.var * np.sqrt(21), rel=1e-12)
        assert month.es == pytest.approx(one.es * np.sqrt(21), rel=1e-12)


# -- scenarios -------------------------------------------------------------------------------


def test_historical_replay_equals_the_portfolio_return_recomputed_from_prices(demo):
    close = demo.close
    w = pd.Series(1.0 / close.shape[1], index=close.columns)
    window = HistoricalWindow(name="covid-2020", start="2020-02-19", end="2020-03-23")
    sc = historical_scenario(close, window)
    loss = stress_portfolio(w, [sc], None, 0.0).losses()["covid-2020"]
    # independently: compound the buy-and-hold book's daily returns over the window
    px = close.loc["2020-02-19":"2020-03-23"]
    nav = (px / px.iloc[0] * w).sum(axis=1)
    assert px.index[0] == pd.Timestamp("2020-02-19")
    assert loss == pytest.approx(1.0 - nav.iloc[-1], rel=1e-12)
    assert 0.25 < loss < 0.45  # the equal-weight book fell about a third in five weeks


def test_hypothetical_shock_equals_exposures_times_shocks_by_hand():
    assets = pd.Index(["A", "B", "C"])
    sectors = pd.Series({"A": "X", "B": "X", "C": "Y"})
    risk = RiskModel(
        assets=assets,
        exposures=np.array([[1.0], [0.5], [0.0]]),
        factor_cov=np.array([[0.0004]]),  # factor daily vol 2 %
        specific_var=np.full(3, 1e-4),
        kind=RiskModelKind.FACTOR,
    )
    shock = Shock(
        name="hand",
        market=-0.05,
        sectors={"X": -0.10},
        assets={"C": 0.02},
        factors={1: -2.0},
        spread_multiplier=3.0,
    )
    w = pd.Series({"A": 0.5, "B": 0.3, "C": 0.2})
    sc = hypothetical_scenario(shock, assets, sectors, risk)
    # A: -0.05 - 0.10 - 2 * 0.02 * 1.0 = -0.19; B: -0.05 - 0.10 - 0.04 * 0.5 = -0.17;
    # C: -0.05 + 0.02 = -0.03. Loss = 0.5 * 0.19 + 0.3 * 0.17 + 0.2 * 0.03 = 0.152.
    np.testing.assert_allclose(sc.returns[["A", "B", "C"]], [-0.19, -0.17, -0.03], atol=1e-15)
    res = stress_portfolio(w, [sc], None, half_spread=5e-4, top=2)
    row = res.scenarios.iloc[0]
    assert row.loss == pytest.approx(0.152, abs=1e-15)
    assert row.cost_to_exit == pytest.approx(3 * 5e-4 * 1.0, abs=1e-15)  # sells 100 %
    assert list(res.contributors.asset) == ["A", "B"]
    assert res.contributors.contribution.tolist() == pytest.approx([0.095, 0.051], abs=1e-15)


def test_vectorised_losses_match_a_loop():
    rng = np.random.default_rng(2)
    r = rng.normal(0, 0.02, (50, 30))
    w = rng.dirichlet(np.ones(30), size=7)
    losses = scenario_losses(r, w)
    assert losses.shape == (50, 7)
    for a in range(7):
        np.testing.assert_allclose(losses[:, a], [-(r[s] @ w[a]) for s in range(50)], atol=1e-15)


def test_account_losses_match_one_book_at_a_time(returns, sectors, model):
    rng = np.random.default_rng(8)
    books = {
        f"acct{i}": pd.Series(rng.dirichlet(np.ones(15)), index=returns.columns) for i in range(4)
    }
    shocks = [
        Shock(name="s1", market=-0.1, sectors={"S0": -0.05}),
        Shock(name="s2", factors={1: -3}),
    ]
    named = [hypothetical_scenario(s, returns.columns, sectors, model) for s in shocks]
    sampled = filtered_bootstrap(returns, SampledConfig(n_scenarios=500))
    table = account_losses(books, named, sampled, 0.99)
    for name, w in books.items():
        one = stress_portfolio(w, named, sampled, 0.0, tail=0.99).losses()
        np.testing.assert_allclose(table.loc[name].to_numpy(), list(one.values()), rtol=1e-12)


def test_filtered_bootstrap_is_seeded_and_conditional_on_the_market(returns):
    cfg = SampledConfig(n_scenarios=2000, seed=4)
    a, b = filtered_bootstrap(returns, cfg), filtered_bootstrap(returns, cfg)
    assert a.returns.shape == (2000, returns.shape[1])
    np.testing.assert_array_equal(a.returns, b.returns)
    cond = filtered_bootstrap(returns, cfg.model_copy(update={"market_quantile": 0.05}))
    # the kept draws are the lowest 5 % of the candidates' market returns
    assert cond.returns.mean(axis=1).max() < np.quantile(a.returns.mean(axis=1), 0.10)


def test_stress_runs_every_configured_scenario_on_the_demo(demo):
    cfg = PortfolioConfig()
    close = demo.close.loc[:"2022-12-28"]
    history = MarketHistory(MarketPanel(close, None, None, "", "demo"), cfg)
    window = history.window_frame(len(close) - 1)
    risk = statistical_factor_model(window, cfg.n_factors)
    w = pd.Series(1.0 / close.shape[1], index=close.columns)
    scfg = StressConfig(sampled=SampledConfig(n_scenarios=1000))
    res, skipped = run_stress(w, close, demo.sectors, risk, window, scfg, 5e-4)
    assert skipped == []
    names = list(res.scenarios.scenario)
    assert names == [
        "gfc-2008",
        "covid-2020",
        "rates-2022",
        "rate-shock",
        "credit-event",
        "liquidity-crisis",
        SAMPLED_TAIL,
    ]
    losses = res.losses()
    assert losses["gfc-2008"] > 0.2 and losses["covid-2020"] > 0.2  # both were crashes
    tail = res.contributors[res.contributors.scenario == SAMPLED_TAIL]
    assert len(tail) == 5 and res.sampled["es"] >= res.sampled["var"] > 0


# -- attribution -----------------------------------------------------------------------------


def test_brinson_effects_sum_to_the_active_return():
    w = pd.Series({"A": 0.4, "B": 0.1, "C": 0.3, "D": 0.1})  # 10 % cash
    b = pd.Series({"A": 0.25, "B": 0.25, "C": 0.25, "D": 0.25})
    r = pd.Series({"A": 0.05, "B": -0.02, "C": 0.01, "D": 0.03})
    sectors = pd.Series({"A": "X", "B": "X", "C": "Y", "D": "Z"})
    bf = brinson_fachler(w, b, r, sectors)
    active = (w * r).sum() - (b * r).sum()
    assert bf.total.sum() == pytest.approx(active, abs=1e-15)
    x = bf.set_index("sector").loc["X"]
    # X: wp 0.5, wb 0.5, rp (0.02 - 0.002)/0.5 = 0.036, rb 0.015: selection 0.5 * 0.021
    assert x.selection == pytest.approx(0.5 * 0.021, abs=1e-15)
    assert x.allocation == pytest.approx(0.0, abs=1e-15)
    assert "cash" in set(bf.sector)


def test_factor_attribution_sums_to_the_active_return(model, weights, returns):
    b = pd.Series(1.0 / len(weights), index=weights.index)
    expo = pd.DataFrame(model.exposures, index=model.assets)
    r = returns.iloc[-21:].sum()
    fa = factor_attribution(weights - b, r, expo)
    assert fa.contribution.sum() == pytest.approx(((weights - b) * r).sum(), abs=1e-15)


def test_monthly_attribution_of_published_books(demo):
    close = demo.close.loc[:"2022-12-28"]
    books = pd.DataFrame(
        [pd.Series(1.0 / 5, index=close.columns[:5])], index=[pd.Timestamp("2022-09-30")]
    )
    att = attribute(close, books, demo.sectors, PortfolioConfig())
    assert list(att.periods.period) == ["2022-10-31", "2022-11-30", "2022-12-28"]
    by_period = att.sectors.groupby("period").total.sum()
    np.testing.assert_allclose(by_period.to_numpy(), att.periods.active.to_numpy(), atol=1e-14)
    by_factor = att.factors.groupby("period").contribution.sum()
    np.testing.assert_allclose(by_factor.to_numpy(), att.periods.active.to_numpy(), atol=1e-14)
