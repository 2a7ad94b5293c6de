"""Ground truth: CV recovers a planted signal's strength, and finds none where none is.

The synthetic market (``tasks.data.synthetic``) plants a cross-sectional rank IC of 0.05 between
the trailing 63-day return and the 21-day forward return. Over 4 seeds × 5 purged
walk-forward folds (100 assets × 1,500 days each) we pool the 20 fold-level mean rank ICs.

Stated interval. The pooled mean's standard error is computed from the 20 folds
(``se = sd / sqrt(20)``); sampling theory puts it near 0.007 (the daily rank IC of 100
assets has sd ≈ 1/√100 = 0.1; a fold of ~190 test dates holds ~9 independent 21-day
windows: fold sd ≈ 0.03, pooled ≈ 0.03 / √20), and fold-to-fold differences in what the
model learnt widen it (measured 0.010). The planted strength bounds the pooled mean on
both sides: it must be significantly above zero, ``mean > 2 se`` (the signal is found), and
not significantly above the planted IC, ``mean < 0.05 + 3 se`` (at this size a model
cannot learn more than was planted; estimation error only costs: with R² ≈ 0.0025 a model
fitted on 20-80k rows keeps part of it, which is why no lower bound near 0.05 is claimed).
On the zero-signal market the pooled mean must not differ from zero at the 1 % level
(``|mean| < 2.58 se``). Fixed seeds make the test deterministic; measured: 0.027
(se 0.010) at ic=0.05 and 0.001 at ic=0.

The model is a linear-leaf stump (``linear_tree``), the smallest LightGBM model that can
represent a monotone linear relation without many boosting rounds.
"""

from __future__ import annotations

import numpy as np
import pytest

from tasks.data.synthetic import SyntheticSpec
from tasks.model.dataset import build_frame, split_dates
from tasks.model.features import FeaturesConfig
from tasks.model.train import ModelConfig, run_trial
from tests.helpers_train import synthetic_panel

PLANTED = 0.05
SEEDS = (0, 1, 2, 3)
MODEL = ModelConfig(
    cv={"n_folds": 5, "min_train_dates": 252},
    lightgbm={
        "num_boost_round": 100,
        "early_stopping_rounds": 30,
        "num_leaves": 2,
        "learning_rate": 0.1,
        "min_data_in_leaf": 2000,
        "linear_tree": True,
        "num_threads": 1,
    },
    search=[{}],
)


def _fold_rank_ics(ic: float, seed: int) -> list[float]:
    panel = synthetic_panel(SyntheticSpec(n_assets=100, n_days=1500, ic=ic, seed=seed))
    frame = build_frame(panel, FeaturesConfig())
    dev_dates, _ = split_dates(
        frame["date"].to_numpy(), horizon=21, holdout_start=None, holdout_fraction=0.2
    )
    dev = frame[frame["date"] <= dev_dates[-1]].reset_index(drop=True)
    trial = run_trial(dev, frame.attrs["features"], 21, MODEL, MODEL.trial_params()[0])
    return [f.rank_ic for f in trial.cv.folds]


def _pooled(ic: float) -> tuple[float, float]:
    """Pooled mean of the fold rank ICs over every seed, and its standard error."""
    v = np.array([x for s in SEEDS for x in _fold_rank_ics(ic, s)])
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v)))


def test_planted_signal_is_recovered_within_the_stated_interval():
    mean, se = _pooled(PLANTED)
    assert 2.0 * se < mean < PLANTED + 3.0 * se, (mean, se)


def test_zero_signal_is_indistinguishable_from_zero():
    mean, se = _pooled(0.0)
    assert abs(mean) < 2.58 * se, (mean, se)


@pytest.mark.slow
def test_planted_signal_at_scale():
    """Heavier: 300 assets × 2,000 days, one seed; sampling noise no longer dominates.

    Only a lower bound: at this size the model can *exceed* the planted IC (measured 0.091
    against 0.056 for the planted characteristic itself on this seed), because the
    characteristic's path over the next 21 days is partly known at t — the 63-to-84-day-old
    returns that leave its window are in the longer momentum features.
    """
    panel = synthetic_panel(SyntheticSpec(n_assets=300, n_days=2000, ic=PLANTED, seed=11))
    frame = build_frame(panel, FeaturesConfig())
    dev_dates, _ = split_dates(
        frame["date"].to_numpy(), horizon=21, holdout_start=None, holdout_fraction=0.2
    )
    dev = frame[frame["date"] <= dev_dates[-1]].reset_index(drop=True)
    trial = run_trial(dev, frame.attrs["features"], 21, MODEL, MODEL.trial_params()[0])
    folds = np.array([f.rank_ic for f in trial.cv.folds])
    assert folds.mean() / (folds.std(ddof=1) / np.sqrt(len(folds))) > 2.0
