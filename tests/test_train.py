"""Training stage end to end on a small synthetic market, with real LightGBM and MLflow.

One module-scoped workspace holds two trainings with the same data and config: they must
give byte-identical model files, two registered candidate versions and one trial count
(the same search points on the same data are the same trials).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from governance.ground.configio import validate_model
from governance.ground.errors import InputError
from governance.ground.vocabulary import Action
from tasks.model.dataset import load_sealed
from tasks.model.register import train_and_register
from tasks.model.stats import annualised_sharpe
from tasks.model.train import ModelConfig, run_trial
from tests.helpers_train import FAST_MODEL, synthetic_panel, train_synthetic

VERSION_TAGS = {
    "data_fingerprint",
    "dev_fingerprint",
    "holdout_fingerprint",
    "config_hash",
    "developer",
    "ledger_seq",
    "status",
    "horizon",
    "features",
    "strategy",
}
RUN_FILES = {
    "features.json",
    "config.json",
    "environment.json",
    "trials.parquet",
    "reference.parquet",
    "predictions_sample.parquet",
    "model_card.md",
    "model_card.html",
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two trainings on the same data and config in one workspace."""
    from governance.decisions.context import RunContext
    from governance.ground.workspace import Workspace

    home = tmp_path_factory.mktemp("train") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALPHAGATE_HOME", str(home))
        mp.delenv("ALPHAGATE_LEDGER_URL", raising=False)
        ws = Workspace(home).ensure()
        mp.setenv("MLFLOW_TRACKING_URI", ws.tracking_uri)
        from tests.helpers_identity import enrol_cast, signer

        enrol_cast(ws, (("dev-alice", "developer"),))  # the developer signs model.trained
        dev = signer(ws, "dev-alice")
        ctx = RunContext.open(ws, actor="dev-alice", role="developer", flow_run_id="flow-123",
                              signer=dev)  # fmt: skip
        first, split = train_synthetic(ws, ctx=ctx)
        ctx2 = RunContext.open(ws, actor="dev-alice", role="developer", flow_run_id="flow-456",
                               signer=dev)  # fmt: skip
        second, _ = train_synthetic(ws, ctx=ctx2)
        yield {"ws": ws, "ctx": ctx, "first": first, "second": second, "split": split}
        ctx.close()
        ctx2.close()


@pytest.fixture(scope="module")
def client(trained):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=trained["ws"].tracking_uri)


def _run_file(client, run_id: str, name: str) -> bytes:
    import mlflow

    path = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path=name, tracking_uri=client._tracking_client.tracking_uri
    )
    return Path(path).read_bytes()


def test_run_has_tags_params_metrics_and_files(trained, client):
    res = trained["first"]
    run = client.get_run(res.mlflow_run_id)
    tags = run.data.tags
    assert tags["prefect.flow_run_id"] == "flow-123"
    assert tags["dev_fingerprint"] == trained["split"].dev_fingerprint
    assert tags.get("git_commit", "x")  # present when git is available; never empty
    assert run.data.params["features"] == ",".join(res.features)
    assert run.data.params["horizon"] == "21"
    assert run.data.metrics["cv_rank_ic_mean"] == pytest.approx(res.cv.rank_ic_mean)
    folds = client.get_metric_history(res.mlflow_run_id, "fold_rank_ic")
    assert [m.step for m in folds] == list(range(len(res.cv.folds)))
    assert [m.value for m in folds] == pytest.approx([f.rank_ic for f in res.cv.folds])
    files = {a.path for a in client.list_artifacts(res.mlflow_run_id)}
    assert files >= RUN_FILES
    exp = client.get_experiment(run.info.experiment_id)
    assert exp.name == "synthetic-test"
    assert Path(exp.artifact_location.removeprefix("file://")).is_relative_to(trained["ws"].home)


def test_dataset_input_carries_the_dev_fingerprint(trained, client):
    from tasks.model.tracking import DIGEST_CHARS

    run = client.get_run(trained["first"].mlflow_run_id)
    (inp,) = run.inputs.dataset_inputs
    fp = trained["split"].dev_fingerprint
    assert inp.dataset.digest == fp[:DIGEST_CHARS]
    tags = {t.key: t.value for t in inp.tags}
    assert tags["fingerprint"] == fp and tags["mlflow.data.context"] == "training"
    assert json.loads(inp.dataset.profile)["num_rows"] == len(trained["split"].dev)


