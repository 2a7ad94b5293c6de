"""Validation time against universe size, with the SHAP sample size.

For each universe size a synthetic market with a planted signal is trained into a registered
candidate (small LightGBM search, as in tests/helpers_train.py), then validated end to end
with :func:`validation.run.validate_model_version`. Printed per size: holdout rows, SHAP
sample, wall time of the full validation and of its stages (loading from the registry and
the store, prediction, statistics + SHAP + report assembly), and the verdict.

Usage::

    .venv/bin/python bench/bench_validation.py --assets 100 500 1000 --days 1500
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from governance.ground.refs import ModelRef

for _k, _v in {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "GIT_PYTHON_REFRESH": "quiet",
}.items():
    os.environ.setdefault(_k, _v)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FEATURES = ("mom_1m", "mom_3m", "mom_6m", "mom_12_1", "vol_1m", "dist_52w_high", "beta_1y")


def bench_one(n_assets: int, n_days: int, shap_sample: int, keep: bool) -> dict:
    from governance.decisions.context import RunContext
    from governance.ground.workspace import Workspace
    from governance.policy.schema import Tier
    from tasks.data.synthetic import SyntheticSpec
    from tests.helpers_identity import enrol_cast, signer
    from tests.helpers_train import train_synthetic
    from validation.config import ValidationConfig
    from validation.inputs import load_inputs
    from validation.run import assess_inputs, validate_model_version, with_predictions

    home = Path(tempfile.mkdtemp(prefix=f"agbench{n_assets}-")) / "home"
    os.environ["ALPHAGATE_HOME"] = str(home)
    ws = Workspace(home).ensure()
    os.environ["MLFLOW_TRACKING_URI"] = ws.tracking_uri
    enrol_cast(ws, (("bench-validator", "validator"), ("bench-dev", "developer")))
    spec = SyntheticSpec(n_assets=n_assets, n_days=n_days, ic=0.08, seed=1, horizon=5)
    name = f"bench-{n_assets}"
    t0 = time.perf_counter()
    res, _ = train_synthetic(
        ws,
        spec,
        model={"name": name, "reference_rows": 5000},
        features={"horizon": 5, "names": FEATURES},
        developer="bench-dev",
    )
    t_train = time.perf_counter() - t0
    cfg = ValidationConfig(shap_sample=shap_sample)
    tier = Tier()

    # Two validations of one version, each its own run (a run records its validation once:
    # validating twice in one run context was an IdempotencyConflict on
    # validation.completed). First: cold (imports SHAP, matplotlib, MLflow model flavours).
    def validate_once():
        ctx = RunContext.open(ws, actor="bench-validator", role="validator")
        try:
            t0 = time.perf_counter()
            result = validate_model_version(
                ctx, ModelRef.parse(name, res.version), cfg, tier,
                validator=signer(ws, "bench-validator", ctx.ledger),
            )  # fmt: skip
            return result, time.perf_counter() - t0
        finally:
            ctx.close()

    try:
        _, t_cold = validate_once()
        result, t_total = validate_once()
        ctx = RunContext.open(ws, actor="bench-validator", role="validator")
        try:
            t0 = time.perf_counter()
            inp = load_inputs(ws, ctx.ledger, ctx.store, ModelRef.parse(name, res.version))
            t_load = time.perf_counter() - t0
            t0 = time.perf_counter()
            with_predictions(inp)
            t_pred = time.perf_counter() - t0
            t0 = time.perf_counter()
            assess_inputs(ctx, inp, cfg, tier, validator="bench-validator")
            t_assess = time.perf_counter() - t0
        finally:
            ctx.close()
    finally:
        if not keep:
            shutil.rmtree(home.parent, ignore_errors=True)
    return {
        "assets": n_assets,
        "holdout_rows": len(inp.holdout),
        "shap_sample": shap_sample,
        "train_s": t_train,
        "cold_s": t_cold,
        "validate_s": t_total,
        "load_s": t_load,
        "predict_s": t_pred,
        "assess_s": t_assess,
        "verdict": result.verdict.value,
        "findings": ",".join(sorted({f.check for f in result.findings})) or "-",
    }


COLUMNS = [
    "assets",
    "holdout_rows",
    "shap_sample",
    "train_s",
    "cold_s",
    "validate_s",
    "load_s",
    "predict_s",
    "assess_s",
    "verdict",
    "findings",
]


def _row(row: dict) -> str:
    return " ".join(
        f"{row[c]:>12.2f}" if isinstance(row[c], float) else f"{row[c]!s:>12}" for c in COLUMNS
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--assets", type=int, nargs="+", default=[100, 500, 1000])
    ap.add_argument("--days", type=int, default=1500)
    ap.add_argument("--shap-sample", type=int, default=2000)
    ap.add_argument("--keep", action="store_true", help="keep the temporary workspaces")
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:  # child: one size in a fresh process (MLflow caches its stores per process)
        print(json.dumps(bench_one(args.assets[0], args.days, args.shap_sample, args.keep)))
        return
    print(" ".join(f"{c:>12}" for c in COLUMNS))
    for n in args.assets:
        cmd = [sys.executable, __file__, "--one", "--assets", str(n), "--days", str(args.days)]
        cmd += ["--shap-sample", str(args.shap_sample)] + (["--keep"] if args.keep else [])
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        print(_row(json.loads(out.strip().splitlines()[-1])), flush=True)


if __name__ == "__main__":
    main()
