"""The MLflow views of the command line's acts, derived by a detached refresher (issue 28).

A tiny real version (LightGBM, MLflow, vera's signed validation) in a governed workspace;
the acts are the command line's own (``main``, or ``python -m flows.cli`` where the process
boundary is the point). Checked: the detached refresher writes what inline derivation
writes; the command answers while its refresher is still blocked (its output and exit code
its own); the lock keeps a refresher out while another holds it, and a killed or failed
refresher is caught up by the next command; an edited marker can only make views be
rewritten (a forged "up to date" leaves them stale, the documented residual, and no
decision reads them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.cli import main
from flows.view_refresh import MARKER, STARTED, behind, wait_for_views
from flows.views import derive
from flows.views_lock import views_locked
from governance.log.ledger import Ledger
from tests.helpers_e2e import cli_out
from tests.helpers_identity import enrol_cast, tiny_version

NAME = "view-refresh"
CONFIG = str(Path(__file__).resolve().parent / "data" / "small.yaml")
REPO = Path(__file__).resolve().parents[1]
APPROVE = ["approve", "--model", NAME, "--reason", "holdout reviewed"]


#: the detached refresher, as outside the tests (conftest makes views inline)
pytestmark = pytest.mark.usefixtures("detached_views")


@pytest.fixture
def versioned(workspace, monkeypatch):
    """The governed workspace with a validated tiny version, its views derived; its version."""
    monkeypatch.setenv("ALPHAGATE_CONFIG", CONFIG)
    enrol_cast(workspace, monkeypatch=monkeypatch)
    version, _run = tiny_version(workspace, NAME)
    wait_for_views(workspace)  # the views so far, derived here (no command ran yet)
    return version


def _pages(ws, version: str) -> dict:
    """Everything the views write on the version and the registered model."""
    from governance.registry.recorder import mlflow_client

    client = mlflow_client(ws)
    mv, rm = client.get_model_version(NAME, version), client.get_registered_model(NAME)
    return {
        "version": {k: v for k, v in mv.tags.items() if k.startswith(("governance.", "findings."))},
        "version_text": mv.description,
        "model": {k: v for k, v in rm.tags.items() if k.startswith("governance.")},
        "model_text": rm.description,
    }


def _tamper(ws, version: str) -> None:
    """The hostile shortcut on a view: the version shown as champion by hand."""
    from governance.registry.recorder import mlflow_client

    mlflow_client(ws).set_model_version_tag(NAME, version, "governance.status", "champion")


def _status_tag(ws, version: str) -> str:
    return _pages(ws, version)["version"]["governance.status"]


def test_the_refresher_writes_what_inline_derivation_writes(workspace, versioned):
    from governance.registry.recorder import mlflow_client

    assert main([*APPROVE, "--model-version", versioned, "--as", "vera"]) == 0
    assert main(["killswitch", "trip", "--as", "rita", "--reason", "drill"]) == 0
    assert wait_for_views(workspace) == []  # the detached refreshers derived every entry
    detached = _pages(workspace, versioned)
    assert detached["version"]["governance.status"] == "awaiting_approval"
    assert any("approved by vera" in v for k, v in detached["version"].items()
               if k.startswith("governance.decision."))  # fmt: skip
    assert detached["model"]["governance.killswitch"].startswith("tripped")
    # the same pages derived inline, in this process, on a wiped MLflow
    client = mlflow_client(workspace)
    for key in [*detached["version"], *detached["model"]]:
        if key in detached["version"]:
            client.delete_model_version_tag(NAME, versioned, key)
        if key in detached["model"]:
            client.delete_registered_model_tag(NAME, key)
    client.update_model_version(NAME, versioned, description="")
    client.update_registered_model(NAME, description="")
    with Ledger.open(workspace) as ledger:
        derive(workspace, ledger, [e for e in ledger.entries() if not e.payload.get("flow_run_id")])
    assert _pages(workspace, versioned) == detached


def test_inline_views_are_derived_before_the_command_returns(workspace, versioned, monkeypatch):
    """``ALPHAGATE_VIEWS=inline`` (a container whose detached children die with it): the
    command derives its views itself; no refresher is started, nothing is pending after."""
    monkeypatch.setenv("ALPHAGATE_VIEWS", "inline")
    started = len(STARTED)
    assert main([*APPROVE, "--model-version", versioned, "--as", "vera"]) == 0
    assert len(STARTED) == started and not _refreshers(workspace.home)
    assert not behind(workspace)
    assert _status_tag(workspace, versioned) == "awaiting_approval"
    assert any("approved by vera" in v for k, v in _pages(workspace, versioned)["version"].items()
               if k.startswith("governance.decision."))  # fmt: skip


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _refreshers(home: Path) -> list[int]:
    """The live refreshers of workspace ``home``, whoever started them."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes()
            env = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        mine = f"ALPHAGATE_HOME={home}".encode() in env
        if b"flows.view_refresh" in cmd and mine and _alive(int(proc.name)):
            pids.append(int(proc.name))
    return pids


