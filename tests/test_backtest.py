"""Walk-forward backtest on a synthetic market, with the benchmarks beside the model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from tasks.data.market import to_panel
from tasks.data.synthetic import SyntheticSpec, generate_market, planted_characteristic
from tasks.model.stats import drawdown
from tasks.portfolio.backtest import MODEL, performance_metrics, run_backtest
from tasks.portfolio.config import BenchmarkKind, PortfolioConfig

CFG = PortfolioConfig(
    max_weight=0.2,
    max_sector_weight=0.5,
    max_turnover=0.6,
    lookback=120,
    n_factors=3,
    rebalance_every=21,
    information_coefficient=0.08,
)


@pytest.fixture(scope="module")
def market():
    long = generate_market(SyntheticSpec(n_assets=16, n_days=420, seed=11, ic=0.08, n_sectors=4))
    panel = to_panel(long, "synthetic:backtest")
    scores = planted_characteristic(long).iloc[-200:]  # the "holdout" predictions
    return panel, scores


@pytest.fixture(scope="module")
def result(market):
    panel, scores = market
    return run_backtest(scores, panel, CFG)


def test_model_and_every_benchmark_are_reported(result):
    assert list(result.metrics) == [MODEL, *[b.value for b in BenchmarkKind]]
    frame = result.metrics_frame()
    assert np.isfinite(
        frame[["annual_return", "annual_volatility", "sharpe", "max_drawdown"]].to_numpy(
            dtype=float
        )
    ).all()
    assert (frame["n_rebalances"] == len(result.weights)).all()
    assert result.returns.shape[1] == len(result.metrics)
    assert result.events == ()


def test_model_weights_respect_the_constraints(result, market):
    panel, _ = market
    w = result.weights
    assert np.allclose(w.sum(axis=1), 1.0, atol=1e-6)
    assert (w.to_numpy() <= 0.2 + 1e-6).all() and (w.to_numpy() >= -1e-6).all()
    sector_sums = w.T.groupby(panel.sectors).sum().T
    assert (sector_sums.to_numpy() <= 0.5 + 1e-6).all()
    # the first rebalance funds from cash (uncapped); drift happens between the others
    assert (result.turnover[MODEL].iloc[1:] <= 0.6 + 1e-6).all()


def test_rebalances_follow_the_configured_frequency(result, market):
    _, scores = market
    dates = result.weights.index
    positions = scores.index.get_indexer(dates)
    assert (np.diff(positions) == CFG.rebalance_every).all()
    assert result.returns.index[0] == dates[0]
    assert result.returns.index[-1] == scores.index[-1]


def test_costs_are_charged_on_rebalance_days(market, result):
    """Equal weight's holdings do not depend on costs, so its net return differs from the
    cost-free run's by exactly the cost paid on rebalance days and by nothing elsewhere."""
    panel, scores = market
    ew = BenchmarkKind.EQUAL_WEIGHT.value
    free = run_backtest(
        scores,
        panel,
        CFG.model_copy(
            update={
                "half_spread_bps": 0.0,
                "impact_coefficient": 0.0,
                "benchmarks": [BenchmarkKind(ew)],
            }
        ),
    )
    assert free.costs[MODEL].sum() == 0.0 and free.costs[ew].sum() == 0.0
    assert (result.costs[ew] > 0).all()  # equal weight trades back from its drift
    gap = free.returns[ew] - result.returns[ew]
    paid = result.costs[ew].reindex(gap.index, fill_value=0.0)
    np.testing.assert_allclose(gap.to_numpy(), paid.to_numpy(), rtol=0, atol=1e-15)


def test_plots_are_png(result):
    assert set(result.plots) == {"cumulative_return.png", "drawdown.png", "weights.png"}
    for data in result.plots.values():
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000


def test_performance_metrics_match_hand_computation():
    r = pd.Series([0.01, -0.02, 0.03, -0.01, 0.0, 0.02])
    m = performance_metrics(r, pd.Series([0.5, 0.3]), pd.Series([0.001, 0.002]), annualisation=6)
    growth = np.prod(1 + r)
    assert m.annual_return == pytest.approx(growth - 1)  # exactly one "year"
    assert m.annual_volatility == pytest.approx(r.std(ddof=1) * np.sqrt(6))
    assert m.sharpe == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(6))
    downside = np.sqrt(np.mean(np.minimum(r, 0) ** 2))
    assert m.sortino == pytest.approx(r.mean() / downside * np.sqrt(6))
    wealth = np.cumprod(1 + r)
    assert m.max_drawdown == pytest.approx(1 - wealth[1] / wealth[0])  # peak after day one
    assert m.turnover == pytest.approx(0.8) and m.total_costs == pytest.approx(0.003)


