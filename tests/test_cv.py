"""Purged walk-forward CV: label windows never overlap, embargo, scores against scipy."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from governance.ground.errors import InputError
from tasks.model.cv import (
    CVConfig,
    CVScheme,
    FoldScore,
    inner_split,
    make_folds,
    score_fold,
    summarise,
)
from tasks.model.stats import MIN_CROSS_SECTION, hit_rate, ic_by_date


def _long_dates(n_dates: int, n_assets: int, shuffle_seed: int | None = None) -> np.ndarray:
    dates = pd.bdate_range("2018-01-01", periods=n_dates).to_numpy()
    rows = np.repeat(dates, n_assets)
    if shuffle_seed is not None:
        np.random.default_rng(shuffle_seed).shuffle(rows)
    return rows


def _assert_purged(dates: np.ndarray, fold, horizon: int) -> None:
    """Row i's label window is (d_i, d_i + h] in date indices: no train/test overlap."""
    unique = np.unique(dates)
    idx = np.searchsorted(unique, dates)
    tr, te = idx[fold.train], idx[fold.test]
    assert len(tr) and len(te)
    # Windows (a, a+h] and (b, b+h] overlap iff |a - b| < h.
    gaps = np.abs(tr[:, None] - np.unique(te)[None, :]) if len(tr) < 20000 else None
    if gaps is not None:
        assert gaps.min() > horizon
    else:  # pragma: no cover - large inputs
        assert np.all((tr < te.min() - horizon) | (tr > te.max() + horizon))


@pytest.mark.parametrize("scheme", list(CVScheme))
def test_no_training_label_window_overlaps_a_test_window(scheme):
    dates = _long_dates(700, 4, shuffle_seed=1)
    cfg = CVConfig(scheme=scheme, n_folds=4, min_train_dates=120, train_window=150, embargo=7)
    folds = make_folds(dates, cfg, horizon=21)
    assert len(folds) == 4
    unique = np.unique(dates)
    idx = np.searchsorted(unique, dates)
    for fold in folds:
        _assert_purged(dates, fold, 21)
        assert not set(fold.train) & set(fold.test)
        test_idx = idx[fold.test]
        if scheme is CVScheme.PURGED_KFOLD:
            after = idx[fold.train][idx[fold.train] > test_idx.max()]
            if len(after):  # embargo: 7 more dates skipped past the purge
                assert after.min() >= test_idx.max() + 1 + 21 + 7
        else:
            assert idx[fold.train].max() < test_idx.min() - 21  # walk-forward: past only
        if scheme is CVScheme.ROLLING:
            assert len(np.unique(idx[fold.train])) <= 150
    # Test blocks are disjoint, contiguous and in time order.
    blocks = [np.unique(idx[f.test]) for f in folds]
    for a, b in itertools.pairwise(blocks):
        assert a.max() + 1 == b.min()
        assert np.all(np.diff(a) == 1)


@settings(max_examples=40, deadline=None)
@given(
    n_dates=st.integers(60, 400),
    horizon=st.integers(1, 30),
    n_folds=st.integers(2, 6),
    embargo=st.integers(0, 10),
    scheme=st.sampled_from(list(CVScheme)),
)
def test_purging_property(n_dates, horizon, n_folds, embargo, scheme):
    dates = _long_dates(n_dates, 2)
    cfg = CVConfig(scheme=scheme, n_folds=n_folds, min_train_dates=20, embargo=embargo)
    try:
        folds = make_folds(dates, cfg, horizon)
    except InputError:
        return  # too few dates for this configuration is a clean refusal
    unique = np.unique(dates)
    idx = np.searchsorted(unique, dates)
    for fold in folds:
        tr, te = idx[fold.train], idx[fold.test]
        if len(tr) == 0:
            continue
        assert np.all((tr + horizon < te.min()) | (tr > te.max() + horizon + embargo))


def test_inner_split_purges_before_the_validation_slice():
    dates = _long_dates(200, 3)
    fit, valid = inner_split(dates, 0.2, horizon=10)
    unique = np.unique(dates)
    f, v = np.searchsorted(unique, dates[fit]), np.searchsorted(unique, dates[valid])
    assert len(np.unique(v)) == 40
    assert f.max() + 10 < v.min()


def test_too_few_dates_is_an_input_error():
    with pytest.raises(InputError, match=r"model\.cv: 100 development dates"):
        make_folds(_long_dates(100, 2), CVConfig(n_folds=5, min_train_dates=252), 21)


def test_fold_ics_match_scipy_and_hit_rate_is_the_share_of_positive_days():
    rng = np.random.default_rng(0)
    dates = _long_dates(5, 30)
    pred = rng.standard_normal(len(dates))
    real = 0.3 * pred + rng.standard_normal(len(dates))
    real[3] = np.nan  # ignored
    rank = ic_by_date(dates, pred, real, rank=True)
    pear = ic_by_date(dates, pred, real, rank=False)
    for d in np.unique(dates):
        m = (dates == d) & np.isfinite(real)
        assert rank[d] == pytest.approx(stats.spearmanr(pred[m], real[m]).statistic, abs=1e-12)
        assert pear[d] == pytest.approx(stats.pearsonr(pred[m], real[m]).statistic, abs=1e-12)
    score = score_fold(0, dates, pred, real)
    assert score.rank_ic == pytest.approx(rank.mean(), abs=1e-15)
    assert score.hit_rate == hit_rate(rank) == (rank > 0).mean()
    # One day ordered right, one reversed: half the days have a positive IC.
    d2 = _long_dates(2, 5)
    x = np.tile(np.arange(5.0), 2)
    y = np.concatenate([x[:5], -x[5:]])
    assert score_fold(0, d2, x, y).hit_rate == 0.5
    assert score_fold(0, d2, x, x).hit_rate == 1.0


def test_a_cross_section_below_the_minimum_has_no_ic():
    d = _long_dates(1, MIN_CROSS_SECTION - 1)
    x = np.arange(float(MIN_CROSS_SECTION - 1))
    assert ic_by_date(d, x, x).empty
    d = _long_dates(1, MIN_CROSS_SECTION)
    x = np.arange(float(MIN_CROSS_SECTION))
    assert ic_by_date(d, x, x).iloc[0] == pytest.approx(1.0)


def test_summary_mean_and_dispersion():
    t = pd.Timestamp("2020-01-01")
    folds = [FoldScore(i, t, t, v, v / 2, 0.5, 10, 3) for i, v in enumerate([0.01, 0.03, 0.05])]
    s = summarise(folds)
    assert s.rank_ic_mean == pytest.approx(0.03)
    assert s.rank_ic_std == pytest.approx(0.02)
    assert s.ic_mean == pytest.approx(0.015)
    assert s.metrics()["cv_rank_ic_std"] == pytest.approx(0.02)