def _until(check, what: str, timeout: float = 600.0) -> None:
    """Poll ``check()`` until it is true (a deadline for a stuck process, not a timing)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _approved_by(ws, version: str) -> list[str]:
    tags = _pages(ws, version)["version"]
    return [v.split()[2] for k, v in sorted(tags.items())
            if k.startswith("governance.decision.") and v.startswith("approved by")]  # fmt: skip


def test_the_command_answers_while_its_refresher_waits(workspace, versioned):
    """``alphagate approve`` as a process: with the views lock held here its refresher
    cannot write, yet the command has exited 0 with its own output and nothing else, the
    pipes at EOF (the refresher, alive, holds none of them); released, the refresher
    derives the views."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "flows.cli", *APPROVE, "--model-version", versioned,
            "--as", "vera", "--json"]  # fmt: skip
    with views_locked(workspace):
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
        waiting = _refreshers(workspace.home)
        assert (done.returncode, done.stderr) == (0, "")
        assert json.loads(done.stdout.strip().splitlines()[-1])["sandbox"] is False
        assert len(waiting) == 1  # alive after the command's end and its pipes' EOF
        assert behind(workspace) and _approved_by(workspace, versioned) == []
    _until(lambda: not any(map(_alive, waiting)), "the refresher never finished")
    assert wait_for_views(workspace) == []  # that refresher derived them
    assert not (workspace.home / "logs" / "views.log").exists()
    assert _approved_by(workspace, versioned) == ["vera"]


def _blocked_on_lock(pid: int) -> bool:
    """True when ``pid`` waits for a ``flock`` (a ``->`` line of /proc/locks)."""
    return any("->" in line and line.split()[5] == str(pid)
               for line in Path("/proc/locks").read_text().splitlines())  # fmt: skip


def test_a_killed_refresher_is_caught_up_by_the_next_command(workspace, versioned, capsys):
    """The lock keeps a refresher out while another writer holds it; that refresher killed
    there, nothing is derived, and the next command (a read-only one) catches up."""
    with views_locked(workspace):
        assert main([*APPROVE, "--model-version", versioned, "--as", "vera"]) == 0
        refresher = STARTED[-1]
        _until(lambda: _blocked_on_lock(refresher.pid), "the refresher never reached the lock")
        assert _approved_by(workspace, versioned) == []  # it waits: no view written
        refresher.kill()
        assert refresher.wait() == -9
    assert behind(workspace) and _approved_by(workspace, versioned) == []
    code, _out, err = cli_out(capsys, "status", "--model", NAME, "--model-version", versioned)
    assert code == 0 and err == ""
    assert wait_for_views(workspace) == []  # the status command's refresher caught up
    assert not behind(workspace) and _approved_by(workspace, versioned) == ["vera"]


