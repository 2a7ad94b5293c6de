"""A source with a planted signal and a 30-day publication lag (issue 26, acceptance 2).

The source's value for period d carries the next 5 days' returns (rank IC 0.10 with them)
but is published 30 calendar days after d. Joined on its period date, it is a leak: the
model's purged CV rank IC jumps and validation fails it (label-timing leak). Joined as of
its publication, the window it knew about is over when it is known: the CV rank IC stays at
the market's, and no leak is found. Both runs go through the real chain: the source file
and its ODCS contract, the quality gate, the sealed split, LightGBM, MLflow and validation.
"""

from __future__ import annotations

import pytest

from governance.ground.refs import ModelRef
from governance.policy.schema import Tier
from tasks.data.sources.gate import check_source
from tasks.data.sources.source import SourceConfig, load_source, source_features
from tasks.data.synthetic import SyntheticSpec, generate_market
from tests.helpers_identity import enrol_cast, signer
from tests.helpers_sources import lagged_signal, write_contract, write_source
from tests.helpers_train import FAST_MODEL, panel_from_long
from validation.config import ValidationConfig

H, LAG = 5, 30
DEV, VAL = "dev-alice", "val-bob"
#: Rank IC 0.10: Pearson rho = 2 sin(pi 0.10 / 6) = 0.1047 = 1 / sqrt(1 + s^2), s = 9.5.
NOISE = 9.5


def _train_and_validate(ws, panel, extra, name):
    from governance.decisions.context import RunContext
    from governance.ground.canonical import sha256_json
    from tasks.model.dataset import build_frame, split_and_seal
    from tasks.model.features import FeaturesConfig
    from tasks.model.register import train_and_register
    from tasks.model.train import ModelConfig
    from validation.run import validate_model_version

    fcfg = FeaturesConfig(horizon=H, names=("mom_3m",))
    mcfg = ModelConfig(**{**FAST_MODEL, "name": name})
    ctx = RunContext.open(ws, actor=DEV, role="developer", signer=signer(ws, DEV))
    try:
        split = split_and_seal(ctx, build_frame(panel, fcfg, extra), mcfg)
        res = train_and_register(
            ctx, split, fcfg, mcfg, developer=DEV, config_hash=sha256_json({"n": name}),
            data_fingerprint=panel.fingerprint,
        )  # fmt: skip
    finally:
        ctx.close()
    ctx = RunContext.open(ws, actor=DEV, role="developer", policy_hash="p" * 64)
    try:
        cfg = ValidationConfig(shap_sample=400, cscv_partitions=4)
        val = validate_model_version(
            ctx,
            ModelRef.parse(name, res.version),
            cfg,
            Tier(),
            validator=signer(ws, VAL, ctx.ledger),
        )
    finally:
        ctx.close()
    return res, val


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from governance.ground.workspace import Workspace

    mp = pytest.MonkeyPatch()
    tmp = tmp_path_factory.mktemp("source-leak")
    mp.setenv("ALPHAGATE_HOME", str(tmp / "home"))
    mp.delenv("ALPHAGATE_LEDGER_URL", raising=False)
    ws = Workspace(tmp / "home").ensure()
    mp.setenv("MLFLOW_TRACKING_URI", ws.tracking_uri)
    enrol_cast(ws, ((DEV, "developer"), (VAL, "validator")), monkeypatch=mp)
    spec = SyntheticSpec(n_assets=60, n_days=1100, ic=0.02, seed=11, horizon=H)
    panel = panel_from_long(generate_market(spec), "synthetic:source-leak")
    write_source(tmp / "sentiment.csv", lagged_signal(panel.close, H, LAG, NOISE, seed=3))
    write_contract(tmp / "sentiment.odcs.yaml", minimum=-100.0, maximum=100.0)
    cfg = SourceConfig(name="sentiment", path="sentiment.csv", contract="sentiment.odcs.yaml")
    table = load_source(cfg, tmp)
    gate = check_source(table, list(panel.close.columns), panel.close.index[-1].date())
    out = {"gate": gate}
    for join in ("period", "available_at"):
        extra = source_features(table, panel.close.index, panel.close.columns, join_on=join)
        out[join] = _train_and_validate(ws, panel, extra, f"sentiment-{join.replace('_', '-')}")
    yield out
    mp.undo()


def test_the_source_passes_its_gate(runs):
    assert runs["gate"].ok, runs["gate"].critical_failures


def test_the_period_date_join_lifts_cv_rank_ic_and_the_as_of_join_does_not(runs):
    """Purged CV rank IC of the selected trial. With 60 assets a daily rank IC has sd about
    1/sqrt(60) = 0.13; over ~700 development dates with 5-day overlap (~140 independent)
    the mean's standard error is about 0.011, so a gap above 0.04 is over three of them
    (the leak plants 0.10; the market's own signal is 0.02)."""
    leak, asof = runs["period"][0].cv.rank_ic_mean, runs["available_at"][0].cv.rank_ic_mean
    print(f"CV rank IC: period-date join {leak:+.4f}, as-of join {asof:+.4f}")
    assert leak - asof > 0.04
    assert asof < 0.05


def test_validation_fails_the_leak_run_and_not_the_as_of_run(runs):
    leak_val, asof_val = runs["period"][1], runs["available_at"][1]
    leak_checks = {f.check for f in leak_val.findings}
    asof_checks = {f.check for f in asof_val.findings}
    print("label timing t:", leak_val.metrics["label_timing"]["step_tstat"],
          asof_val.metrics["label_timing"]["step_tstat"])  # fmt: skip
    assert "label_timing_leak" in leak_checks and leak_val.verdict == "fail"
    assert "label_timing_leak" not in asof_checks
