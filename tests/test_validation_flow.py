"""End to end: real LightGBM models registered in MLflow, validated on their sealed holdouts.

One workspace per module; four candidates trained once (planted signal, zero signal with
many features and trials, a feature that leaks the future return) and validated once each.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from governance.ground.canonical import sha256_bytes
from governance.ground.errors import Forbidden
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from governance.policy.schema import Tier
from tests.helpers_identity import POLICY, enrol_cast, signer
from validation.config import ValidationConfig
from validation.findings import Verdict

REPO = Path(__file__).resolve().parents[1]
# Features whose declared sign (+1) is the true one on the planted 63-day-momentum market:
# a feature with no true relation (e.g. vol_1m, declared -1) may be used with either sign
# by the trees, which the SHAP sign check rightly reports.
PLANTED_FEATURES = ("mom_3m", "mom_6m", "mom_12_1", "dist_52w_high")
VALIDATOR, DEVELOPER, OFFICER = "val-bob", "dev-alice", "risk-carol"
CFG = ValidationConfig(shap_sample=600, cscv_partitions=10)
MANY_TRIALS = [
    {},
    {"num_leaves": 3},
    {"num_leaves": 15},
    {"learning_rate": 0.2},
    {"min_data_in_leaf": 50},
    {"num_leaves": 31, "learning_rate": 0.1},
]


def _spec(ic: float, seed: int):
    from tasks.data.synthetic import SyntheticSpec

    return SyntheticSpec(n_assets=50, n_days=1100, ic=ic, seed=seed, horizon=5)


def train_planted(ws, seed: int, name: str):
    from tests.helpers_train import train_synthetic

    features = {"horizon": 5, "names": PLANTED_FEATURES}
    res, _ = train_synthetic(ws, _spec(0.1, seed), model={"name": name}, features=features)
    return res.version


def train_null(ws, name: str):
    from tests.helpers_train import train_synthetic

    model = {"name": name, "search": MANY_TRIALS}
    res, _ = train_synthetic(ws, _spec(0.0, 3), model=model, features={"horizon": 5})
    return res.version


def train_leaky(ws, name: str):
    """Planted market plus a feature that is the future 5-day return seen through noise."""
    from governance.decisions.context import RunContext
    from governance.ground.canonical import sha256_json
    from tasks.data.synthetic import generate_market
    from tasks.model.dataset import build_frame, split_and_seal
    from tasks.model.features import FeaturesConfig
    from tasks.model.register import train_and_register
    from tasks.model.stats import forward_returns
    from tasks.model.train import ModelConfig
    from tests.helpers_train import FAST_MODEL, panel_from_long

    spec = _spec(0.05, 4)
    long = generate_market(spec)
    panel = panel_from_long(long, "synthetic:leak")
    fwd = forward_returns(panel.close, 5)
    noise = np.random.default_rng(0).standard_normal(fwd.shape) * float(np.nanstd(fwd.to_numpy()))
    fcfg = FeaturesConfig(horizon=5, names=PLANTED_FEATURES[:3])
    mcfg = ModelConfig(**{**FAST_MODEL, "name": name})
    with_leak = build_frame(panel, fcfg, extra_features={"leak_fwd": fwd + noise})
    dev = signer(ws, DEVELOPER)
    ctx = RunContext.open(ws, actor=DEVELOPER, role="developer", signer=dev)
    try:
        split = split_and_seal(ctx, with_leak, mcfg)
        res = train_and_register(
            ctx,
            split,
            fcfg,
            mcfg,
            developer=DEVELOPER,
            config_hash=sha256_json({"leak": True}),
            data_fingerprint=panel.fingerprint,
        )
    finally:
        ctx.close()
    return res.version


def run_validation(ws, name, version, validator=VALIDATOR, cfg=CFG):
    from governance.decisions.context import RunContext
    from validation.run import validate_model_version

    # The context is the pipeline's (opened by the developer): validation records as validator.
    ctx = RunContext.open(ws, actor=DEVELOPER, role="developer", policy_hash="p" * 64)
    try:
        proven = signer(ws, validator, ctx.ledger)  # their key from the test keyring
        return validate_model_version(
            ctx, ModelRef.parse(name, version), cfg, Tier(), validator=proven, tier_name="high"
        )
    finally:
        ctx.close()


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    from governance.ground.workspace import Workspace

    mp = pytest.MonkeyPatch()
    home = tmp_path_factory.mktemp("validation") / "home"
    mp.setenv("ALPHAGATE_HOME", str(home))
    mp.delenv("ALPHAGATE_LEDGER_URL", raising=False)
    workspace = Workspace(home).ensure()
    mp.setenv("MLFLOW_TRACKING_URI", workspace.tracking_uri)
    cast = ((VALIDATOR, "validator"), (DEVELOPER, "developer"), (OFFICER, "risk_officer"))
    enrol_cast(workspace, cast, monkeypatch=mp)
    yield workspace
    mp.undo()


@pytest.fixture(scope="module")
def planted(ws):
    version = train_planted(ws, 1, "planted-1")
    return "planted-1", version, run_validation(ws, "planted-1", version)


@pytest.fixture(scope="module")
def null(ws):
    version = train_null(ws, "null-signal")
    return "null-signal", version, run_validation(ws, "null-signal", version)


@pytest.fixture(scope="module")
def leaky(ws):
    version = train_leaky(ws, "leaky")
    return "leaky", version, run_validation(ws, "leaky", version)


def _checks(result) -> set[str]:
    return {f.check for f in result.findings}


# ---------------------------------------------------------------- verdicts


def test_planted_signal_passes(planted):
    _, _, result = planted
    m = result.metrics["metrics"]
    assert result.verdict is Verdict.PASS, [f.message for f in result.findings]
    assert m["rank_ic_mean"] > 0.02 and m["rank_ic_tstat"] > 2
    assert result.metrics["overfitting"]["dsr"] >= 0.95
    margins = {c["name"]: c["margin_rank_ic"] for c in result.metrics["challengers"]}
    assert margins["random"] > 0 and margins["momentum_12_1"] > 0


@pytest.mark.parametrize(
    "seed", [2, pytest.param(5, marks=pytest.mark.slow), pytest.param(7, marks=pytest.mark.slow)]
)
def test_planted_signal_passes_for_more_seeds(ws, seed):
    name = f"planted-{seed}"
    result = run_validation(ws, name, train_planted(ws, seed, name))
    assert result.verdict is Verdict.PASS, [f.message for f in result.findings]


def test_zero_signal_with_many_features_and_trials_fails(null):
    _, _, result = null
    caught = _checks(result)
    print("zero-signal market caught by:", sorted(caught))
    assert result.verdict is Verdict.FAIL
    assert "ic_tstat_below_min" in caught  # the holdout shows no reliable IC
    over = result.metrics["overfitting"]
    assert over["n_trials"] == len(MANY_TRIALS)  # honest trial count from the ledger
    assert over["pbo"]["gating"] and over["pbo"]["n_strategies"] == len(MANY_TRIALS)
    assert caught & {"dsr_below_min", "pbo_above_max"}, "an overfitting statistic must object"


def test_leaking_feature_is_flagged(leaky):
    _, _, result = leaky
    assert result.verdict is Verdict.FAIL
    assert "rank_ic_implausible" in _checks(result)
    assert result.metrics["shap"]["top_feature"] == "leak_fwd"


# ---------------------------------------------------------------- records and report


def test_version_is_tagged_and_ledger_records_without_promotion(ws, planted):
    from governance.log.ledger import Ledger
    from governance.registry.recorder import mlflow_client

    name, version, result = planted
    client = mlflow_client(ws)
    mv = client.get_model_version(name, str(version))
    assert mv.tags["validation.verdict"] == "pass"
    assert mv.tags["validation.run_id"] == result.mlflow_run_id
    assert mv.tags["validation.report_sha256"] == result.report_html_sha256
    assert mv.tags["status"] == "candidate" and not mv.aliases  # never promotes
    assert result.mlflow_run_id in (mv.description or "")  # one click to the report
    run = client.get_run(result.mlflow_run_id)
    assert run.data.tags["model_version"] == str(version)
    exp = client.get_experiment(run.info.experiment_id)
    assert exp.name == f"{name}-validation"
    # per-regime rank ICs are metrics of the validation run (issue 26)
    for definition, per in result.metrics["metrics"]["ic_by_state"].items():
        for state, v in per.items():
            got = run.data.metrics[f"rank_ic_{definition}_{state}"]
            assert got == pytest.approx(v["rank_ic"])
    assert {"volatility", "trend", "fitted"} == set(result.metrics["metrics"]["ic_by_state"])
    arts = {a.path for a in client.list_artifacts(result.mlflow_run_id, "validation")}
    assert {"validation/report.html", "validation/report.json"} <= arts
    with Ledger.open(ws) as ledger:
        entry = ledger.last(action=Action.VALIDATION_COMPLETED, subject=f"model:{name}/v{version}")
        assert entry.seq == result.ledger_seq
        assert entry.payload["verdict"] == "pass"
        assert (entry.actor, entry.role) == (VALIDATOR, "validator")
        assert entry.payload["holdout_fingerprint"] == result.holdout_fingerprint
        assert entry.payload["policy_hash"] == "p" * 64
        assert entry.artifacts["report.html"] == result.report_html_sha256
        assert ledger.last(action=Action.MODEL_PROMOTED) is None
        assert ledger.verify().ok


def test_report_is_self_contained_and_json_twin_holds_the_numbers(ws, planted):
    from governance.ground.artifacts import ArtifactStore

    _, _, result = planted
    store = ArtifactStore.of(ws)
    page = store.read_bytes(result.report_html_sha256).decode("utf-8")
    twin = json.loads(store.read_bytes(result.report_json_sha256))
    assert twin == result.metrics
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == len(twin["figures"]) >= 2  # importance + dependence plots
    shas = {sha256_bytes(base64.b64decode(i)) for i in images}
    assert shas == set(twin["figures"].values())
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)
    assert "http" not in text and 'src="//' not in text and "<script" not in text.lower()
    assert "<link" not in text.lower() and "@import" not in text
    assert len(re.findall(r"src=", page)) == len(images)
    for heading in ("Executive summary", "Outcomes on the holdout", "Challengers",
                    "Overfitting statistics", "Explanations (SHAP)", "Limitations", "Sign-off",
                    "Drift: training reference vs holdout"):  # fmt: skip
        assert heading in page
    from markupsafe import escape

    from governance.ground.html import decimal, pvalue
    from validation.report_sections import OVERFITTING_ROWS, PBO_ROWS, SIGNAL_ROWS

    # Every number of the JSON twin's headline sections is on the page, in its human form
    # (label, unit, precision) beside its label.
    challengers = [c["metrics"] for c in twin["challengers"] if c["metrics"]]
    shown = 0
    for spec, blocks in ((SIGNAL_ROWS, [twin["metrics"], *challengers]),
                         (OVERFITTING_ROWS, [twin["overfitting"]]),
                         (PBO_ROWS, [twin["overfitting"]["pbo"]])):  # fmt: skip
        for key, label, fmt in spec:
            for block in blocks:
                if key in block:
                    assert str(escape(label)) in page and f">{fmt(block[key])}<" in page, key
                    shown += 1
    assert shown > 30
    for value in twin["shap"]["importance"].values():
        assert f">{decimal(value, 5)}<" in page
    for row in twin["drift"]:
        assert f'<td>{row["variable"]}</td><td class="num">{decimal(row["psi"], 3)}</td>' in page
        assert f">{pvalue(row['ks_pvalue'])}<" in page
    assert {r["variable"] for r in twin["drift"]} == {*PLANTED_FEATURES, "prediction"}
    assert "Rank IC by market regime" in page  # issue 26: every state with its error
    for definition, per in twin["metrics"]["ic_by_state"].items():
        for state, v in per.items():
            assert (f"<td>{definition}</td><td>{state}</td>"
                    f'<td class="num">{decimal(v["rank_ic"], 4, True)}</td>'
                    f'<td class="num">{decimal(v["se"], 4)}</td>') in page  # fmt: skip


# ---------------------------------------------------------------- who may validate


def test_developer_and_non_validators_cannot_validate(ws, planted):
    from governance.log.ledger import Ledger

    name, version, _ = planted
    with pytest.raises(Forbidden, match="developed"):
        run_validation(ws, name, version, validator=DEVELOPER)
    with pytest.raises(Forbidden, match="needs validator"):
        run_validation(ws, name, version, validator=OFFICER)
    with Ledger.open(ws) as ledger:
        refused = ledger.entries(
            action=Action.VALIDATION_REFUSED, subject=f"model:{name}/v{version}"
        )
    assert [e.actor for e in refused][-2:] == [DEVELOPER, OFFICER]


def test_the_developer_is_the_training_signer_never_the_mlflow_tag(ws, planted):
    from governance.registry.recorder import mlflow_client

    # Attack: the developer retags the version as someone else's work, then validates it.
    name, version, _ = planted
    client = mlflow_client(ws)
    client.set_model_version_tag(name, str(version), "developer", VALIDATOR)
    try:
        with pytest.raises(Forbidden, match="developed"):
            run_validation(ws, name, version, validator=DEVELOPER)
    finally:
        client.set_model_version_tag(name, str(version), "developer", DEVELOPER)


# ---------------------------------------------------------------- command line


def _config(tmp_path: Path, model: str) -> Path:
    shutil.copy(POLICY, tmp_path / "policy.yaml")  # what enrol_cast adopts
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        f"model:\n  name: {model}\nvalidation:\n  shap_sample: 300\n  cscv_partitions: 8\n"
        "policy:\n  file: policy.yaml\n  tier: high\n",
        encoding="utf-8",
    )
    return cfg


def test_cli_exit_codes_and_json(ws, planted, null, tmp_path, capsys):
    from flows.cli import main

    name, version, _ = planted
    cfg = _config(tmp_path, name)
    args = ["validate", "--model-version", str(version), "--config", str(cfg), "--json"]
    assert main([*args, "--as", VALIDATOR]) == 0
    text = capsys.readouterr().out
    out = json.loads(text.strip().splitlines()[-1])
    assert out["validation"]["verdict"] == "pass" and out["validation"]["findings"] == []
    # the report is printed as a full path a browser opens, not a hash
    (line,) = [x for x in text.splitlines() if x.startswith("report: ")]
    report = Path(line.removeprefix("report: "))
    assert report.is_absolute() and report.suffix == ".html" and report.is_file()
    assert str(report) == out["report_html_path"] and "<html" in report.read_text()[:500]
    assert out["model_version"] == version and out["mlflow_run_id"]
    assert main([*args, "--as", DEVELOPER]) == 4
    assert "developed" in capsys.readouterr().err
    null_name, null_version, _ = null
    cfg = _config(tmp_path, null_name)
    code = main(
        ["validate", "--model-version", str(null_version), "--config", str(cfg), "--json",
         "--as", VALIDATOR]
    )  # fmt: skip
    assert code == 3
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["validation"]["verdict"] == "fail"
    assert {f["check"] for f in out["validation"]["findings"]} >= {"ic_tstat_below_min"}
    assert main([*args[:-1], "--as", VALIDATOR, "--model", "no-such-model"]) == 2
