"""An honest count of what was tried (issue 26, item 7), with real LightGBM and MLflow.

The deflated Sharpe ratio's ``N`` is keyed to the search (features, hyperparameters,
horizon, sources) and the data (tasks/model/trials.py), not the strategy's name. One module
workspace trains, in order, on a 40-asset synthetic market:

1. ``alpha`` on its first 800 days, search S1 (2 points)            -> 2 trials
2. ``alpha`` again, unchanged, on all 900 days (new data)           -> still 2
3. ``beta`` (a rename) on the 900 days, search S1 + one new point   -> 3
4. ``alpha`` on another market (seed 9), S1                         -> 2 (other data)

Keyed to the name, as before, these were 2, 4, 3 and 6: the rename reset the count and
each retrain added its trials again. Validation counts the same way, and counts the looks
at each sealed holdout.
"""

from __future__ import annotations

import pytest

from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action, Subject
from governance.policy.schema import Tier, ValidationPolicy
from tasks.data.synthetic import SyntheticSpec
from tasks.model.trials import SAME_DATA, data_sketch, overlap
from tests.helpers_identity import signer
from tests.helpers_train import (
    dev_val_workspace,
    older_panel,
    synthetic_panel,
    train_synthetic,
)
from validation.config import ValidationConfig

DEV, VAL = "dev-alice", "val-bob"
S1 = [{}, {"num_leaves": 3}]
NEW_POINT = {"num_leaves": 15}
SPEC = SyntheticSpec(n_assets=40, n_days=900, ic=0.05, seed=1)
CFG = ValidationConfig(shap_sample=300, cscv_partitions=4)


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    yield from dev_val_workspace(
        tmp_path_factory, "trials", ((DEV, "developer"), (VAL, "validator"))
    )


@pytest.fixture(scope="module")
def runs(ws):
    full = synthetic_panel(SPEC)
    out = {}
    out["alpha_old"], _ = train_synthetic(
        ws, model={"name": "alpha", "search": S1}, panel=older_panel(full, 800)
    )
    out["alpha_new"], _ = train_synthetic(ws, model={"name": "alpha", "search": S1}, panel=full)
    out["beta"], _ = train_synthetic(
        ws, model={"name": "beta", "search": [*S1, NEW_POINT]}, panel=full
    )
    other = synthetic_panel(SyntheticSpec(n_assets=40, n_days=900, ic=0.05, seed=9))
    out["alpha_other"], _ = train_synthetic(ws, model={"name": "alpha", "search": S1}, panel=other)
    return out


def _validate(ws, name, version, tier=None):
    from governance.decisions.context import RunContext
    from validation.run import validate_model_version

    ctx = RunContext.open(ws, actor=DEV, role="developer", policy_hash="p" * 64)
    try:
        proven = signer(ws, VAL, ctx.ledger)
        return validate_model_version(
            ctx,
            ModelRef.parse(name, version),
            CFG,
            tier or Tier(),
            validator=proven,
            tier_name="high",
        )
    finally:
        ctx.close()


# ---------------------------------------------------------------- the data sketch


def test_sketch_overlap_tells_a_retrain_from_another_market():
    """A rename overlaps 1, an extension ~1 (the old rows are in the new), another market 0.

    The Jaccard estimate from 128 hashes has a standard error of at most 0.044, so the
    bounds below sit more than five standard errors from :data:`SAME_DATA` = 0.5.
    """
    from tasks.model.dataset import build_frame
    from tasks.model.features import FeaturesConfig

    fcfg = FeaturesConfig(horizon=5)
    full = synthetic_panel(SPEC)
    frame = build_frame(full, fcfg)
    older = build_frame(older_panel(full, 700), fcfg)
    other = build_frame(synthetic_panel(SyntheticSpec(n_assets=40, n_days=900, seed=9)), fcfg)
    one_less = frame[frame["asset"] != frame["asset"].iloc[0]]
    a = data_sketch(frame)
    assert overlap(a, data_sketch(frame.sample(frac=1.0, random_state=0))) == 1.0
    assert overlap(a, data_sketch(older)) > 0.75 > SAME_DATA
    assert overlap(a, data_sketch(one_less)) > 0.75
    assert overlap(a, data_sketch(other)) < 0.25


