"""The label-timing leak test (issue 26, item 7): a future-return leak at a realistic IC.

A leak of IC 0.09 stays under the plausibility bar (0.25) and a SHAP-concentration warning
was all it raised before: promotable after one signed acceptance. The label-timing test
(validation/label_timing.py) finds it by its shape, the IC falling off a cliff at the end of
the label window, and the finding is critical in every tier.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from governance.ground.errors import InputError
from governance.ground.refs import ModelRef
from governance.policy.schema import Severity, Tier, ValidationPolicy
from tasks.data.synthetic import SyntheticSpec, generate_market
from tasks.model.stats import forward_returns, panel_ic
from tests.helpers_identity import enrol_cast, signer
from tests.helpers_train import panel_from_long
from validation.config import ValidationConfig
from validation.findings import Verdict, build_findings
from validation.label_timing import label_timing

H = 5
DEV, VAL = "dev-alice", "val-bob"
#: Spearman IC 0.09 of jointly normal variables is a Pearson rho of 2 sin(pi 0.09 / 6);
#: signal + noise of sd s has rho = 1 / sqrt(1 + s^2).
LEAK_IC = 0.09
NOISE = float(np.sqrt(1.0 / (2.0 * np.sin(np.pi * LEAK_IC / 6.0)) ** 2 - 1.0))


def _gaussian_ranks(wide: pd.DataFrame) -> pd.DataFrame:
    n = wide.notna().sum(axis=1)
    return pd.DataFrame(
        norm.ppf((wide.rank(axis=1) - 0.5).div(n, axis=0)), index=wide.index, columns=wide.columns
    )


def _leak(close: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The forward ``H``-day return seen through noise: rank IC ``LEAK_IC`` by construction."""
    noise = np.random.default_rng(seed).standard_normal(close.shape) * NOISE
    return _gaussian_ranks(forward_returns(close, H)) + noise


def _frame(close: pd.DataFrame, score: pd.DataFrame, last: int) -> pd.DataFrame:
    f1 = forward_returns(close, 1)
    out = pd.DataFrame({"score": score.iloc[-last:].stack(), "fwd_ret_1": f1.iloc[-last:].stack()})
    return out.rename_axis(["date", "asset"]).reset_index()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_leak_falls_off_a_cliff_a_real_signal_does_not(seed):
    """On 50 assets and 240 dates: a genuine 63-day characteristic keeps its IC after the
    window (|t| < 2, two standard errors under no step), the leak's step has t > 3 (about
    5 expected, see validation/label_timing.py)."""
    long = generate_market(SyntheticSpec(n_assets=50, n_days=1100, ic=0.05, seed=seed, horizon=H))
    close = long.pivot(index="date", columns="asset", values="close")
    genuine = label_timing(_frame(close, np.log(close).diff(63), 240), "score", H)
    leak = label_timing(_frame(close, _leak(close, seed), 240), "score", H)
    assert abs(genuine.step_tstat) < 2 and genuine.retained > 0.8
    assert leak.step_tstat > 3 and leak.retained < 0.5
    assert set(leak.ic_by_day) == set(range(1, 2 * H + 1))


def test_a_genuine_signals_smooth_decay_at_a_long_horizon_is_not_a_leak():
    """At the pipeline's 21-day horizon a genuine 63-day characteristic keeps about
    e^(-21/63) = 0.72 of its IC in the next window, and on a long holdout that step is
    itself significant (t 3.6 on the small end-to-end market). Only a step that also loses
    most of the IC (a leak keeps ~0) is the finding; the t-stat bar alone would fail every
    honest long-horizon model."""
    from validation.findings import _Checker, _label_timing_findings
    from validation.label_timing import LabelTiming

    def finding(inside, after, t):
        lt = LabelTiming(21, {}, inside, after, inside - after, t, after / inside, 85)
        return [f.check for f in _label_timing_findings(_Checker(ValidationPolicy()), lt)]

    assert finding(0.0368, 0.0247, 3.64) == []  # the small e2e market's genuine model
    assert finding(0.0368, 0.0030, 3.64) == ["label_timing_leak"]  # keeps 8%: a cliff
    assert finding(0.0368, 0.0030, 2.5) == []  # not significant


