"""Crash recovery: a pipeline process killed during training, started again, completes with
exactly one model version, one set of ledger entries per stage, and a ledger that verifies.

The rerun finds the deterministic stages' entries under the same content run key (config,
data fingerprint, actor, tier) and reuses them (flows/run.py ``keyed``).
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time

from flows.cli import main
from governance.ground.vocabulary import Action
from governance.ground.workspace import Workspace
from governance.log.ledger import Ledger
from tests.helpers_e2e import DETERMINISTIC_ACTIONS, SMALL
from tests.helpers_identity import enrol_cast


def _actions(ws: Workspace) -> collections.Counter:
    with Ledger.open(ws) as ledger:
        return collections.Counter(e.action for e in ledger.entries())


def _kill_when_training(proc: subprocess.Popen, ws: Workspace, timeout: float = 600) -> dict:
    """SIGKILL the process group once the split is sealed and before the model is recorded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"pipeline ended before it could be killed: {proc.returncode}")
        if (ws.home / "ledger.db").exists():
            seen = _actions(ws)
            if seen[Action.DATA_SPLIT]:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(30)
                return dict(seen)
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError("the pipeline never reached training")


def test_killed_during_training_resumes_without_duplicates(tmp_path, monkeypatch, prefect_server):
    from mlflow import MlflowClient

    home = tmp_path / "home"
    ws = Workspace(home)
    enrol_cast(ws, monkeypatch=monkeypatch)
    env = {**os.environ, "ALPHAGATE_HOME": str(home), "PREFECT_HOME": str(tmp_path / "pf")}
    env.pop("PREFECT_API_URL", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "run", "--config", SMALL, "--as", "dana"],
        env=env,
        start_new_session=True,  # its own process group: the kill takes its Prefect server too
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    at_kill = _kill_when_training(proc, ws)
    assert at_kill.get(Action.MODEL_TRAINED, 0) == 0, "killed too late: training had finished"

    monkeypatch.setenv("ALPHAGATE_HOME", str(home))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", ws.tracking_uri)
    assert main(["run", "--config", SMALL, "--as", "dana"]) in (0, 3)

    seen = _actions(ws)
    assert {a: seen[a] for a in DETERMINISTIC_ACTIONS} == dict.fromkeys(DETERMINISTIC_ACTIONS, 1)
    versions = MlflowClient(ws.tracking_uri).search_model_versions("name='small-e2e'")
    assert [int(v.version) for v in versions] == [1]
    assert main(["ledger", "verify"]) == 0