# ---------------------------------------------------------------- training's count


def _trained(ws, res):
    from governance.log.ledger import Ledger

    with Ledger.open(ws) as ledger:
        (entry,) = ledger.entries_between(res.ledger_seq, res.ledger_seq)
    return entry.payload


def test_retrain_on_new_data_keeps_the_count(ws, runs):
    old, new = _trained(ws, runs["alpha_old"]), _trained(ws, runs["alpha_new"])
    assert old["trials_total"] == 2
    assert new["trials_total"] == 2  # keyed to the name it was 4: S1 counted twice
    assert old["trial_keys"] == new["trial_keys"]
    assert old["data_sketch"] != new["data_sketch"]  # the data did change


def test_rename_keeps_the_count_and_a_new_search_point_adds_one(ws, runs):
    beta = _trained(ws, runs["beta"])
    assert runs["beta"].trials_total == beta["trials_total"] == 3  # by name: 3 from zero
    assert beta["trial_keys"][:2] == _trained(ws, runs["alpha_new"])["trial_keys"]


def test_another_market_is_another_count(ws, runs):
    assert _trained(ws, runs["alpha_other"])["trials_total"] == 2  # by name: 6


# ---------------------------------------------------------------- validation's count, looks


@pytest.fixture(scope="module")
def validated(ws, runs):
    first = _validate(ws, "alpha", runs["alpha_new"].version)
    second = _validate(ws, "beta", runs["beta"].version)
    again = _validate(ws, "beta", runs["beta"].version)
    capped = Tier(validation=ValidationPolicy(max_holdout_looks=1, adjust_for_holdout_looks=True))
    strict = _validate(ws, "beta", runs["beta"].version, capped)
    return first, second, again, strict


def test_validation_counts_distinct_trials_on_the_data(validated):
    _, second, _, _ = validated
    over = second.metrics["overfitting"]
    assert over["n_trials"] == 3  # alpha's S1 (twice) and beta's new point, not 2 + 2 + 3
    assert over["pbo"]["n_strategies"] == 3  # one series per distinct trial
    assert over["trial_sharpe_variance_annual"] > 0


def test_holdout_looks_are_counted_per_fingerprint_and_model(ws, runs, validated):
    from governance.log.ledger import Ledger

    first, second, again, strict = validated
    assert first.holdout_fingerprint == second.holdout_fingerprint  # same data and features
    assert first.metrics["overfitting"]["holdout_looks"] == 1
    assert second.metrics["overfitting"]["holdout_looks"] == 2
    assert again.metrics["overfitting"]["holdout_looks"] == 2  # the same model again
    assert "holdout_looks_above_max" not in {f.check for f in second.findings}
    with Ledger.open(ws) as ledger:
        entry = ledger.last(
            action=Action.VALIDATION_COMPLETED, subject=Subject.model("beta", runs["beta"].version)
        )
    assert entry.payload["holdout_looks"] == 2
    # The policy caps or adjusts: one look allowed -> critical; the t-stat bar rises
    # (Bonferroni over 2 looks: 2.0 -> Phi^-1(1 - 0.022750 / 2) = 2.2776).
    checks = {f.check: f for f in strict.findings}
    assert checks["holdout_looks_above_max"].severity == "critical"
    assert strict.verdict == "fail"
    assert strict.metrics["overfitting"]["ic_tstat_bar"] == pytest.approx(2.2776, abs=1e-4)


def test_the_run_summary_says_the_cv_rank_ic_is_the_best_of_n_and_shows_the_mean():
    from tasks.model.candidate import Trained, trials_mean_ic

    trials = [{"cv_rank_ic_mean": 0.03}, {"cv_rank_ic_mean": 0.01}, {"cv_rank_ic_mean": None}]
    mean = trials_mean_ic(trials)
    assert mean == pytest.approx(0.02)
    found = Trained("s", 1, "r", 0.03, 0.004, 3, False, mean, 7)
    assert found.cv_headline() == (
        "+0.0300 ± 0.0040 (best of 3 trials; mean over trials +0.0200; "
        "7 distinct trials on this data)"
    )
    assert Trained("s", 1, "r", None, None, None, True).cv_headline() == "n/a"