def test_a_failed_refresher_leaves_the_exit_code_and_is_caught_up(workspace, versioned, capsys):
    """A refresher that cannot record its progress (the marker's path made a folder) fails:
    the command's exit code and output are its own, the traceback is in logs/views.log, and
    once the path is free again the next command's refresher derives everything."""
    (workspace.home / MARKER).unlink()
    (workspace.home / MARKER).mkdir()
    code, _out, err = cli_out(capsys, *APPROVE, "--model-version", versioned, "--as", "vera")
    assert (code, err) == (0, "")
    refresher = STARTED[-1]
    assert refresher.wait() == 1
    log = (workspace.home / "logs" / "views.log").read_text()
    assert "IsADirectoryError" in log and "the next command catches up" in log
    assert behind(workspace)
    (workspace.home / MARKER).rmdir()
    _tamper(workspace, versioned)
    code, _out, err = cli_out(capsys, "findings", "list")
    assert (code, err) == (0, "")
    assert wait_for_views(workspace) == []
    assert _status_tag(workspace, versioned) == "awaiting_approval"
    assert _approved_by(workspace, versioned) == ["vera"]


def _marker(ws) -> dict:
    return json.loads((ws.home / MARKER).read_text())


def _entry(ws, seq: int):
    with Ledger.open(ws) as ledger:
        return ledger.entries_between(seq, seq)[0]


def test_an_edited_marker_only_makes_views_be_rewritten(workspace, versioned):
    """The hostile user edits the unsigned marker, and a view by hand: the next command, a
    read-only one, derives the views again and the view says what the ledger says."""
    assert main([*APPROVE, "--model-version", versioned, "--as", "vera"]) == 0
    assert wait_for_views(workspace) == []
    head = _marker(workspace)["seq"]
    first = _entry(workspace, 1)
    edits = {
        "moved back": json.dumps({"seq": 1, "hash": first.entry_hash}),
        "forged ahead": json.dumps({"seq": head + 100, "hash": "0" * 64}),
        "wrong hash": json.dumps({"seq": head, "hash": first.entry_hash}),
        "garbage": "{not json",
    }
    for edit, text in edits.items():
        (workspace.home / MARKER).write_text(text)
        _tamper(workspace, versioned)
        assert main(["killswitch", "status"]) == 0
        assert wait_for_views(workspace) == [], edit
        assert _status_tag(workspace, versioned) == "awaiting_approval", edit
        assert _marker(workspace)["seq"] == head, edit


def test_a_marker_forged_up_to_date_leaves_a_stale_view_that_decides_nothing(
    workspace, versioned, capsys
):
    """The residual (docs/governance.md): a view tampered by hand while the marker says
    "derived up to the head" stays wrong until an act touches it again; every decision and
    report reads the ledger, so ``status`` still says the truth."""
    assert main([*APPROVE, "--model-version", versioned, "--as", "vera"]) == 0
    assert wait_for_views(workspace) == []
    _tamper(workspace, versioned)
    code, status, _err = cli_out(capsys, "status", "--model", NAME, "--model-version",
                                 versioned, "--json")  # fmt: skip
    assert wait_for_views(workspace) == []
    assert code == 0 and status["stage"] == "awaiting_approval"
    assert _status_tag(workspace, versioned) == "champion"  # the stale view
    assert main([*APPROVE, "--model-version", versioned, "--as", "rita"]) == 0
    assert wait_for_views(workspace) == []
    assert _status_tag(workspace, versioned) == "champion"  # now by the signed acts
    assert _approved_by(workspace, versioned) == ["vera", "rita"]
    # a lost marker: `views refresh` derives every view again, here, and says so
    head = _marker(workspace)["seq"]
    (workspace.home / MARKER).unlink()
    code, out, err = cli_out(capsys, "views", "refresh", "--json")
    assert (code, err) == (0, "") and out["derived_now"] > 0 and out["up_to_seq"] == head
    code, out, err = cli_out(capsys, "views", "refresh", "--json")
    assert (code, out, err) == (0, {"derived_now": 0, "up_to_seq": head}, "")


def test_the_ui_starts_by_catching_up(workspace, versioned):
    """``alphagate ui`` derives the pending views before it serves them: the tampered view
    is rewritten, and the marker at the head, once it says where the UI is."""
    import signal

    from tests.helpers_witness import free_port

    head = _marker(workspace)["seq"]
    (workspace.home / MARKER).unlink()  # lost: every view pending
    _tamper(workspace, versioned)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "ui", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout.readline().strip() == f"MLflow UI: http://127.0.0.1:{port}"
        assert _marker(workspace)["seq"] == head  # caught up before the UI line
        assert _status_tag(workspace, versioned) == "awaiting_approval"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