def test_fast_dataset_schema_equals_mlflow_inference(trained):
    from mlflow.types.utils import _infer_schema

    from governance.registry.recorder import frame_schema

    dev = trained["split"].dev
    assert frame_schema(dev) == _infer_schema(dev)


def test_registered_candidate_has_every_tag_and_no_alias(trained, client):
    res = trained["first"]
    mv = client.get_model_version(res.model_name, str(res.version))
    assert set(mv.tags) >= VERSION_TAGS
    assert mv.tags["status"] == "candidate"
    assert mv.tags["developer"] == "dev-alice"
    assert mv.tags["ledger_seq"] == str(res.ledger_seq)
    assert mv.tags["features"] == ",".join(res.features)
    assert mv.tags["holdout_fingerprint"] == trained["split"].holdout_fingerprint
    assert mv.run_id == res.mlflow_run_id
    assert client.get_registered_model(res.model_name).aliases == {}


def test_pyfunc_reproduces_logged_predictions_exactly(trained, client):
    import mlflow

    res = trained["first"]
    sample = pd.read_parquet(
        io.BytesIO(_run_file(client, res.mlflow_run_id, "predictions_sample.parquet"))
    )
    model = mlflow.pyfunc.load_model(f"models:/{res.model_name}/{res.version}")
    got = np.asarray(model.predict(sample[list(res.features)]))
    assert np.array_equal(got, sample["prediction"].to_numpy())
    assert model.metadata.get_input_schema().input_names() == list(res.features)


def test_same_inputs_give_byte_identical_model_files(trained, client):
    import mlflow

    a, b = trained["first"], trained["second"]
    assert a.version != b.version and a.mlflow_run_id != b.mlflow_run_id
    assert a.model_hash == b.model_hash
    files = []
    for res in (a, b):
        d = Path(mlflow.artifacts.download_artifacts(f"models:/{res.model_name}/{res.version}"))
        files.append((d / "model.lgb").read_bytes())
    assert files[0] == files[1]
    from governance.ground.canonical import sha256_bytes

    assert sha256_bytes(files[0]) == a.model_hash
    assert trained["ctx"].store.read_bytes(a.model_hash) == files[0]
    booster = mlflow.lightgbm.load_model(f"models:/{a.model_name}/{a.version}")
    assert booster.feature_name() == list(a.features)


def test_ledger_records_split_training_and_registration(trained):
    ctx, a, b, split = trained["ctx"], trained["first"], trained["second"], trained["split"]
    (entry,) = ctx.ledger.entries(action=Action.DATA_SPLIT)[:1]
    p = entry.payload
    assert p["dev_fingerprint"] == split.dev_fingerprint
    assert p["holdout_fingerprint"] == split.holdout_fingerprint
    assert p["dev_period"] == [d.date().isoformat() for d in split.dev_period]
    assert p["holdout_period"] == [d.date().isoformat() for d in split.holdout_period]
    trained_entries = ctx.ledger.entries(
        action=Action.MODEL_TRAINED, subject="strategy:synthetic-test"
    )
    assert [e.seq for e in trained_entries] == [a.ledger_seq, b.ledger_seq]
    first, second = (e.payload for e in trained_entries)
    # Same search points on the same data: the same two trials, not four (issue 26).
    assert first["trials"] == 2 and first["trials_total"] == 2 and second["trials_total"] == 2
    assert first["trial_keys"] == second["trial_keys"] and len(set(first["trial_keys"])) == 2
    assert len(first["trial_sharpes"]) == 2
    assert first["model_hash"] == a.model_hash and first["mlflow_run_id"] == a.mlflow_run_id
    assert first["metrics"]["cv_rank_ic_mean"] == pytest.approx(a.cv.rank_ic_mean)
    reg = ctx.ledger.last(
        action=Action.MODEL_REGISTERED, subject=f"model:{a.model_name}/v{a.version}"
    )
    assert reg is not None and reg.payload["status"] == "candidate"
    assert ctx.ledger.verify().ok


