"""The validation report's sensitivity and replication sections (issue 27, item 6).

One module workspace trains a planted-signal candidate with training's own code (real
LightGBM, MLflow, the signed ``model.trained`` entry) and validates it. The validator's
replica, fitted from the signed recipe with its own LightGBM call (validation/replication.py),
must agree with the registered model to float rounding; a recipe that lies about the fit,
a development frame edited in the store and a policy that lowers the mismatch are refused.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from governance.ground.errors import InputError, TamperDetected
from governance.ground.refs import ModelRef
from governance.policy.schema import Severity, Tier, ValidationPolicy
from tasks.data.synthetic import SyntheticSpec
from tests.helpers_identity import signer
from tests.helpers_train import dev_val_workspace, train_synthetic
from validation.config import ValidationConfig
from validation.findings import build_findings, verdict_of

DEV, VAL = "dev-alice", "val-bob"
NAME = "robust"
FEATURES = ("mom_3m", "mom_6m", "mom_12_1", "dist_52w_high")
CFG = ValidationConfig(shap_sample=300, cscv_partitions=10)


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    yield from dev_val_workspace(
        tmp_path_factory, "robust", ((DEV, "developer"), (VAL, "validator"))
    )


@pytest.fixture(scope="module")
def validated(ws):
    from governance.decisions.context import RunContext
    from validation.run import validate_model_version

    spec = SyntheticSpec(n_assets=40, n_days=900, ic=0.1, seed=1, horizon=5)
    res, _ = train_synthetic(
        ws, spec, model={"name": NAME}, features={"horizon": 5, "names": FEATURES}
    )
    ctx = RunContext.open(ws, actor=DEV, role="developer", policy_hash="p" * 64)
    try:
        proven = signer(ws, VAL, ctx.ledger)
        return res.version, validate_model_version(
            ctx, ModelRef.parse(NAME, res.version), CFG, Tier(), validator=proven, tier_name="high"
        )
    finally:
        ctx.close()


@pytest.fixture(scope="module")
def loaded(ws, validated):
    """The validation's inputs and the signed recipe, read again as validation reads them."""
    from governance.ground.artifacts import ArtifactStore
    from governance.log.ledger import Ledger
    from governance.registry.change_control import trained_entry_of
    from validation.inputs import load_inputs
    from validation.replication import recipe_of

    version, _ = validated
    store = ArtifactStore(ws.artifacts)
    with Ledger.open(ws) as ledger:
        inp = load_inputs(ws, ledger, store, ModelRef.parse(NAME, version))
        recipe = recipe_of(trained_entry_of(ledger, ModelRef.parse(NAME, version)).payload)
    return inp, recipe, store


def test_replica_matches_the_registered_model_to_its_bytes(validated):
    """Training's code and the validator's own LightGBM call, from the signed recipe alone,
    build the same model: predictions within rounding and the same model file."""
    _, result = validated
    rep = result.metrics["replication"]
    assert rep["available"] and rep["matches"], rep
    assert rep["max_abs_diff"] <= rep["tolerance"]
    assert rep["same_bytes"] is True
    assert rep["rank_correlation"] == pytest.approx(1.0, abs=1e-12)
    assert "replication_mismatch" not in {f.check for f in result.findings}


def test_sections_are_in_the_report_mlflow_and_the_signed_json(ws, validated):
    from governance.registry.recorder import mlflow_client

    _, result = validated
    sens = result.metrics["sensitivity"]
    names = [s["name"] for s in sens["scenarios"]]
    assert names[0] == "noise"
    assert [n for n in names if n.startswith("drop:")] == [f"drop:{f}" for f in FEATURES]
    hyper = [n for n in names if n.startswith("hyper:")]
    assert len(hyper) == len(CFG.sensitivity_hyperparameters)
    for s in sens["scenarios"]:
        assert 0.0 <= s["turnover"] <= 1.0
    run = mlflow_client(ws).get_run(result.mlflow_run_id)
    assert run.data.metrics["replication_matches"] == 1.0
    assert run.data.metrics["sensitivity_noise_turnover"] == pytest.approx(
        sens["scenarios"][0]["turnover"]
    )
    from governance.ground.artifacts import ArtifactStore

    html = ArtifactStore(ws.artifacts).read_bytes(result.report_html_sha256).decode()
    assert 'id="sensitivity"' in html and 'id="replication"' in html
    assert "The replica matches the registered model" in html


