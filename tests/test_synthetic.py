"""The synthetic market: shape, determinism, plausibility and the planted signal's strength."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from governance.ground.errors import InputError
from tasks.data.synthetic import SyntheticSpec, generate_market, planted_characteristic
from tasks.model.stats import forward_returns, panel_ic

# Standard error of the mean daily rank IC with 500 assets × 1,260 days: daily IC sd is
# ~1/sqrt(500) = 0.045, and 21-day forward returns overlap, leaving ~1,200/21 ≈ 57
# independent days: se ≈ 0.006. The tolerance is ~2.5 se plus the derivation's
# approximation error (measured < 0.003 over seeds 0-1).
IC_TOL = 0.015


def _close(long: pd.DataFrame) -> pd.DataFrame:
    return long.pivot(index="date", columns="asset", values="close").sort_index()


def _mean_ic(long: pd.DataFrame, horizon: int = 21) -> float:
    return float(
        panel_ic(planted_characteristic(long), forward_returns(_close(long), horizon)).mean()
    )


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return generate_market(SyntheticSpec(n_assets=30, n_days=300, seed=3))


def test_long_table_shape_and_types(small):
    assert list(small.columns) == ["date", "asset", "close", "volume", "sector"]
    assert len(small) == 30 * 300
    assert small["date"].dtype == "datetime64[ns]"
    assert (small["date"].dt.dayofweek < 5).all()
    assert small["asset"].iloc[0] == "A0000"
    assert small.groupby("asset").size().eq(300).all()
    assert not small.isna().any().any()
    assert not small.duplicated(["date", "asset"]).any()
    assert small["sector"].nunique() == 5


def test_deterministic_in_seed(small):
    again = generate_market(SyntheticSpec(n_assets=30, n_days=300, seed=3))
    pd.testing.assert_frame_equal(small, again)
    other = generate_market(SyntheticSpec(n_assets=30, n_days=300, seed=4))
    assert not np.allclose(small["close"].to_numpy(), other["close"].to_numpy())


def test_prices_positive_and_daily_vol_plausible(small):
    close = small.pivot(index="date", columns="asset", values="close")
    assert (close > 0).all().all()
    vol = close.pct_change().std()
    assert vol.between(0.01, 0.03).all(), vol.describe()


def test_without_volume():
    long = generate_market(SyntheticSpec(n_assets=5, n_days=10, with_volume=False))
    assert "volume" not in long.columns


@pytest.mark.parametrize("ic", [0.05, 0.0])
def test_planted_rank_ic_matches_target(ic):
    long = generate_market(SyntheticSpec(n_assets=500, n_days=1260, ic=ic, seed=0))
    assert abs(_mean_ic(long) - ic) < IC_TOL


def test_signal_flips_after_flip_day():
    long = generate_market(SyntheticSpec(n_assets=300, n_days=800, ic=0.1, flip_day=400))
    ic = panel_ic(planted_characteristic(long), forward_returns(_close(long), 21))
    dates = sorted(long["date"].unique())
    before = ic[ic.index < dates[400 - 21]].mean()
    after = ic[ic.index >= dates[400]].mean()
    assert before > 0.05
    assert after < -0.05


def test_characteristic_is_a_63_day_zscore(small):
    z = planted_characteristic(small)
    assert z.iloc[:63].isna().all().all()
    row = z.iloc[100]
    assert abs(row.mean()) < 1e-9 and abs(row.std(ddof=0) - 1) < 1e-9


def test_invalid_spec_names_field():
    with pytest.raises(InputError, match="n_assets"):
        SyntheticSpec(n_assets=0)
    with pytest.raises(InputError, match="flip_day"):
        SyntheticSpec(n_days=10, flip_day=11)
