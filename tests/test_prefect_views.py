"""What operators see in Prefect and on the terminal when a gate halts or input is bad.

The command line runs in a subprocess, as an operator runs it, against the session's real
Prefect server: its stderr is the whole of what Prefect's loggers print. A gate halt
(exit 3) and a user's mistake (exit 2) print one clear line and never a traceback; the
halted flow run ends in Prefect in a state named ``Halted`` of type FAILED.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.helpers_e2e import SMALL

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def api_url(prefect_server) -> str:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


def _cli(home: Path, api_url: str, *argv: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "ALPHAGATE_HOME": str(home),
        "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
        "PREFECT_API_URL": api_url,
        "PYTHONPATH": str(REPO),
    }
    env.pop("ALPHAGATE_LEDGER_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=600,
    )


def _bad_market(tmp_path: Path) -> Path:
    bad = tmp_path / "bad.csv"
    bad.write_text("date,asset,close\n2024-01-02,AAA,10\n2024-01-02,AAA,-3\n")
    return bad


@pytest.fixture(scope="module")
def halted_run(tmp_path_factory, api_url):
    """``alphagate run`` on a market that fails a critical data-quality check."""
    tmp = tmp_path_factory.mktemp("halt")
    out = _cli(
        tmp / "home", api_url, "run", "--config", SMALL, "--data", str(_bad_market(tmp)), "--json"
    )
    return out


def test_gate_halt_is_exit_3_without_traceback(halted_run):
    assert halted_run.returncode == 3, halted_run.stderr
    assert "Traceback" not in halted_run.stderr
    assert "GateHalt" not in halted_run.stderr
    summary = json.loads(halted_run.stdout.strip().splitlines()[-1])
    assert summary["status"] == "halted" and summary["stage"] == "data_quality"


def test_halted_flow_run_ends_in_a_failed_state_named_halted(halted_run):
    from prefect import get_client
    from prefect.client.schemas.objects import StateType

    flow_run_id = json.loads(halted_run.stdout.strip().splitlines()[-1])["flow_run_id"]
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(uuid.UUID(flow_run_id)).state
    assert state.name == "Halted" and state.type is StateType.FAILED
    assert "data_quality" in state.message


@pytest.mark.parametrize(
    ("argv", "code", "names"),
    [
        (("rebalance", "--config", SMALL, "--data", "nowhere.csv"), 2, "nowhere.csv"),
        (("run", "--config", "configs/nowhere.yaml"), 2, "nowhere.yaml"),
    ],
    ids=["missing-data-file", "missing-config"],
)
def test_bad_input_is_one_line_exit_2(tmp_path, api_url, argv, code, names):
    out = _cli(tmp_path / "home", api_url, *argv)
    assert out.returncode == code, out.stderr
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.startswith("alphagate:")]
    assert len(lines) == 1 and names in lines[0]


def test_rebalance_on_bad_live_data_halts_without_traceback(tmp_path, api_url):
    out = _cli(tmp_path / "home", api_url, "rebalance", "--config", SMALL, "--data",
               str(_bad_market(tmp_path)), "--json")  # fmt: skip
    assert out.returncode == 3, out.stderr
    assert "Traceback" not in out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1])["stage"] == "data_quality"