def test_backtest_artifacts_are_stored(result, workspace):
    from governance.decisions.context import RunContext
    from tasks.portfolio.backtest import store_backtest

    ctx = RunContext.open(workspace, actor="tester", flow_run_id="bt")
    try:
        shas = store_backtest(ctx.store, result)
        summary = ctx.store.read_json(shas["backtest/summary.json"])
        assert summary["rebalances"] == len(result.weights)
        assert set(summary["metrics"]) == set(result.metrics)
        returns = pd.read_parquet(ctx.store.path(shas["backtest/returns.parquet"]))
        assert list(returns.columns) == ["date", *result.returns.columns]
        np.testing.assert_array_equal(returns[MODEL].to_numpy(), result.returns[MODEL].to_numpy())
        assert {"backtest/drawdown.png", "backtest/weights.parquet"} <= set(shas)
        for name in ("returns", "weights", "turnover", "costs"):
            path = ctx.store.path(shas[f"backtest/{name}.parquet"])
            schema = pq.read_schema(path)
            # no b"pandas" key: the hash does not embed pandas_version or the frame's attrs
            assert schema.metadata is None, (name, schema.metadata)
            assert schema.names[0] == "date"
    finally:
        ctx.close()


def test_drawdown_is_measured_from_initial_wealth_as_empyrical():
    """Hand-made series, one starting with losses (an inception drawdown): the maximum
    drawdown equals empyrical-reloaded's ``max_drawdown`` (same definition, exact up to
    round-off), and five -1 % days are 1 - 0.99^5, not 1 - 0.99^4."""
    import empyrical

    five = pd.Series([-0.01] * 5)
    m = performance_metrics(five, pd.Series([0.0]), pd.Series([0.0]))
    assert m.max_drawdown == pytest.approx(1 - 0.99**5, rel=1e-12)
    cases = [
        five,
        pd.Series([-0.05, 0.02, 0.03, -0.04, 0.01]),  # inception loss, later a deeper one
        pd.Series([0.03, -0.02, -0.02, 0.05, -0.10, 0.02]),
        pd.Series([0.01, 0.02, 0.03]),  # never below the start: no drawdown
    ]
    for r in cases:
        ours = performance_metrics(r, pd.Series([0.0]), pd.Series([0.0])).max_drawdown
        assert ours == pytest.approx(-empyrical.max_drawdown(r), rel=1e-12, abs=1e-15)
        assert drawdown(r).iloc[0] == pytest.approx(min(r.iloc[0], 0.0), abs=1e-15)  # vs start


def test_minimum_variance_benchmark_matches_skfolio_on_the_same_prior():
    """The factor-form solve reaches skfolio's MeanRisk optimum on a Ledoit–Wolf prior
    within 1e-8 (relative variance): CLARABEL's default relative gap tolerance is 1e-8 on
    the scaled objective. skfolio is solved to 1e-12 so that the reference is the optimum,
    not its own stopping point (at its defaults it stops ~3e-6 above it)."""
    from skfolio.moments import LedoitWolf
    from skfolio.optimization import MeanRisk, ObjectiveFunction
    from skfolio.prior import EmpiricalPrior

    from tasks.data.market import to_panel
    from tasks.data.synthetic import SyntheticSpec, generate_market
    from tasks.portfolio.benchmarks import minimum_variance, usable_returns

    panel = to_panel(generate_market(SyntheticSpec(n_assets=40, n_days=300, seed=4)), "t")
    window = panel.close.pct_change(fill_method=None).iloc[-252:]
    ours = minimum_variance(window)
    x = usable_returns(window)
    tight = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12, "max_iter": 500}
    ref = MeanRisk(
        objective_function=ObjectiveFunction.MINIMIZE_RISK,
        prior_estimator=EmpiricalPrior(covariance_estimator=LedoitWolf()),
        min_weights=0.0,
        solver_params=tight,
    ).fit(x)
    cov = LedoitWolf().fit(x).covariance_
    w = ours.reindex(x.columns).to_numpy()
    assert ours.sum() == pytest.approx(1.0) and (ours >= 0).all()
    assert w @ cov @ w == pytest.approx(ref.weights_ @ cov @ ref.weights_, rel=1e-8)


def test_holdout_backtest_with_tracking_error_limit_respects_it(market):
    """``max_tracking_error`` set: the backtest runs on the live chain's market inputs
    (tracking benchmark included) under the policy-tightened config, and every target's
    ex-ante tracking error, recomputed from the same point-in-time risk model, is within
    the limit (to the solver's feasibility tolerance, far below 1e-6 a year)."""
    from governance.policy.schema import PretradeLimits
    from tasks.portfolio.market import MarketHistory

    panel, scores = market
    cfg = CFG.model_copy(update={"max_tracking_error": 0.02, "benchmarks": []})
    limits = PretradeLimits(max_weight=0.15, max_sector_weight=0.5, max_turnover=0.6)
    out = run_backtest(scores, panel, cfg, limits)
    assert out.events == ()
    assert (out.weights.to_numpy() <= 0.15 + 1e-6).all()  # the policy's tighter cap
    tight = cfg.within(limits)
    history = MarketHistory(panel, tight, out.weights.columns)
    values = scores.reindex(index=history.index, columns=history.assets).to_numpy(dtype=float)
    for when, w in out.weights.iterrows():
        pos = history.position(when)
        market = history.inputs(pos, values[pos])
        active = w.to_numpy() - market.benchmark.to_numpy()
        te = np.sqrt(market.risk.variance(active) * tight.annualisation)
        assert te <= 0.02 + 1e-6
    free = run_backtest(scores, panel, cfg.model_copy(update={"max_tracking_error": None}), limits)
    assert not np.allclose(free.weights.to_numpy(), out.weights.to_numpy(), atol=1e-3)
