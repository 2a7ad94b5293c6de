"""Prefect's temporary API server for one command, launched without importing it.

Without ``PREFECT_API_URL``, Prefect starts a temporary server when a flow begins
(``prefect.server.api.server.SubprocessASGIServer``): the command imports Prefect's whole
server package (4.2 s measured in issue 28) only to launch a subprocess, and only then
waits for that subprocess to import the same package (~10 s), one after the other.

A command that runs a flow launches the same subprocess here instead (uvicorn on Prefect's
app factory, UI off, the command's environment: the workspace's own database, seeded from
the migrated template by :func:`flows.db_templates.seed_prefect`), before it imports its own stack:
server and command import at the same time. ``PREFECT_API_URL`` names the server before
Prefect reads its settings, so Prefect never starts one of its own; :func:`wait_ready`
blocks just before the flow begins (importing the flow's stack meanwhile), and the server is
stopped when the process exits. On a copy of the installed version's template the server
skips registering the block types the template already holds
(:func:`flows.db_templates.blocks_registered`).
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import importlib
import importlib.util
import os
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from flows.db_templates import ELSEWHERE, blocks_registered, seed_prefect

#: How long a flow waits, from the launch, for the server to answer: Prefect's own setting
#: for its temporary server when set, else 90 s (Prefect's default, 20 s of sleeps between
#: polls, was exceeded by a server importing itself on a 2-core machine under load 10).
TIMEOUT_ENV = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
DEFAULT_TIMEOUT = 90.0

_server: subprocess.Popen | None = None
_url: str | None = None
_port = 0
_launched = 0.0
_log: Path | None = None


def start(prefect_home: Path) -> bool:
    """Launch the temporary server unless Prefect is pointed elsewhere or already loaded
    (its settings would not see the new URL); True when it was launched."""
    global _server, _url, _port, _launched, _log
    if _server is not None or any(os.environ.get(k) for k in ELSEWHERE):
        return False
    if "prefect" in sys.modules:
        return False
    seed_prefect(Path(prefect_home))
    with socket.socket() as sock:  # a free port (the kernel's pick; released for uvicorn)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    package = Path(importlib.util.find_spec("prefect").origin).parent
    env = {
        **os.environ,
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
    }
    if blocks_registered(Path(prefect_home)):  # a template's copy: its block types are in
        env["PREFECT_SERVER_REGISTER_BLOCKS_ON_START"] = "false"
    argv = [
        sys.executable, "-m", "uvicorn", "--app-dir", str(package.parent),
        "--factory", "prefect.server.api.server:create_app",
        "--host", "127.0.0.1", "--port", str(port),
        "--log-level", "error", "--lifespan", "on",
    ]  # fmt: skip
    # the server's own output goes to a log beside its database, not into the command's
    # output (uvicorn prints a traceback when it is stopped while still starting)
    _log = Path(prefect_home) / "temporary-server.log"
    _log.parent.mkdir(parents=True, exist_ok=True)
    with open(_log, "ab") as log:
        _server = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    _launched = time.monotonic()
    _url, _port = f"http://127.0.0.1:{port}/api", port
    os.environ["PREFECT_API_URL"] = _url
    atexit.register(stop)
    return True


def flow_settings() -> contextlib.AbstractContextManager:
    """The settings a flow runs under on this command's own temporary server: no flow-run
    heartbeats. They let a lasting server mark a crashed run; this one stops with the
    command, and Prefect's heartbeat thread sleeps in whole seconds, so each run ended by
    waiting up to a second for it. Any other server (``serve``'s, production's) keeps them."""
    if _server is None:
        return contextlib.nullcontext()
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    return temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None})


def wait_ready(meanwhile: Sequence[str] = ()) -> None:
    """Block until the server launched by :func:`start` answers its health check (no-op
    when none was launched). Raises RuntimeError if it exits or does not answer.

    ``meanwhile``: modules the flow will import in its stages, imported here one at a time
    for as long as the server is not ready: time the command would otherwise spend asleep
    (2-6 s of the demo, issue 28). None is imported once the server answers; the stages
    import the rest when they need it, as without this.
    """
    if _server is None:
        return
    timeout = float(os.environ.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT)
    deadline = _launched + timeout
    pending = list(meanwhile)
    while True:
        if _server.poll() is not None:
            raise RuntimeError(
                f"Prefect's temporary server exited with {_server.returncode}: {_tail()}"
            )
        if _healthy():
            return
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"Prefect's temporary server did not answer in {timeout:g} s: {_tail()}"
            )
        if pending:
            # the stage that needs a missing module says so; a library's deprecation notices
            # at import (shap's to matplotlib) are not the command's output: imported here,
            # before the run's identity is checked, they reached a refused run's one line
            with contextlib.suppress(ImportError), warnings.catch_warnings():
                warnings.simplefilter("ignore", (DeprecationWarning, PendingDeprecationWarning))
                importlib.import_module(pending.pop(0))
        else:
            time.sleep(0.05)


def _healthy() -> bool:
    """The server answers 200 on ``/health`` (plain HTTP: ``urllib.request.urlopen`` would
    build an HTTPS handler, and load the CA store, on every poll)."""
    conn = http.client.HTTPConnection("127.0.0.1", _port, timeout=1.0)
    try:
        conn.request("GET", "/api/health")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _tail(lines: int = 20) -> str:
    """The end of the server's log (where it says why it did not start)."""
    try:
        text = _log.read_text(errors="replace") if _log else ""
    except OSError:
        text = ""
    return "\n".join(text.splitlines()[-lines:]) or f"(no output in {_log})"


def stop() -> None:
    """Stop the server (uvicorn shuts down on SIGTERM; killed after 5 s, as Prefect does)."""
    global _server
    if _server is None:
        return
    _server.terminate()
    try:
        _server.wait(timeout=5)
    except subprocess.TimeoutExpired:
        _server.kill()
        _server.wait()
    _server = None
