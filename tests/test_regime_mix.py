"""The regime ensemble combined by the regime probabilities, through the governed chain
(issue 26 item 6).

The market of tests/test_regime_ensemble.py (a one-week reversal that pays only while the
market is volatile). One workspace trains, on the same data and the same search (two
points), a plain model (v1) and the probability-combined ensemble (v2:
``lightgbm.regime_mix: mkt_p_turbulent``: one booster per regime, each row weighted by the
filtered HMM probability, predicting ``sum_s p_s f_s``), validates v2 as a validator and
reads the champion's challengers from the ledger. The attacker swaps one of the K booster
files in the MLflow store after approval: the load at the moment of use refuses it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

from governance.ground.errors import InputError, TamperDetected
from governance.ground.refs import ModelRef
from tests.helpers_identity import signer
from tests.helpers_train import dev_val_workspace, panel_from_long, train_synthetic
from tests.test_regime_ensemble import reversal_in_volatile_markets
from validation.config import ValidationConfig

DEV, VAL = "dev-alice", "val-bob"
NAME = "regime-mix"
WEIGHT = "mkt_p_turbulent"
FEATURES = {"names": ["rev_1w", "mom_1m", "vol_1m", WEIGHT], "horizon": 5}
SEARCH = [{}, {"num_leaves": 3}]
CFG = ValidationConfig(shap_sample=300, cscv_partitions=4)
MIXED = {"name": NAME, "search": SEARCH, "holdout_fraction": 0.25,
         "lightgbm": {"num_boost_round": 30, "early_stopping_rounds": 10, "regime_mix": WEIGHT}}  # fmt: skip


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    yield from dev_val_workspace(
        tmp_path_factory, "regime-mix", ((DEV, "developer"), (VAL, "validator"))
    )


@pytest.fixture(scope="module")
def trained(ws):
    panel = panel_from_long(reversal_in_volatile_markets())
    model = {"name": NAME, "search": SEARCH, "holdout_fraction": 0.25}
    plain, _ = train_synthetic(ws, model=model, features=FEATURES, panel=panel)
    ensemble, split = train_synthetic(ws, model=MIXED, features=FEATURES, panel=panel)
    return plain, ensemble, split


@pytest.fixture(scope="module")
def validated(ws, trained):
    from governance.decisions.context import RunContext
    from governance.policy.schema import Tier
    from validation.run import validate_model_version

    ctx = RunContext.open(ws, actor=DEV, role="developer", policy_hash="p" * 64)
    try:
        proven = signer(ws, VAL, ctx.ledger)
        return validate_model_version(
            ctx, ModelRef.parse(NAME, trained[1].version), CFG, Tier(), validator=proven,
            tier_name="high",
        )  # fmt: skip
    finally:
        ctx.close()


def _trained_entry(ws, run_id: str) -> dict:
    from governance.ground.vocabulary import Action, Subject
    from governance.log.ledger import Ledger

    with Ledger.open(ws) as ledger:
        entries = ledger.entries(action=Action.MODEL_TRAINED, subject=Subject.strategy(NAME))
    return next(e.payload for e in entries if e.payload.get("mlflow_run_id") == run_id)


def booster_files(ws, version) -> dict[str, Path]:
    """The version's booster files in the workspace's MLflow artifact store, by state."""
    from governance.registry.recorder import mlflow_client

    uri = mlflow_client(ws).get_model_version_download_uri(NAME, str(version))
    return {
        p.stem.removeprefix("booster-"): p for p in Path(urlparse(uri).path).rglob("booster-*.txt")
    }


def test_the_registered_model_is_the_boosters_combined_by_the_probability(ws, trained):
    """v2's files hold one booster per regime; its prediction is ``(1-p) f_calm + p
    f_turbulent`` of those very files, the signed ``model_hash`` is their concatenation,
    and ``model.trained`` names the ensemble ``{kind: regime, mix: mkt_p_turbulent}``."""
    import lightgbm as lgb

    from governance.ground.canonical import sha256_bytes
    from governance.registry.recorder import load_model
    from tasks.model.regimes import HMM_STATES
    from tasks.model.scoring import load_scoring_model

    _, ensemble, split = trained
    payload = _trained_entry(ws, ensemble.mlflow_run_id)
    assert payload["ensemble"] == {"kind": "regime", "mix": WEIGHT}
    assert _trained_entry(ws, trained[0].mlflow_run_id)["ensemble"] is None
    files = booster_files(ws, ensemble.version)
    assert sorted(files) == sorted(HMM_STATES)
    boosters = [lgb.Booster(model_file=str(files[s])) for s in HMM_STATES]
    text = b"".join(b.model_to_string().encode("utf-8") for b in boosters)
    assert sha256_bytes(text) == payload["model_hash"] == ensemble.model_hash
    rows = split.dev.tail(400)
    x = rows[["rev_1w", "mom_1m", "vol_1m"]].to_numpy(float)
    p = rows[WEIGHT].to_numpy(float)
    assert 0 < p.min() < p.max() < 1  # the rows span both regimes' weights
    expected = (1 - p) * boosters[0].predict(x) + p * boosters[1].predict(x)
    model = load_scoring_model(ws, ModelRef.parse(NAME, ensemble.version))
    assert model.features == tuple(FEATURES["names"])
    np.testing.assert_allclose(model.predict(rows).to_numpy(), expected, rtol=0, atol=1e-12)
    assert not np.allclose(boosters[0].predict(x), boosters[1].predict(x))  # two models
    _, native, _ = load_model(ws, ModelRef.parse(NAME, ensemble.version), flavor="native")
    assert len(native.boosters) == 2


def test_its_trials_count_in_the_strategy_total_and_it_is_validated(trained, validated):
    """Same data, same two search points plus the mix: two new trials (2 -> 4); the
    validation's deflated Sharpe ratio uses N = 4; the validator's replica (K boosters
    refitted from the signed recipe) predicts as the registered model does."""
    plain, ensemble, _ = trained
    assert (plain.trials_total, ensemble.trials_total) == (2, 4)
    assert validated.metrics["overfitting"]["n_trials"] == 4
    assert "replication_mismatch" not in {f.check for f in validated.findings}
    rep = validated.metrics["replication"]
    assert rep["available"] and rep["matches"] and rep["same_bytes"], rep


def test_the_validated_mix_ensemble_is_listed_among_the_challengers(ws, trained, validated):
    from governance.decisions.challengers import REGIME_ENSEMBLE, shadow_versions
    from governance.log.ledger import Ledger

    plain, ensemble, _ = trained
    with Ledger.open(ws) as ledger:
        listed = shadow_versions(ledger, NAME)
    assert (REGIME_ENSEMBLE, ensemble.version) in listed
    assert all(v != plain.version for _, v in listed)


def test_a_swapped_booster_file_is_refused_at_use(ws, trained, validated):
    """After the hash the approvals sign is taken, the attacker copies the calm booster
    over the turbulent one in the MLflow store (a valid model file: loaded unchecked, it
    scores otherwise, asserted so the test can fail). Loaded with the signed hash, as
    scoring loads the champion, it is refused (TamperDetected, exit 3)."""
    from governance.registry.recorder import mlflow_client
    from governance.registry.versions import model_artifact_hash
    from tasks.model.scoring import load_scoring_model

    _, ensemble, split = trained
    ref = ModelRef.parse(NAME, ensemble.version)
    signed = model_artifact_hash(mlflow_client(ws), ref)
    rows = split.dev.tail(200)
    genuine = load_scoring_model(
        ws, ModelRef.parse(NAME, ensemble.version), expected_hash=signed
    ).predict(rows)
    files = booster_files(ws, ensemble.version)
    kept = files["turbulent"].read_bytes()
    shutil.copyfile(files["calm"], files["turbulent"])
    try:
        swapped = load_scoring_model(ws, ModelRef.parse(NAME, ensemble.version)).predict(rows)
        assert not np.allclose(swapped.to_numpy(), genuine.to_numpy())
        with pytest.raises(TamperDetected, match="model files altered") as caught:
            load_scoring_model(ws, ModelRef.parse(NAME, ensemble.version), expected_hash=signed)
        assert caught.value.exit_code == 3
    finally:
        files["turbulent"].write_bytes(kept)


def test_a_minor_retrain_is_compared_with_its_baseline_ensemble(ws, trained, validated):
    """The same search on older data is a minor change of v2: the validator's automatic
    comparison reads the baseline's K boosters from the one file its signed entry names
    (validation/comparison.py) and scores both ensembles on the retrain's holdout."""
    from governance.policy.schema import Tier
    from tests.helpers_train import minor_comparison, older_panel

    panel = older_panel(panel_from_long(reversal_in_volatile_markets()), 1150)
    retrain, _ = train_synthetic(ws, model=MIXED, features=FEATURES, panel=panel)
    found = minor_comparison(ws, NAME, retrain.version, Tier())
    assert found is not None and found["baseline_version"] == str(trained[1].version)
    figures = (found["rank_ic"], found["baseline_rank_ic"], found["importance_rank_corr"])
    assert np.isfinite(figures).all(), found


