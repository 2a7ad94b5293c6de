"""The risk charts: the contributions chart names the largest assets and sums the rest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tasks.risk.plots import TOP_ASSETS, top_shares


def _assets(n: int, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    share = rng.normal(1.0 / n, 0.02, n)  # a long-short book: some shares are negative
    return pd.DataFrame({"asset": [f"A{i:03d}" for i in range(n)], "share": share})


def test_the_largest_absolute_shares_are_named_and_the_rest_is_one_bar():
    assets = _assets(100)
    shown = top_shares(assets)
    assert len(shown) == TOP_ASSETS + 1
    named = shown[~shown.asset.str.endswith("other assets")]
    biggest = assets.loc[assets.share.abs().nlargest(TOP_ASSETS).index]
    assert set(named.asset) == set(biggest.asset)  # negatives count by their size
    assert (assets.share < 0).any() and (named.share < 0).any()
    (other,) = shown[shown.asset.str.endswith("other assets")].itertuples()
    assert other.asset == f"{100 - TOP_ASSETS} other assets"
    # every asset's share is in the chart once: the total is the portfolio's volatility
    assert shown.share.sum() == pytest.approx(assets.share.sum(), rel=0, abs=1e-12)
    assert list(shown.share) == sorted(shown.share)  # drawn bottom-up by share


def test_a_small_book_is_drawn_whole():
    assets = _assets(TOP_ASSETS)
    shown = top_shares(assets)
    assert sorted(shown.asset) == sorted(assets.asset)
