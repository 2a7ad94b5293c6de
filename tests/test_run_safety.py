"""Runs that cannot trip over each other, crashed runs that do not stay RUNNING, and free text
that cannot forge what a terminal shows.

- Two ``alphagate rebalance`` processes started at once on one fresh workspace: the second
  waits on the workspace's run lock (no Prefect schema-race traceback), both finish.
- A training run left RUNNING by a killed attempt is marked FAILED by the resumed run
  (:func:`governance.registry.recorder.fail_runs`, real MLflow).
- A reason holding ``"\\nkill switch: armed"`` and escape sequences is stored as given and
  printed escaped (:func:`governance.ground.text.printable`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from flows.cli import main
from governance.ground.text import printable
from governance.ground.vocabulary import Action
from governance.ground.workspace import Workspace
from governance.log.ledger import Ledger
from tests.helpers_identity import enrol_cast, keyring_dir

REPO = Path(__file__).resolve().parents[1]
SPOOF = "drill\nkill switch: armed\x1b[2J\u202e"


def test_printable_escapes_controls_and_keeps_text():
    assert printable("évidence 中文 ok") == "évidence 中文 ok"
    assert printable(SPOOF) == "drill\\nkill switch: armed\\x1b[2J\\u202e"
    assert printable("a\tb\r\x00") == "a\\tb\\r\\x00"


def test_a_spoofing_reason_is_stored_as_given_and_printed_escaped(
    workspace, capsys, tmp_path, monkeypatch
):
    os.environ.setdefault("PREFECT_HOME", str(tmp_path / "prefect"))
    enrol_cast(workspace, monkeypatch=monkeypatch)
    assert main(["killswitch", "trip", "--as", "dana", "--reason", SPOOF]) == 0
    capsys.readouterr()
    assert main(["killswitch", "status"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert [line for line in lines if line.startswith("kill switch:")] == [lines[0]]
    assert lines[0].startswith("kill switch: tripped") and "\x1b" not in out
    assert main(["killswitch", "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["reason"] == SPOOF
    with Ledger.open(workspace) as ledger:
        assert ledger.last(action=Action.KILLSWITCH_TRIPPED).payload["reason"] == SPOOF
    assert main(["ledger", "show"]) == 0
    assert "\x1b" not in capsys.readouterr().out


def test_a_dead_training_run_is_marked_failed_on_resume(workspace):
    from governance.registry.recorder import fail_runs, mlflow_client, mlflow_experiment

    client = mlflow_client(workspace)
    exp = mlflow_experiment("strategy-x", workspace)
    dead = client.create_run(exp, tags={"alphagate.run_key": "k1"}).info.run_id
    other = client.create_run(exp, tags={"alphagate.run_key": "k2"}).info.run_id
    assert fail_runs(workspace, "strategy-x", "k1") == [dead]
    assert client.get_run(dead).info.status == "FAILED"
    assert client.get_run(other).info.status == "RUNNING"
    assert fail_runs(workspace, "strategy-x", "k1") == []


def test_two_runs_at_once_on_one_workspace_both_finish_without_traceback(tmp_path):
    ws = Workspace(tmp_path / "home")
    enrol_cast(ws, sandbox=True)  # the people; Prefect's home is still fresh
    env = {
        **os.environ,
        "ALPHAGATE_KEYRING": str(keyring_dir(ws)),
        "ALPHAGATE_HOME": str(tmp_path / "home"),
        "ALPHAGATE_WITNESS": str(tmp_path / "witness"),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    }
    env.pop("ALPHAGATE_LEDGER_URL", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("PREFECT_HOME", None)
    env.pop("PREFECT_API_URL", None)
    cmd = [sys.executable, "-m", "flows.cli", "rebalance", "--config",
           str(REPO / "tests" / "data" / "small-sandbox.yaml"), "--json", "--as", "dana"]  # fmt: skip
    procs = [
        subprocess.Popen(
            cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    results = [p.communicate(timeout=900) for p in procs]
    for (out, err), p in zip(results, procs, strict=True):
        assert "Traceback" not in err, err[-2000:]
        summary = json.loads(out.strip().splitlines()[-1])
        assert summary["portfolio"]["source"] == "fallback", summary
        assert p.returncode == 3  # no champion: the fallback, halted at the approval gate
    assert sum("another run holds" in err for _, err in results) == 1


def test_the_run_summary_prints_reasons_escaped():
    from flows.summary import RunSummary, render

    summary = RunSummary(kind="rebalance", flow_run_id=None, model_name="m")
    summary.halt("kill_switch", [SPOOF])
    summary.note("kill switch", headline=f"TRIPPED: {SPOOF}", details=[SPOOF])
    text = render(summary)
    assert "\x1b" not in text and "\u202e" not in text
    assert not any(line.startswith("kill switch: armed") for line in text.splitlines())