def test_no_tier_may_lower_the_label_timing_finding():
    policy = ValidationPolicy(severities={"label_timing_leak": Severity.WARNING})
    with pytest.raises(InputError, match="label_timing_leak is critical in every tier"):
        build_findings(policy, model=None, challengers=(), dsr=1.0, pbo=None, shap=None, drift=())


# ---------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def leaky(tmp_path_factory):
    """A candidate trained on a weak genuine signal plus a leak of IC 0.09, validated."""
    from governance.decisions.context import RunContext
    from governance.ground.canonical import sha256_json
    from governance.ground.workspace import Workspace
    from tasks.model.dataset import build_frame, split_and_seal
    from tasks.model.features import FeaturesConfig
    from tasks.model.register import train_and_register
    from tasks.model.train import ModelConfig
    from tests.helpers_train import FAST_MODEL
    from validation.run import validate_model_version

    mp = pytest.MonkeyPatch()
    home = tmp_path_factory.mktemp("leak") / "home"
    mp.setenv("ALPHAGATE_HOME", str(home))
    mp.delenv("ALPHAGATE_LEDGER_URL", raising=False)
    ws = Workspace(home).ensure()
    mp.setenv("MLFLOW_TRACKING_URI", ws.tracking_uri)
    enrol_cast(ws, ((DEV, "developer"), (VAL, "validator")), monkeypatch=mp)
    spec = SyntheticSpec(n_assets=80, n_days=1100, ic=0.02, seed=4, horizon=H)
    panel = panel_from_long(generate_market(spec), "synthetic:leak-0.09")
    leak = _leak(panel.close, 0)
    fcfg = FeaturesConfig(horizon=H, names=("mom_3m", "mom_6m", "mom_12_1"))
    mcfg = ModelConfig(**{**FAST_MODEL, "name": "leak-009"})
    ctx = RunContext.open(ws, actor=DEV, role="developer", signer=signer(ws, DEV))
    try:
        split = split_and_seal(ctx, build_frame(panel, fcfg, {"leak_fwd": leak}), mcfg)
        res = train_and_register(
            ctx, split, fcfg, mcfg, developer=DEV, config_hash=sha256_json({"leak": 0.09}),
            data_fingerprint=panel.fingerprint,
        )  # fmt: skip
    finally:
        ctx.close()
    ctx = RunContext.open(ws, actor=DEV, role="developer", policy_hash="p" * 64)
    try:
        cfg = ValidationConfig(shap_sample=400, cscv_partitions=4)
        result = validate_model_version(
            ctx,
            ModelRef.parse("leak-009", res.version),
            cfg,
            Tier(),
            validator=signer(ws, VAL, ctx.ledger),
        )
    finally:
        ctx.close()
    yield panel, leak, result
    mp.undo()


def test_the_planted_leak_has_a_realistic_ic(leaky):
    """The leak's mean rank IC with the forward return is 0.09: per-date rank ICs on 80
    assets have sd ~ 1/sqrt(80) = 0.11, over ~200 non-overlapping windows a standard
    error of ~0.008, so +-0.03 is about four standard errors."""
    panel, leak, _ = leaky
    ic = float(panel_ic(leak, forward_returns(panel.close, H)).mean())
    assert ic == pytest.approx(LEAK_IC, abs=0.03)


def test_a_leak_at_ic_009_is_a_critical_finding(leaky):
    _, _, result = leaky
    checks = {f.check: f for f in result.findings}
    assert "rank_ic_implausible" not in checks  # under the plausibility bar: realistic
    assert checks["label_timing_leak"].severity is Severity.CRITICAL
    assert result.verdict is Verdict.FAIL
    timing = result.metrics["label_timing"]
    assert timing["step_tstat"] > 3 and timing["retained"] < 0.5
