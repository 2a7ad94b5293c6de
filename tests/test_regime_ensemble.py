"""The regime ensemble challenger (issue 26): one model per regime, the date's regime choosing.

A market whose one-week reversal pays only while the market is volatile. One workspace
trains, on the same data and the same search (two points), a plain model (v1) and the
regime ensemble (v2: ``lightgbm.regime_gate: mkt_high_vol``, every tree split first on the
gate), through the governed chain (real LightGBM, MLflow, ledger), validates v2 as a
validator, and reads the champion's challengers from the ledger.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from governance.ground.errors import InputError
from governance.ground.refs import ModelRef
from tests.helpers_forge import forge
from tests.helpers_identity import signer
from tests.helpers_train import dev_val_workspace, panel_from_long, train_synthetic
from validation.config import ValidationConfig

DEV, VAL = "dev-alice", "val-bob"
NAME = "regimes"
FEATURES = {"names": ["rev_1w", "mom_1m", "vol_1m", "mkt_high_vol"], "horizon": 5}
SEARCH = [{}, {"num_leaves": 3}]
CFG = ValidationConfig(shap_sample=300, cscv_partitions=4)


def reversal_in_volatile_markets(n_assets=60, n_days=1300, seed=5) -> pd.DataFrame:
    """Long ``date, asset, close``: market volatility 0.6 % or 2.4 % a day in stretches of
    about 120 days; the next day's return loads on minus the cross-sectional z-score of the
    last 5 days' return (0.4 % per sd) only in the volatile state."""
    rng = np.random.default_rng(seed)
    state = np.zeros(n_days, dtype=int)
    for t in range(1, n_days):
        state[t] = state[t - 1] if rng.random() < 1 - 1 / 120 else 1 - state[t - 1]
    logp = np.zeros((n_days, n_assets))
    beta = rng.normal(1.0, 0.2, n_assets)
    for t in range(1, n_days):
        r = rng.normal(0, 0.024 if state[t] else 0.006) * beta + rng.normal(0, 0.01, n_assets)
        if state[t] and t > 5:
            past = logp[t - 1] - logp[t - 6]
            r += -0.004 * (past - past.mean()) / past.std()
        logp[t] = logp[t - 1] + r
    dates = pd.bdate_range("2012-01-02", periods=n_days)
    return pd.DataFrame({
        "date": np.repeat(dates, n_assets),
        "asset": np.tile([f"A{i:02d}" for i in range(n_assets)], n_days),
        "close": 100 * np.exp(logp).ravel(),
    })  # fmt: skip


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    yield from dev_val_workspace(
        tmp_path_factory, "regime-ensemble", ((DEV, "developer"), (VAL, "validator"))
    )


@pytest.fixture(scope="module")
def trained(ws):
    panel = panel_from_long(reversal_in_volatile_markets())
    model = {"name": NAME, "search": SEARCH, "holdout_fraction": 0.25}
    plain, _ = train_synthetic(ws, model=model, features=FEATURES, panel=panel)
    gated = {**model, "lightgbm": {"num_boost_round": 30, "early_stopping_rounds": 10,
                                   "regime_gate": "mkt_high_vol"}}  # fmt: skip
    ensemble, _ = train_synthetic(ws, model=gated, features=FEATURES, panel=panel)
    return plain, ensemble


def _validate(ws, version):
    from governance.decisions.context import RunContext
    from governance.policy.schema import Tier
    from validation.run import validate_model_version

    ctx = RunContext.open(ws, actor=DEV, role="developer", policy_hash="p" * 64)
    try:
        proven = signer(ws, VAL, ctx.ledger)
        return validate_model_version(
            ctx, ModelRef.parse(NAME, version), CFG, Tier(), validator=proven, tier_name="high"
        )
    finally:
        ctx.close()


def test_the_gate_is_a_point_in_time_market_state_not_normalised():
    """``mkt_high_vol`` is 0 or 1, one value per date for every asset, and its value at t
    does not change when later prices are cut off."""
    from tasks.model.features import FeaturesConfig, compute_features

    panel = panel_from_long(reversal_in_volatile_markets(n_assets=10, n_days=600))
    cfg = FeaturesConfig(names=("mkt_high_vol",))
    full = compute_features(panel, cfg).dropna()
    assert set(full["mkt_high_vol"].unique()) == {0.0, 1.0}
    assert (full.groupby("date")["mkt_high_vol"].nunique() == 1).all()
    from dataclasses import replace

    cut = replace(panel, close=panel.close.iloc[:450])
    head = compute_features(cut, cfg).dropna()
    merged = head.merge(full, on=["date", "asset"], suffixes=("_cut", "_full"))
    assert len(merged) == len(head) > 0
    assert (merged["mkt_high_vol_cut"] == merged["mkt_high_vol_full"]).all()
    from tasks.model.features import FEATURES

    assert "mkt_high_vol" not in {f.name for f in FEATURES}  # never a default feature


def test_every_tree_of_the_ensemble_splits_first_on_the_regime(ws, trained):
    """The registered v2 is one model per regime: each tree's root is the gate (LightGBM
    forced split), so a row's score comes only from its regime's subtrees; v1's are not."""
    from governance.registry.recorder import load_model

    plain, ensemble = trained
    roots = {}
    for r in (plain, ensemble):
        _, booster, _ = load_model(ws, ModelRef.parse(NAME, r.version), flavor="lightgbm")
        booster = getattr(booster, "booster_", booster)
        names = booster.feature_name()
        roots[r.version] = {
            names[t["tree_structure"]["split_feature"]]
            for t in booster.dump_model()["tree_info"]
            if "split_feature" in t["tree_structure"]
        }
    assert roots[ensemble.version] == {"mkt_high_vol"}
    assert roots[plain.version] != {"mkt_high_vol"}