def test_a_recipe_that_lies_about_the_fit_is_a_critical_mismatch(loaded):
    """The developer signs a recipe of fewer rounds than the registered model boosted
    (a model tuned by hand after the CV): the replica differs and the verdict fails."""
    from validation.inputs import predict
    from validation.replication import compare, refit
    from validation.robustness import Robustness

    inp, recipe, store = loaded
    from tasks.model.dataset import load_sealed

    dev = load_sealed(store, recipe.dev_fingerprint)
    lying = dataclasses.replace(recipe, rounds=max(1, recipe.rounds // 2))
    base = predict(inp.booster, inp.holdout, inp.features)
    rep = compare(refit(dev, lying), base, inp.holdout, lying)
    assert not rep.matches and rep.max_abs_diff > 1e3 * rep.tolerance
    found = build_findings(ValidationPolicy(), **_quiet(), robustness=Robustness(rep, (), 0.1, 0.2))
    assert [f.check for f in found] == ["replication_mismatch"]
    assert verdict_of(found).value == "fail"


def test_a_policy_may_not_lower_the_mismatch(loaded):
    policy = ValidationPolicy(severities={"replication_mismatch": Severity.WARNING})
    with pytest.raises(InputError, match="replication_mismatch is critical in every tier"):
        build_findings(policy, **_quiet())


def test_an_edited_development_frame_is_tamper(ws, loaded):
    """The developer rewrites the sealed development frame in the store so that the
    replica is fitted on other rows: the frame no longer hashes to its signed fingerprint."""
    from governance.decisions.context import RunContext
    from validation.robustness import robustness

    inp, recipe, store = loaded
    path = store.path(recipe.dev_fingerprint)
    original = path.read_bytes()
    path.chmod(0o644)
    try:
        frame = pd.read_parquet(path)
        frame.loc[0, FEATURES[0]] += 1.0
        frame.to_parquet(path)
        ctx = RunContext.open(ws, actor=VAL, role="validator", policy_hash="p" * 64)
        try:
            with pytest.raises(TamperDetected):
                robustness(ctx.ledger, store, inp, CFG)
        finally:
            ctx.close()
    finally:
        path.write_bytes(original)


# ---------------------------------------------------------------- the book's response


def test_turnover_of_unrelated_scores_is_a_random_books():
    """Independent scores: the top-q books overlap by a hypergeometric count, mean k^2/n;
    expected turnover 1 - k/n. Its sd over D dates is sd(overlap)/k/sqrt(D), with
    var(overlap) = k (k/n) ((n-k)/n) ((n-k)/(n-1)); 4 standard errors."""
    from validation.sensitivity import book_turnover

    n, days, q = 50, 400, 0.2
    k = int(n * q)
    rng = np.random.default_rng(3)
    dates = np.repeat(np.arange(days), n)
    a, b = rng.standard_normal(n * days), rng.standard_normal(n * days)
    sd = math.sqrt(k * (k / n) * ((n - k) / n) * ((n - k) / (n - 1))) / k / math.sqrt(days)
    assert book_turnover(dates, a, b, q) == pytest.approx(1 - k / n, abs=4 * sd)
    assert book_turnover(dates, a, a, q) == 0.0
    assert book_turnover(dates, a, -a, q) == 1.0


def test_a_one_feature_model_shows_it_when_the_feature_is_dropped(loaded):
    """A score that is one feature: dropping it flattens the book (turnover near a random
    book's), while 10 % noise on it moves little of the book."""
    from validation.sensitivity import scenarios

    inp, _, _ = loaded
    hold = inp.holdout
    feature = FEATURES[0]

    def score(frame):
        return frame[feature].to_numpy(dtype=float)

    found = scenarios(hold, [feature], score(hold), score, noise=0.1, quantile=0.2, seed=0)
    by = {s.name: s for s in found}
    assert by["noise"].relative_turnover < 0.3
    assert by[f"drop:{feature}"].relative_turnover > 0.9
    noisy = ValidationPolicy(max_sensitivity_turnover=0.01)
    from validation.replication import Replication
    from validation.robustness import Robustness

    rob = Robustness(Replication(True, 1, 0.0, 1.0, 1.0, True, True), tuple(found), 0.1, 0.2)
    checks = [(f.check, f.about) for f in build_findings(noisy, **_quiet(), robustness=rob)]
    assert checks == [("sensitivity_turnover", "noise")]  # a dropped feature is reported only


def test_hyperparameter_neighbours_are_bounded():
    from validation.sensitivity import hyper_overrides

    params = {"learning_rate": 0.9, "num_leaves": 2, "seed": 7, "linear_tree": False}
    got = hyper_overrides(params, [{"learning_rate": 1.25}, {"num_leaves": 0.75},
                                   {"num_leaves": 2.0}, {"linear_tree": 2.0}])  # fmt: skip
    assert got == [("hyper:learning_ratex1.25", {"learning_rate": 1.0}),
                   ("hyper:num_leavesx2", {"num_leaves": 4})]  # fmt: skip


def _quiet() -> dict:
    """build_findings' arguments for a validation where every other check passes."""
    from validation.metrics import SignalMetrics

    fields = {f.name: 1.0 for f in dataclasses.fields(SignalMetrics)}
    metrics = SignalMetrics(**{**fields, "rank_ic_mean": 0.05, "rank_ic_tstat": 5.0})
    return dict(model=metrics, challengers=(), dsr=0.99, pbo=None, shap=None, drift=())


def test_an_ic_loss_counts_only_when_significant():
    """A weak model's neighbour scoring 115 % below it (the IC is noise) is no finding; the
    same loss with a paired t of 3 is."""
    from validation.replication import Replication
    from validation.robustness import Robustness
    from validation.sensitivity import Scenario

    def found(t):
        s = Scenario("hyper:num_leavesx1.33", "hyper", -0.002, 1.15, t, 0.1, 0.125, 0.3)
        rob = Robustness(Replication(True, 1, 0.0, 1.0, 1.0, True, True), (s,), 0.1, 0.2)
        return [f.check for f in build_findings(ValidationPolicy(), **_quiet(), robustness=rob)]

    assert found(0.8) == [] and found(float("nan")) == []
    assert found(3.0) == ["sensitivity_ic_loss"]


def test_the_replica_of_a_regime_ensemble_is_the_registered_model():
    """The regime ensemble (issue 26) is one booster whose every tree splits first on the
    gate (a LightGBM forced split): the validator's replica must make the same first split
    from the signed recipe (its ``regime_gate``), or every regime model would fail
    replication, critically. Same rows, same parameters, deterministic LightGBM: the two
    predictions agree to the float-rounding bound of the module docstring."""
    from tasks.model.dataset import LABEL
    from tasks.model.train import LightGBMParams, fit_booster
    from validation.replication import TrainingRecipe, compare, refit

    rng = np.random.default_rng(3)
    n, feats = 4_000, ["a", "b", "gate"]
    frame = pd.DataFrame(rng.normal(size=(n, 2)), columns=["a", "b"])
    frame["gate"] = (rng.random(n) < 0.3).astype(float)
    # a signal only in the gate's state: the forced split changes the trees
    frame[LABEL] = np.where(frame["gate"] == 1, frame["a"], -frame["b"]) + rng.normal(size=n)
    params = LightGBMParams(regime_gate="gate", num_boost_round=30)
    X = frame[feats].to_numpy(dtype=np.float64)
    registered = fit_booster(X, frame[LABEL].to_numpy(), feats, params)
    dumped = registered.dump_model()["tree_info"]
    assert all(t["tree_structure"]["split_feature"] == 2 for t in dumped)  # gate first
    recipe = TrainingRecipe("fp", tuple(feats), params.model_dump(), 30, "")
    holdout = frame.assign(date=0, asset=np.arange(n))
    base = registered.predict(X)
    rep = compare(refit(frame, recipe), base, holdout, recipe)
    assert rep.matches and rep.max_abs_diff <= rep.tolerance, rep
