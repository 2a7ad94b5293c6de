"""Features and training: wall time and peak memory at 100, 500 and 1,000 assets × 2,520 days.

Usage::

    .venv/bin/python bench/bench_train.py [--sizes 100 500 1000] [--days 2520] [--mlflow]

For each size a fresh child process generates a synthetic market (ic=0.05), builds the
frame (point-in-time features + labels, :func:`tasks.model.dataset.build_frame`), splits off the
last 20 % of dates as holdout, and runs the default ``ModelConfig`` training: every trial of
``search`` through purged walk-forward CV, then the final fit on the development period.
With ``--mlflow`` it runs the full :func:`tasks.model.register.train_and_register` (ledger, MLflow
run, registered candidate) in a temporary workspace instead. Each child reports its own
peak resident memory (``ru_maxrss``). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QUIET = {"DO_NOT_TRACK": "true", "MLFLOW_DISABLE_TELEMETRY": "true"}


def child(n_assets: int, n_days: int, with_mlflow: bool) -> dict:
    sys.path.insert(0, str(REPO))
    from tasks.data.synthetic import SyntheticSpec
    from tasks.model.dataset import build_frame, split_dates
    from tasks.model.features import FeaturesConfig
    from tasks.model.train import ModelConfig, fit_final, run_trial, select_best
    from tests.helpers_train import synthetic_panel

    out: dict = {"assets": n_assets, "days": n_days}
    t0 = time.perf_counter()
    panel = synthetic_panel(SyntheticSpec(n_assets=n_assets, n_days=n_days, seed=0))
    out["generate_s"] = time.perf_counter() - t0
    fcfg, mcfg = FeaturesConfig(), ModelConfig()
    t0 = time.perf_counter()
    frame = build_frame(panel, fcfg)
    out["features_s"] = time.perf_counter() - t0
    out["rows"] = len(frame)
    t0 = time.perf_counter()
    if with_mlflow:
        from governance.decisions.context import RunContext
        from governance.ground.workspace import Workspace
        from tasks.model.dataset import split_and_seal
        from tasks.model.register import train_and_register

        ws = Workspace(Path(tempfile.mkdtemp()) / "home").activate()
        os.environ["MLFLOW_TRACKING_URI"] = ws.tracking_uri
        ctx = RunContext.open(ws, actor="bench", role="developer")
        split = split_and_seal(ctx, frame, mcfg)
        out["split_seal_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = train_and_register(
            ctx,
            split,
            fcfg,
            mcfg,
            developer="bench",
            config_hash="0" * 64,
            data_fingerprint=panel.fingerprint,
        )
        out["cv_rank_ic"] = res.cv.rank_ic_mean
    else:
        dev_dates, _ = split_dates(
            frame["date"].to_numpy(),
            horizon=fcfg.horizon,
            holdout_start=None,
            holdout_fraction=mcfg.holdout_fraction,
        )
        dev = frame[frame["date"] <= dev_dates[-1]].reset_index(drop=True)
        names = frame.attrs["features"]
        trials = [
            run_trial(dev, names, fcfg.horizon, mcfg, p, i)
            for i, p in enumerate(mcfg.trial_params())
        ]
        best = select_best(trials)
        fit_final(dev, names, best)
        out["cv_rank_ic"] = best.cv.rank_ic_mean
    out["train_s"] = time.perf_counter() - t0
    out["trials"] = len(mcfg.trial_params())
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 1000])
    ap.add_argument("--days", type=int, default=2520)
    ap.add_argument("--mlflow", action="store_true", help="full train_and_register")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.days, args.mlflow)))
        return
    env = {**os.environ, **QUIET}
    print(
        f"{'assets':>7} {'rows':>10} {'features s':>11} {'train s':>9} {'trials':>7} "
        f"{'peak MB':>9} {'CV rank IC':>11}"
    )
    for n in args.sizes:
        cmd = [sys.executable, __file__, "--child", str(n), "--days", str(args.days)]
        cmd += ["--mlflow"] if args.mlflow else []
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            print(f"{n:>7} failed: {proc.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(
            f"{r['assets']:>7} {r['rows']:>10} {r['features_s']:>11.1f} {r['train_s']:>9.1f} "
            f"{r['trials']:>7} {r['peak_rss_mb']:>9.0f} {r['cv_rank_ic']:>11.4f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