def test_its_trials_count_in_the_strategy_total_and_it_is_validated(ws, trained):
    """Same data, same two search points plus the gate: two new trials (2 -> 4); the
    validation's deflated Sharpe ratio uses N = 4 and the report shows the regimes."""
    plain, ensemble = trained
    assert (plain.trials_total, ensemble.trials_total) == (2, 4)
    result = _validate(ws, ensemble.version)
    over = result.metrics["overfitting"]
    assert over["n_trials"] == 4
    assert set(result.metrics["metrics"]["ic_by_state"]) == {"volatility", "trend", "fitted"}
    # the validator's replica makes the gate's forced first split too (validation/replication.py)
    assert "replication_mismatch" not in {f.check for f in result.findings}


def test_a_validated_ensemble_is_listed_among_the_challengers(ws, trained):
    """Listed once a validator has validated it; the plain v1 is not an ensemble; an
    ensemble never validated is not listed."""
    from governance.decisions.challengers import REGIME_ENSEMBLE, shadow_versions
    from governance.log.ledger import Ledger

    plain, ensemble = trained
    with Ledger.open(ws) as ledger:
        listed = shadow_versions(ledger, NAME)
    assert (REGIME_ENSEMBLE, ensemble.version) in listed
    assert all(v != plain.version for _, v in listed)
    gated = {"name": NAME, "search": [{"num_leaves": 5}], "holdout_fraction": 0.25,
             "lightgbm": {"num_boost_round": 30, "regime_gate": "mkt_high_vol"}}  # fmt: skip
    panel = panel_from_long(reversal_in_volatile_markets())
    unvalidated, _ = train_synthetic(ws, model=gated, features=FEATURES, panel=panel)
    with Ledger.open(ws) as ledger:
        assert all(v != unvalidated.version for _, v in shadow_versions(ledger, NAME))


def test_a_gate_missing_from_the_features_is_one_clear_line(ws):
    from tasks.model.train import LightGBMParams, fit_booster

    x = np.random.default_rng(0).standard_normal((300, 2))
    with pytest.raises(InputError, match="regime_gate: 'mkt_high_vol' is not among the features"):
        fit_booster(x, x[:, 0], ["a", "b"], LightGBMParams(regime_gate="mkt_high_vol"))


def test_a_verdict_row_edited_in_place_stops_the_listing(ws, trained):
    """After a ``ledger verify``, the genuine verdict's row has its ``role`` edited and its
    entry hash recomputed (as a DBA can). Read as the rebalance reads it (its run context's
    :class:`~governance.log.readtime.VerifiedReader`), the listing stops naming the entry
    (TamperDetected: exit 3) instead of listing or silently dropping it."""
    from test_ledger_support import raw_sql

    from flows.cli import main
    from governance.decisions.challengers import REGIME_ENSEMBLE, shadow_versions
    from governance.ground.errors import TamperDetected
    from governance.ground.vocabulary import Action, Subject
    from governance.log.chain import compute_entry_hash
    from governance.log.ledger import Ledger
    from governance.log.readtime import VerifiedReader

    assert main(["ledger", "verify"]) == 0
    with Ledger.open(ws) as ledger:
        genuine = ledger.last(Action.VALIDATION_COMPLETED, Subject.model(NAME, trained[1].version))
        url = ledger.url
    fields = {**genuine.__dict__, "role": "risk_officer", "payload": None}
    raw_sql(url, "UPDATE ledger_entries SET role = :r, entry_hash = :eh WHERE seq = :s",
            r="risk_officer", eh=compute_entry_hash(fields), s=genuine.seq)  # fmt: skip
    try:
        with (
            Ledger.open(ws) as ledger,
            pytest.raises(TamperDetected, match=f"ledger entry {genuine.seq}"),
        ):
            shadow_versions(VerifiedReader(ledger), NAME)
    finally:  # the row put back, for the next test
        raw_sql(url, "UPDATE ledger_entries SET role = :r, entry_hash = :eh WHERE seq = :s",
                r=genuine.role, eh=genuine.entry_hash, s=genuine.seq)  # fmt: skip
    with Ledger.open(ws) as ledger:
        assert (REGIME_ENSEMBLE, trained[1].version) in shadow_versions(
            VerifiedReader(ledger), NAME
        )


def test_a_forged_verdict_lists_no_ensemble(ws, trained):
    """The attacker (the developer) appends an unsigned ``validation.completed`` of a never-validated ensemble whose row says ``role:
    validator``. The listing read that column; it reads the valid signed verdict
    (governance/findings/verdict.py), so the forged version is not listed."""
    from governance.decisions.challengers import shadow_versions
    from governance.ground.vocabulary import Action, Subject
    from governance.log.ledger import Ledger
    from governance.log.readtime import VerifiedReader

    gated = {"name": NAME, "search": [{"num_leaves": 4}], "holdout_fraction": 0.25,
             "lightgbm": {"num_boost_round": 30, "regime_gate": "mkt_high_vol"}}  # fmt: skip
    panel = panel_from_long(reversal_in_volatile_markets())
    forged_for, _ = train_synthetic(ws, model=gated, features=FEATURES, panel=panel)
    with Ledger.open(ws) as ledger:
        genuine = ledger.last(Action.VALIDATION_COMPLETED, Subject.model(NAME, trained[1].version))
        forge(ledger, Action.VALIDATION_COMPLETED, actor=DEV, role="validator",
              subject=Subject.model(NAME, forged_for.version),
              payload={k: v for k, v in genuine.payload.items()
                       if k not in ("signature", "signed", "signer", "public_key")})  # fmt: skip
        listed = {v for _, v in shadow_versions(VerifiedReader(ledger), NAME)}
    assert trained[1].version in listed and forged_for.version not in listed
