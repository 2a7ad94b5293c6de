"""Risk models and alphas: factor forms are exact, estimates are point-in-time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.covariance import LedoitWolf

from tasks.data.market import MarketPanel
from tasks.portfolio.alphas import grinold_alphas, zscore
from tasks.portfolio.config import PortfolioConfig, RiskModelKind
from tasks.portfolio.market import MarketHistory
from tasks.portfolio.risk import (
    SPECIFIC_VARIANCE_FLOOR,
    ledoit_wolf,
    statistical_factor_model,
)


def estimate_risk(close: pd.DataFrame, asof, cfg: PortfolioConfig):
    """The rebalance's risk model at ``asof`` (``tasks.portfolio.market``)."""
    history = MarketHistory(MarketPanel(close, None, None, "test", "test"), cfg)
    pos = history.position(asof)
    return history.inputs(pos, np.zeros(close.shape[1])).risk


@pytest.fixture(scope="module")
def returns() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    t, n = 160, 12
    market = rng.normal(0.0, 0.01, (t, 1))
    x = market * rng.uniform(0.5, 1.5, n) + rng.normal(0.0, 0.01, (t, n))
    return pd.DataFrame(x, columns=[f"A{i:02d}" for i in range(n)])


@pytest.fixture(scope="module")
def close(returns) -> pd.DataFrame:
    dates = pd.bdate_range("2020-01-01", periods=len(returns) + 1)
    prices = 100 * np.vstack([np.ones(returns.shape[1]), np.cumprod(1 + returns.values, axis=0)])
    return pd.DataFrame(prices, index=dates, columns=returns.columns)


def test_ledoit_wolf_factor_form_is_exact(returns):
    rm = ledoit_wolf(returns)
    x = returns.to_numpy() - returns.to_numpy().mean(axis=0)
    expected = LedoitWolf(assume_centered=True).fit(x).covariance_
    np.testing.assert_allclose(rm.covariance(), expected, rtol=1e-10, atol=1e-14)
    b = rm.factor_root()
    np.testing.assert_allclose(b @ b.T + np.diag(rm.specific_var), expected, atol=1e-14)
    assert rm.kind is RiskModelKind.LEDOIT_WOLF


def test_factor_model_with_all_components_is_the_sample_covariance(returns):
    n = returns.shape[1]
    rm = statistical_factor_model(returns, n_factors=n)
    sample = returns.cov().to_numpy()
    floor = SPECIFIC_VARIANCE_FLOOR * np.median(np.diag(sample))
    np.testing.assert_allclose(rm.covariance(), sample + floor * np.eye(n), atol=1e-12)


def test_factor_model_shapes_and_variance_identities(returns):
    rm = statistical_factor_model(returns, n_factors=3)
    n = returns.shape[1]
    assert rm.exposures.shape == (n, 3) and rm.factor_cov.shape == (3, 3)
    assert (rm.specific_var > 0).all()
    w = np.random.default_rng(1).dirichlet(np.ones(n))
    cov = rm.covariance()
    assert rm.variance(w) == pytest.approx(w @ cov @ w, rel=1e-12)
    b = rm.factor_root()
    assert np.sum((b.T @ w) ** 2) + rm.specific_var @ w**2 == pytest.approx(w @ cov @ w)
    np.testing.assert_allclose(rm.volatility().to_numpy(), np.sqrt(np.diag(cov)))
    # a Series is aligned by name, whatever its order
    ws = pd.Series(w, index=returns.columns)[::-1]
    assert rm.variance(ws) == pytest.approx(w @ cov @ w, rel=1e-12)


def test_gram_and_direct_decompositions_agree(returns):
    wide = returns.iloc[:10]  # T < n: decomposed on the T x T Gram matrix
    rm = statistical_factor_model(wide, n_factors=4)
    x = wide.to_numpy() - wide.to_numpy().mean(axis=0)
    vals = np.linalg.eigvalsh(x.T @ x)[::-1][:4] / (len(x) - 1)
    np.testing.assert_allclose(np.sort(np.diag(rm.factor_cov))[::-1], vals, rtol=1e-9)


def test_estimates_are_point_in_time(close):
    asof = close.index[100]
    cfg = PortfolioConfig(lookback=60, n_factors=2)
    before = estimate_risk(close, asof, cfg)
    shocked = close.copy()
    shocked.iloc[101:] *= np.linspace(0.5, 2.0, close.shape[1])
    after = estimate_risk(shocked, asof, cfg)
    np.testing.assert_array_equal(before.covariance(), after.covariance())
    history = MarketHistory(MarketPanel(close, None, None, "test", "test"), cfg)
    pos = history.position(asof)
    assert history.index[pos] == asof and len(history.window(pos)) == 60


def test_missing_returns_are_handled(close):
    holes = close.copy()
    holes.iloc[40:60, 0] = np.nan
    holes.iloc[:, 1] = np.nan  # no history at all
    for kind in RiskModelKind:
        cfg = PortfolioConfig(lookback=80, n_factors=2, risk_model=kind)
        rm = estimate_risk(holes, holes.index[-1], cfg)
        assert np.isfinite(rm.covariance()).all()
        assert (np.linalg.eigvalsh(rm.covariance()) > 0).all()


def test_zscore_and_grinold_rule():
    scores = pd.Series([1.0, 2.0, 3.0, np.nan, 5.0], index=list("abcde"))
    z = pd.Series(zscore(scores.to_numpy(), clip=None), index=scores.index)
    assert z["d"] == 0.0
    assert z.drop("d").mean() == pytest.approx(0.0, abs=1e-12)
    assert z.drop("d").std(ddof=0) == pytest.approx(1.0)
    vol = pd.Series([0.01, 0.02, 0.03, 0.04, np.nan], index=list("abcde"))
    alpha = grinold_alphas(scores, vol, information_coefficient=0.05, clip=None)
    assert alpha["a"] == pytest.approx(0.05 * 0.01 * z["a"])
    assert alpha["d"] == 0.0 and alpha["e"] == 0.0  # no score / no volatility: no view
    assert (grinold_alphas(pd.Series(3.0, index=list("abc")), vol, 0.05) == 0).all()
    clipped = zscore(np.r_[np.zeros(50), 100.0], clip=3.0)
    assert clipped.max() == 3.0
