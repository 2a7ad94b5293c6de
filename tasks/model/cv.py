"""Purged walk-forward cross-validation over dates, and the per-fold scores.

Folds split the *dates* of a long (date, asset) frame. A row at date index ``i`` carries a
label over the window ``(i, i+h]``. Purging (López de Prado 2018, *Advances in Financial
Machine Learning*, §7.4.1) removes from training every row whose label window overlaps a
test row's window: with the test block starting at date index ``a``, training keeps
``i <= a - h - 1``. The embargo (§7.4.2) additionally drops ``embargo`` dates of training
data that *follow* a test block (only schemes that train after the test block have any).

Schemes: ``expanding`` (walk-forward, all past dates), ``rolling`` (walk-forward, the last
``train_window`` dates) and ``purged_kfold`` (train on both sides, López de Prado's purged
k-fold, where the embargo matters).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from governance.ground.errors import InputError
from tasks.model.config import CVConfig, CVScheme
from tasks.model.stats import hit_rate, ic_by_date


@dataclass(frozen=True)
class Fold:
    """Row indices of one fold into the frame that produced it.

    Attributes
    ----------
    train, test : ndarray of int64
        Row positions (``iloc``), sorted.
    test_dates : (Timestamp, Timestamp)
        First and last test date.
    """

    train: np.ndarray
    test: np.ndarray
    test_dates: tuple[pd.Timestamp, pd.Timestamp]


def purged_train_dates(
    n_dates: int, test_start: int, test_end: int, *, horizon: int, embargo: int
) -> np.ndarray:
    """Boolean mask over date indices that may train a model tested on ``[test_start, test_end)``.

    Before the test block: ``i <= test_start - horizon - 1`` (purge). After it:
    ``i >= test_end - 1 + horizon + embargo + 1`` — the last test row's window
    ``(test_end-1, test_end-1+h]`` must end before the training row's window starts, and
    then ``embargo`` more dates are skipped.
    """
    i = np.arange(n_dates)
    before = i <= test_start - horizon - 1
    after = i >= test_end + horizon + embargo
    return before | after


def make_folds(dates: np.ndarray, cfg: CVConfig, horizon: int) -> tuple[Fold, ...]:
    """Purged folds over the dates of a long frame.

    Parameters
    ----------
    dates : array of datetime64, shape (n_rows,)
        The frame's ``date`` column (sorted or not; repeats are the assets of a date).
    cfg : CVConfig
    horizon : int
        Label horizon ``h`` in dates.

    Returns
    -------
    tuple of Fold
        Test blocks are contiguous, disjoint and in time order. Walk-forward schemes test
        the dates after ``min_train_dates`` and train only before each block.

    Raises
    ------
    InputError
        Too few dates for the requested folds.
    """
    unique, inverse = np.unique(dates, return_inverse=True)
    n = len(unique)
    walk_forward = cfg.scheme is not CVScheme.PURGED_KFOLD
    first_test = cfg.min_train_dates + horizon if walk_forward else 0
    if n - first_test < cfg.n_folds * 2:
        raise InputError(
            f"model.cv: {n} development dates are too few for {cfg.n_folds} folds "
            f"after {first_test} training dates"
        )
    bounds = np.linspace(first_test, n, cfg.n_folds + 1).round().astype(int)
    folds = []
    for a, b in itertools.pairwise(bounds):
        allowed = purged_train_dates(n, a, b, horizon=horizon, embargo=cfg.embargo)
        if walk_forward:
            allowed &= np.arange(n) < a
        if cfg.scheme is CVScheme.ROLLING:
            window = cfg.train_window or cfg.min_train_dates
            allowed &= np.arange(n) >= a - horizon - window
        test_mask = (np.arange(n) >= a) & (np.arange(n) < b)
        folds.append(
            Fold(
                train=np.flatnonzero(allowed[inverse]),
                test=np.flatnonzero(test_mask[inverse]),
                test_dates=(pd.Timestamp(unique[a]), pd.Timestamp(unique[b - 1])),
            )
        )
    return tuple(folds)


def inner_split(dates: np.ndarray, fraction: float, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Early-stopping split of a training window: the last ``fraction`` of its dates.

    Returns row positions ``(fit, valid)`` into ``dates``; the ``horizon`` dates before the
    validation slice are purged (used by neither).
    """
    unique, inverse = np.unique(dates, return_inverse=True)
    n = len(unique)
    start = n - max(1, round(fraction * n))
    allowed = purged_train_dates(n, start, n, horizon=horizon, embargo=0)
    return np.flatnonzero(allowed[inverse]), np.flatnonzero((np.arange(n) >= start)[inverse])


# ---------------------------------------------------------------------------------------
# Scores
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FoldScore:
    """Out-of-sample scores of one fold: mean daily rank IC and IC, and the share of dates
    with a positive rank IC (``hit_rate``)."""

    fold: int
    test_start: pd.Timestamp
    test_end: pd.Timestamp
    rank_ic: float
    ic: float
    hit_rate: float
    n_rows: int
    best_iteration: int


def score_fold(
    fold: int,
    dates: np.ndarray,
    prediction: np.ndarray,
    realised: np.ndarray,
    best_iteration: int = 0,
) -> FoldScore:
    """Scores of one fold's test rows (``realised`` = raw forward return at ``h``).

    The ICs and the hit rate (share of dates with a positive rank IC) follow
    :mod:`tasks.model.stats`, the same rules as the validator's holdout metrics.
    """
    rank_ic = ic_by_date(dates, prediction, realised, rank=True)
    return FoldScore(
        fold=fold,
        test_start=pd.Timestamp(np.min(dates)),
        test_end=pd.Timestamp(np.max(dates)),
        rank_ic=float(rank_ic.mean()),
        ic=float(ic_by_date(dates, prediction, realised, rank=False).mean()),
        hit_rate=hit_rate(rank_ic),
        n_rows=len(dates),
        best_iteration=int(best_iteration),
    )


@dataclass(frozen=True)
class CVSummary:
    """Mean and dispersion (sample standard deviation) of the fold scores."""

    folds: tuple[FoldScore, ...]
    rank_ic_mean: float
    rank_ic_std: float
    ic_mean: float
    ic_std: float
    hit_rate_mean: float
    hit_rate_std: float

    def metrics(self, prefix: str = "cv_") -> dict[str, float]:
        """Flat summary metrics, e.g. ``cv_rank_ic_mean``."""
        names = ("rank_ic_mean", "rank_ic_std", "ic_mean", "ic_std")
        names += ("hit_rate_mean", "hit_rate_std")
        return {f"{prefix}{k}": float(getattr(self, k)) for k in names}


def summarise(folds: tuple[FoldScore, ...] | list[FoldScore]) -> CVSummary:
    """Mean and standard deviation (ddof=1) across folds; NaN folds are ignored."""

    def stats(attr: str) -> tuple[float, float]:
        v = np.array([getattr(f, attr) for f in folds], dtype=float)
        v = v[np.isfinite(v)]
        if len(v) == 0:
            return float("nan"), float("nan")
        return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0

    r, i, h = stats("rank_ic"), stats("ic"), stats("hit_rate")
    return CVSummary(tuple(folds), r[0], r[1], i[0], i[1], h[0], h[1])
