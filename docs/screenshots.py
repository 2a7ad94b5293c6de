"""Pictures for the README: a governed workspace as MLflow and Prefect show it.

Usage::

    .venv/bin/python docs/screenshots.py [--out docs/screenshots] [--keep]

In a fresh temporary workspace it starts a Prefect server and an MLflow server (loopback,
free ports) and follows the README's "Run it as a team" walkthrough: five personal keys
(outside the workspace), ``init`` by ada, the other four enrolled by her signature, the
shipped policy (configs/policy.yaml) adopted under four eyes, the governed pipeline on
``configs/team.yaml`` (a labelled synthetic market) as dana, the independent validation as
vera, the warnings accepted by rita, and the paper approvals of vera and omar. No sandbox:
the pages carry no SANDBOX banner and the verdict is the one the shipped policy gives. It
then runs the pipeline once more on a broken market file (a data-quality halt) and saves
headless Chromium screenshots (the Debian ``chromium`` package) of:

- ``mlflow-version.png``: the version's page (governance tags and description),
- ``prefect-halted-run.png``: the halted flow run (state ``Halted``, its gate artifact),
- ``prefect-runs.png``: the flow runs list,
- ``validation-report.png``: the first screen of the committee-ready validation report.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "team.yaml"
POLICY = REPO / "configs" / "policy.yaml"
#: The walkthrough's cast (README, "Run it as a team"): ada enrols the others.
CAST = {"dana": "developer", "vera": "validator", "rita": "risk_officer", "omar": "risk_officer"}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(1)
    raise SystemExit(f"screenshots: {url} did not answer within {timeout:.0f} s")


def _cli(env: dict, *argv: str, expect: tuple[int, ...] = (0,)) -> dict | None:
    out = subprocess.run(
        [sys.executable, "-m", "flows.cli", *argv], env=env, cwd=REPO,
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    print(f"$ alphagate {' '.join(argv)}  -> exit {out.returncode}", flush=True)
    if out.returncode not in expect:
        raise SystemExit(f"screenshots: alphagate {argv[0]} exited {out.returncode}:"
                         f" {out.stderr.strip()[-500:]}")  # fmt: skip
    last = out.stdout.strip().splitlines()[-1:] if "--json" in argv else []
    return json.loads(last[0]) if last else None


def _team(env: dict, keys: Path) -> str:
    """The README's team walkthrough up to the paper stage; returns the version."""
    cfg = ("--config", str(CONFIG))

    def key(who: str) -> tuple[str, ...]:
        return ("--as", who, "--key", str(keys / f"{who}.key"))

    for who in ("ada", *CAST):
        _cli(env, "keys", "new", "--out", str(keys / f"{who}.key"))
    _cli(env, "init", "--admin", "ada", "--key", str(keys / "ada.key"))
    for who, role in CAST.items():
        _cli(env, "users", "add", who, "--role", role, "--public-key",
             str(keys / f"{who}.key.pub"), *key("ada"))  # fmt: skip
    for who in ("rita", "omar"):
        _cli(env, "policy", "adopt", str(POLICY), *key(who))
    run = _cli(env, "run", *cfg, *key("dana"), "--json", expect=(0, 3))
    version = str(run["model_version"])
    v = ("--model-version", version)
    _cli(env, "validate", *v, *cfg, *key("vera"), "--json", expect=(0, 3))
    listed = _cli(env, "findings", "list", *v, *cfg, "--json")
    for f in listed["findings"]:
        if f["status"] == "open":
            _cli(env, "findings", "accept", f["id"], *cfg, *key("rita"), "--reason",
                 "sign prior too strict for short momentum", "--until",
                 (dt.date.today() + dt.timedelta(days=90)).isoformat(),
                 "--control", "monthly SHAP sign review")  # fmt: skip
    for who, why in (("vera", "holdout evidence reviewed"), ("omar", "risk review done")):
        _cli(env, "approve", "--stage", "paper", *v, *cfg, *key(who), "--reason", why)
    return version


def _shot(chromium: str, url: str, out: Path, width=1280, height=900, budget=25000) -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--user-data-dir={profile}", f"--window-size={width},{height}",
             f"--virtual-time-budget={budget}", f"--screenshot={out}", url],
            capture_output=True, timeout=600, check=True,
        )  # fmt: skip
    print(f"saved {out.relative_to(REPO) if out.is_relative_to(REPO) else out}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshots"), help="folder")
    parser.add_argument("--keep", action="store_true", help="keep the temporary workspace")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("screenshots: install headless Chromium (apt-get install chromium)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="alphagate-shots-"))
    home = tmp / "home"
    prefect_port, mlflow_port = _port(), _port()
    # nothing of the caller's own workspace, key or config leaks in (the walkthrough's shell)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ALPHAGATE_", "MLFLOW_"))},
        "ALPHAGATE_HOME": str(home),
        "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
        "PREFECT_HOME": str(tmp / "prefect"),
        "PREFECT_API_URL": f"http://127.0.0.1:{prefect_port}/api",
        "PYTHONPATH": str(REPO),
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    home.mkdir(parents=True)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
             "--port", str(prefect_port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    ]  # fmt: skip
    try:
        _wait(f"http://127.0.0.1:{prefect_port}/api/health")
        version = _team(env, tmp / "keys")
        bad = tmp / "broken.csv"
        bad.write_text("date,asset,close\n2024-01-02,AAA,10\n2024-01-02,AAA,-3\n")
        halted = _cli(env, "run", "--config", str(CONFIG), "--data", str(bad), "--as", "dana",
                      "--key", str(tmp / "keys" / "dana.key"), "--json", expect=(2, 3))  # fmt: skip
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "mlflow", "server", "--workers", "1", "--host",
                 "127.0.0.1", "--port", str(mlflow_port), "--backend-store-uri",
                 env["MLFLOW_TRACKING_URI"]],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
        _wait(f"http://127.0.0.1:{mlflow_port}/health")
        mlflow = f"http://127.0.0.1:{mlflow_port}"
        prefect = f"http://127.0.0.1:{prefect_port}"
        _shot(chromium, f"{mlflow}/#/models/team-walkthrough/versions/{version}",
              out / "mlflow-version.png", height=1100)  # fmt: skip
        _shot(chromium, f"{prefect}/runs/flow-run/{halted['flow_run_id']}",
              out / "prefect-halted-run.png")  # fmt: skip
        _shot(chromium, f"{prefect}/runs", out / "prefect-runs.png")
        report = _report(home, tmp)
        _shot(chromium, report.as_uri(), out / "validation-report.png", budget=3000)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _report(home: Path, tmp: Path) -> Path:
    """The latest validation report as an ``.html`` file (the store names files by hash)."""
    sys.path.insert(0, str(REPO))
    from governance.ground.vocabulary import Action
    from governance.ground.workspace import Workspace
    from governance.log.ledger import Ledger

    with Ledger.open(Workspace(home)) as ledger:
        entry = ledger.last(action=Action.VALIDATION_COMPLETED)
        page = ledger.store.read_bytes(entry.artifacts["report.html"])
    target = tmp / "validation-report.html"
    target.write_bytes(page)
    return target


if __name__ == "__main__":
    sys.exit(main())