def test_no_holdout_date_reaches_training(trained):
    ctx, split, res = trained["ctx"], trained["split"], trained["first"]
    dev = load_sealed(ctx.store, split.dev_fingerprint)
    holdout = load_sealed(ctx.store, split.holdout_fingerprint)
    pd.testing.assert_frame_equal(dev, split.dev, check_dtype=False)
    assert dev["date"].max() < holdout["date"].min()
    between = pd.bdate_range(dev["date"].max(), holdout["date"].min(), inclusive="neither")
    assert len(between) >= split.horizon  # the purge gap
    assert res.train_period[1] == dev["date"].max() < split.holdout_period[0]
    # A frame that reaches the holdout is refused before any fitting.
    bad = type(split)(**{**split.__dict__, "dev": pd.concat([split.dev, holdout.head(5)])})
    with pytest.raises(ValueError, match="reaches the holdout"):
        train_and_register(
            ctx,
            bad,
            None,
            ModelConfig(**FAST_MODEL),
            developer="x",
            config_hash="0" * 64,
            data_fingerprint="0" * 64,
        )


def test_trials_file_matches_recorded_sharpes(trained, client):
    res = trained["first"]
    trials = pd.read_parquet(io.BytesIO(_run_file(client, res.mlflow_run_id, "trials.parquet")))
    assert list(trials.columns) == ["date", "trial_0", "trial_1"]
    entry = trained["ctx"].ledger.entries(action=Action.MODEL_TRAINED)[0]
    for i, sharpe in enumerate(entry.payload["trial_sharpes"]):
        assert annualised_sharpe(trials[f"trial_{i}"]) == pytest.approx(sharpe)
    assert trials["date"].max() < trained["split"].holdout_period[0]


def test_reference_sample_holds_features_and_final_predictions(trained, client):
    import mlflow

    res = trained["first"]
    ref = pd.read_parquet(io.BytesIO(_run_file(client, res.mlflow_run_id, "reference.parquet")))
    assert list(ref.columns) == [*res.features, "prediction"]
    assert len(ref) == FAST_MODEL["reference_rows"]
    booster = mlflow.lightgbm.load_model(f"models:/{res.model_name}/{res.version}")
    assert np.array_equal(booster.predict(ref[list(res.features)]), ref["prediction"].to_numpy())


def test_model_card_is_self_contained_and_stored(trained, client):
    res = trained["first"]
    html = _run_file(client, res.mlflow_run_id, "model_card.html").decode()
    md = _run_file(client, res.mlflow_run_id, "model_card.md").decode()
    for doc in (html, md):
        for section in ("Purpose and intended use", "Data and periods", "Known limitations"):
            assert section in doc
        assert "mom_12_1" in doc and trained["split"].dev_fingerprint in doc
    assert "<style>" in html and "http://" not in html and "https://" not in html
    assert "<link" not in html and "<script" not in html
    entry = trained["ctx"].ledger.entries(action=Action.MODEL_TRAINED)[0]
    assert trained["ctx"].store.read_bytes(entry.artifacts["model_card.html"]).decode() == html


def test_bad_search_override_is_an_input_error():
    with pytest.raises(InputError, match=r"cfg\.yaml: search"):
        validate_model(ModelConfig, {"search": [{"num_leafs": 3}]}, "cfg.yaml")
    with pytest.raises(InputError, match="holdout_fraction"):
        validate_model(ModelConfig, {"holdout_fraction": 1.5}, "cfg.yaml")


def test_cv_exposes_a_feature_that_leaks_the_future():
    """A leaked forward return is found by CV (rank IC near 1): the metrics can fail."""
    from tasks.data.synthetic import SyntheticSpec
    from tasks.model.dataset import build_frame, split_dates
    from tasks.model.features import FeaturesConfig

    panel = synthetic_panel(SyntheticSpec(n_assets=20, n_days=700, ic=0.0, seed=4))
    leak = panel.close.shift(-21) / panel.close - 1
    cfg = FeaturesConfig(names=("mom_1m", "vol_1m"))
    frame = build_frame(panel, cfg, extra_features={"leak": leak})
    dev_dates, _ = split_dates(
        frame["date"].to_numpy(), horizon=21, holdout_start=None, holdout_fraction=0.2
    )
    dev = frame[frame["date"] <= dev_dates[-1]].reset_index(drop=True)
    mcfg = ModelConfig(**FAST_MODEL)
    trial = run_trial(dev, ["mom_1m", "vol_1m", "leak"], 21, mcfg, mcfg.trial_params()[0])
    assert trial.cv.rank_ic_mean > 0.8


def test_git_commit_is_tolerated_outside_a_repository(tmp_path):
    from tasks.model.tracking import git_commit

    assert git_commit(tmp_path) is None
    here = git_commit()
    assert here is None or len(here) == 40
