"""Walk-forward backtest on a synthetic market, with the benchmarks beside the model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tasks.data.market import to_panel
from tasks.data.synthetic import SyntheticSpec, generate_market, planted_characteristic
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
    panel, scores = market
    free = run_backtest(
        scores,
        panel,
        CFG.model_copy(
            update={"half_spread_bps": 0.0, "impact_coefficient": 0.0, "benchmarks": []}
        ),
    )
    assert free.costs[MODEL].sum() == 0.0
    ew = result.costs[BenchmarkKind.EQUAL_WEIGHT.value]
    assert (ew > 0).all()  # equal weight trades back from its drift
    gap = (result.returns[BenchmarkKind.EQUAL_WEIGHT.value] - result.returns[MODEL]).dropna()
    assert len(gap) == len(result.returns)


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
    assert m.max_drawdown == pytest.approx(1 - wealth[1] / wealth[0])
    assert m.turnover == pytest.approx(0.8) and m.total_costs == pytest.approx(0.003)


def test_backtest_is_recorded_with_its_artifacts(result, workspace):
    from governance.context import RunContext
    from tasks.portfolio.backtest import record_backtest

    ctx = RunContext.open(workspace, actor="tester", flow_run_id="bt")
    try:
        shas = record_backtest(ctx, result, subject="model:1")
        entry = ctx.ledger.last(action="backtest.completed")
        assert entry.payload["rebalances"] == len(result.weights)
        assert set(entry.payload["metrics"]) == set(result.metrics)
        returns = pd.read_parquet(ctx.store.path(shas["backtest_returns.parquet"]))
        assert list(returns.columns) == ["date", *result.returns.columns]
        assert ctx.ledger.verify().ok
    finally:
        ctx.close()


def test_minimum_variance_benchmark_matches_skfolio_on_the_same_prior():
    """The factor-form solve reaches skfolio's MeanRisk optimum on a Ledoit–Wolf prior."""
    from skfolio.moments import LedoitWolf
    from skfolio.optimization import MeanRisk, ObjectiveFunction
    from skfolio.prior import EmpiricalPrior

    from tasks.data.market import to_panel
    from tasks.data.synthetic import SyntheticSpec, generate_market
    from tasks.portfolio.benchmarks import _usable, minimum_variance
    from tasks.portfolio.risk import window_returns

    panel = to_panel(generate_market(SyntheticSpec(n_assets=40, n_days=300, seed=4)), "t")
    window = window_returns(panel.close, panel.close.index[-1], 252)
    ours = minimum_variance(window)
    x = _usable(window)
    ref = MeanRisk(
        objective_function=ObjectiveFunction.MINIMIZE_RISK,
        prior_estimator=EmpiricalPrior(covariance_estimator=LedoitWolf()),
        min_weights=0.0,
    ).fit(x)
    cov = LedoitWolf().fit(x).covariance_
    w = ours.reindex(x.columns).to_numpy()
    assert ours.sum() == pytest.approx(1.0) and (ours >= 0).all()
    assert w @ cov @ w == pytest.approx(ref.weights_ @ cov @ ref.weights_, rel=1e-4)
