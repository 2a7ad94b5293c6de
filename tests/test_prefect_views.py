"""What operators see in Prefect and on the terminal when a gate halts or input is bad.

The command line runs in a subprocess, as an operator runs it, against the session's real
Prefect server: its stderr is the whole of what Prefect's loggers print. A gate halt
(exit 3) and a user's mistake (exit 2) print one clear line and never a traceback; the
halted flow run ends in Prefect in a state named ``Halted`` of type FAILED.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from governance.ground.workspace import Workspace
from tests.helpers_e2e import SMALL
from tests.helpers_identity import enrol_cast, keyring_dir

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def api_url(prefect_server) -> str:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


def _cli(home: Path, api_url: str, *argv: str) -> subprocess.CompletedProcess:
    """``alphagate ARGV --as dana`` in a workspace with the enrolled test cast."""
    ws = Workspace(home)
    enrol_cast(ws)
    argv = (*argv, "--as", "dana")
    env = {
        **os.environ,
        "ALPHAGATE_KEYRING": str(keyring_dir(ws)),
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


def _automation(name: str, expect: str, match: dict):
    """A reactive automation on one event (the docs/deploy.md kind), doing nothing: its
    firing is itself an event (``prefect.automation.triggered``) a test can read."""
    from prefect.automations import Automation
    from prefect.events.actions import DoNothing
    from prefect.events.schemas.automations import EventTrigger, Posture

    trigger = EventTrigger(
        expect={expect}, match=match, posture=Posture.Reactive, threshold=1, within=0
    )
    return Automation(name=name, trigger=trigger, actions=[DoNothing()]).create()


@pytest.fixture(scope="module")
def automations(api_url):
    """One automation on failed flow runs, one on alphagate's gate-halted event."""
    return {
        # A Halted run's event is prefect.flow-run.Halted: match the state *type*.
        "failed-runs": _automation(
            "alphagate: failed runs", "prefect.flow-run.*",
            {"prefect.resource.id": "prefect.flow-run.*", "prefect.state-type": "FAILED"},
        ),
        "gate-halted": _automation(
            "alphagate: gate halted", "alphagate.gate.halted",
            {"prefect.resource.id": "alphagate.*", "alphagate.gate": "data_quality"},
        ),
    }  # fmt: skip


@pytest.fixture(scope="module")
def halted_run(tmp_path_factory, api_url, automations):
    """``alphagate run`` on a market that fails a critical data-quality check."""
    tmp = tmp_path_factory.mktemp("halt")
    bad = str(_bad_market(tmp))
    return _cli(tmp / "home", api_url, "run", "--config", SMALL, "--data", bad, "--json")


def _flow_run_id(halted_run) -> uuid.UUID:
    return uuid.UUID(json.loads(halted_run.stdout.strip().splitlines()[-1])["flow_run_id"])


def test_gate_halt_is_exit_3_without_traceback(halted_run):
    assert halted_run.returncode == 3, halted_run.stderr
    assert "Traceback" not in halted_run.stderr
    assert "GateHalt" not in halted_run.stderr
    summary = json.loads(halted_run.stdout.strip().splitlines()[-1])
    assert summary["status"] == "halted" and summary["stage"] == "data_quality"


def test_halted_flow_run_ends_in_a_failed_state_named_halted(halted_run):
    from prefect import get_client
    from prefect.client.schemas.objects import StateType

    with get_client(sync_client=True) as client:
        state = client.read_flow_run(_flow_run_id(halted_run)).state
    assert state.name == "Halted" and state.type is StateType.FAILED
    assert "data_quality" in state.message


def test_halted_run_carries_the_gate_artifact_with_the_report_link(halted_run):
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    run_id = _flow_run_id(halted_run)
    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
    by_key = {a.key: a for a in arts}
    gate = by_key["gate-data-quality"]
    assert gate.type == "markdown"
    assert "Gate `data_quality`: **HALT**" in gate.data and "staleness" in gate.data
    assert "[data-quality report](file://" in gate.data


def _fired(automation_id, timeout: float = 90.0) -> bool:
    import datetime as dt
    import time

    from prefect import get_client
    from prefect.events.filters import (
        EventFilter,
        EventNameFilter,
        EventOccurredFilter,
        EventResourceFilter,
    )

    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        flt = EventFilter(
            occurred=EventOccurredFilter(
                since=since, until=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
            ),
            event=EventNameFilter(name=["prefect.automation.triggered"]),
            resource=EventResourceFilter(id=[f"prefect.automation.{automation_id}"]),
        )
        with get_client(sync_client=True) as client:
            if client.read_events(filter=flt, limit=10).events:
                return True
        time.sleep(2)
    return False


def test_automations_fire_on_the_halted_run_and_on_the_gate_event(halted_run, automations):
    assert halted_run.returncode == 3
    assert _fired(automations["failed-runs"].id), "no automation fired on the Halted run"
    assert _fired(automations["gate-halted"].id), "no automation fired on alphagate.gate.halted"


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


def test_passing_gates_reach_the_flow_run_log_and_not_the_terminal(tmp_path, api_url):
    """A rebalance with no champion halts at approval (exit 3) and publishes the fallback,
    whose data-quality and pre-trade gates pass. The passes are INFO lines of the flow
    run's log in Prefect (an operator reads every decision there, not only halts), while
    the terminal shows no Prefect INFO line."""
    from prefect import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    out = _cli(tmp_path / "home", api_url, "rebalance", "--config", SMALL, "--json")
    assert out.returncode == 3, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["portfolio"]["source"] == "fallback"
    run_id = uuid.UUID(summary["flow_run_id"])
    flt = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id]))
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=flt)
    passes = [g.message for g in logs if g.level == 20 and ": PASS on " in g.message]
    assert any(m.startswith("gate data_quality: PASS") for m in passes), passes
    assert any(m.startswith("gate pretrade: PASS") for m in passes), passes
    assert "| INFO" not in out.stderr


def test_a_refused_run_says_why_as_the_last_line_of_its_log(tmp_path, api_url):
    """A flow run refused by a user's mistake (here a key that is not dana's, the case of a
    scheduled run on a worker holding the wrong key) fails in Prefect with its reason as
    the last line of the run's log, no traceback; the terminal shows the CLI's one line
    only, not Prefect's copy of it."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterStartTime,
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.client.schemas.sorting import FlowRunSort, LogSort

    home = tmp_path / "home"
    started = dt.datetime.now(dt.UTC)
    wrong = keyring_dir(Workspace(home)) / "rita.key"
    out = _cli(home, api_url, "rebalance", "--config", SMALL, "--key", str(wrong))
    assert out.returncode == 4, out.stderr
    assert "Traceback" not in out.stderr
    assert [line for line in out.stderr.splitlines() if "not the registered key" in line] == [
        next(line for line in out.stderr.splitlines() if line.startswith("alphagate:"))
    ]
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(after_=started)),
            sort=FlowRunSort.START_TIME_DESC,
        )
        run = next(r for r in runs if r.parameters.get("user") == "dana")
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])),
            sort=LogSort.TIMESTAMP_ASC,
        )
    assert run.state.is_failed()
    last = logs[-1]
    assert last.level == 40 and last.message.startswith("refused (exit 4): "), last.message
    assert "not the registered key" in last.message
    assert not any("Traceback" in g.message for g in logs)