def test_a_mix_weight_missing_from_the_features_is_one_clear_line():
    from tasks.model.train import LightGBMParams, fit_booster

    x = np.random.default_rng(0).standard_normal((300, 2))
    with pytest.raises(InputError, match=f"regime_mix: '{WEIGHT}' is not among the features"):
        fit_booster(x, x[:, 0], ["a", "b"], LightGBMParams(regime_mix=WEIGHT))
    with pytest.raises(InputError, match="regime_gate and regime_mix"):
        fit_booster(x, x[:, 0], ["a", "b"], LightGBMParams(regime_mix="a", regime_gate="b"))


def test_a_row_without_its_regime_probability_halts_the_scoring_gate(ws, trained):
    """Too little history for the probability's first fit: the champion cannot score the
    rows, a halt of the scoring gate naming the probability (exit 3), never a crash."""
    from governance.ground.errors import Gate, GateHalt
    from tasks.model.scoring import load_scoring_model

    _, ensemble, split = trained
    rows = split.dev.tail(40).copy()
    rows.loc[rows.index[:5], WEIGHT] = np.nan
    model = load_scoring_model(ws, ModelRef.parse(NAME, ensemble.version))
    with pytest.raises(GateHalt) as halt:
        model.predict(rows)
    assert halt.value.gate == Gate.SCORING
    assert WEIGHT in str(halt.value) and "5 of 40 rows" in str(halt.value)
