"""A review flow run (flows/review.py) played by its team from a test, through a real
Prefect server: the run in a thread, as a worker runs it; each pause read as its terminal
line and its form; each printed ``--sign-only`` command run as its signer would, with their
own key; the answer given with Prefect's ``resume_flow_run``. Used by test_review_flow and
test_review_paper. Every wait has a ceiling (:data:`WAIT_S`): a test never hangs.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import queue
import re
import shlex
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers_e2e import SMALL

REPO = Path(__file__).resolve().parents[1]
#: Ceiling on every wait: a pause, a subprocess, the flow's end. On a loaded two-core
#: machine a `--sign-only` subprocess takes ~5 s and a resume a second, so 180 s only
#: ever trips on a hang.
WAIT_S = 180


@contextlib.contextmanager
def team_workspace(tmp: Path, mlflow_url: str) -> Iterator[tuple]:
    """A governed workspace under ``tmp`` with the cast enrolled, for a module's review
    tests: its own home, witness and MLflow store, report links naming ``mlflow_url``, and
    nobody's key or name in the environment (each person holds their own key). Yields the
    workspace and the cast's keys; the environment is restored on exit."""
    from governance.ground.workspace import Workspace
    from tests.helpers_identity import enrol_cast

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALPHAGATE_HOME", str(tmp / "home"))
        mp.setenv("ALPHAGATE_WITNESS", str(tmp / "witness"))
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp / 'home' / 'mlflow.db'}")
        mp.setenv("ALPHAGATE_MLFLOW_URL", mlflow_url)
        for name in (
            "ALPHAGATE_LEDGER_URL",
            "ALPHAGATE_USER",
            "ALPHAGATE_KEY",
            "ALPHAGATE_KEYRING",
        ):
            mp.delenv(name, raising=False)
        ws = Workspace.from_env().ensure()
        yield ws, enrol_cast(ws)


class Review:
    """A review flow run in a thread, and what it printed."""

    def __init__(self, capsys, name: str, version: int = 1, timeout_s: int = 600, config=SMALL):
        from flows.config import load_config
        from flows.review import review_flow

        self.capsys, self.err = capsys, ""
        self.name = f"review-{uuid.uuid4().hex[:8]}"  # the flow run's
        self.done: queue.Queue = queue.Queue()
        flow = review_flow.with_options(flow_run_name=self.name)
        params = dict(config=load_config(config), model_version=version, model=name,
                      timeout_s=timeout_s, poll_interval=1)  # fmt: skip

        def run():
            try:
                self.done.put(flow(**params, return_state=True))
            except BaseException as exc:  # the main thread reports it
                self.done.put(exc)

        # the thread sees the test server's settings (a context variable)
        ctx = contextvars.copy_context()
        threading.Thread(target=ctx.run, args=(run,), daemon=True).start()
        self.run_id, self.key = None, None

    def paused(self) -> tuple[str, str]:
        """Wait for the run's next pause; ``(terminal line, form description)``."""
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
        from prefect.input.actions import read_flow_run_input
        from prefect.input.run_input import keyset_from_paused_state

        deadline = time.monotonic() + WAIT_S
        with get_client(sync_client=True) as client:
            while time.monotonic() < deadline:
                self._ended()
                if self.run_id is None:
                    runs = client.read_flow_runs(
                        flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[self.name]))
                    )
                    self.run_id = runs[0].id if runs else None
                state = client.read_flow_run(self.run_id).state if self.run_id else None
                if state and state.is_paused() and state.state_details.pause_key != self.key:
                    self.key = state.state_details.pause_key
                    keyset = keyset_from_paused_state(state)
                    form = read_flow_run_input(keyset["description"], self.run_id)
                    self.err += self.capsys.readouterr().err
                    return self.err.strip().splitlines()[-1], form
                time.sleep(0.3)
        raise AssertionError(f"review not paused after {WAIT_S} s; it printed:\n{self._text()}")

    def answer(self, line: str) -> None:
        from prefect.flow_runs import resume_flow_run

        resume_flow_run(self.run_id, run_input={"signature": line})

    def end(self):
        try:
            out = self.done.get(timeout=WAIT_S)
        except queue.Empty:
            raise AssertionError(f"review did not end in {WAIT_S} s:\n{self._text()}") from None
        if isinstance(out, BaseException):
            raise out
        self.err += self.capsys.readouterr().err
        return out

    def _ended(self) -> None:
        if not self.done.empty():
            raise AssertionError(f"review ended before pausing: {self.done.get()}\n{self._text()}")

    def _text(self) -> str:
        self.err += self.capsys.readouterr().err
        return self.err


def printed_command(line: str) -> str:
    match = re.search(r"sign with: (alphagate approve .*? --sign-only);", line)
    assert match, line
    return match.group(1)


def sign(command: str, keys: dict, **swap: str) -> str:
    """Run a printed ``--sign-only`` command as its signer would, with their own key; the
    one line it prints. ``swap`` replaces option values (the attacks)."""
    for flag, value in swap.items():
        command = re.sub(rf"--{flag.replace('_', '-')} \S+", f"--{flag.replace('_', '-')} "
                         f"{value}", command)  # fmt: skip
    who = re.search(r"--as (\S+)", command).group(1)
    command = command.replace("--key FILE", f"--key {keys[who]}")
    argv = [sys.executable, "-m", "flows.cli", *shlex.split(command.removeprefix("alphagate "))]
    out = subprocess.run(
        argv, cwd=REPO, env=dict(os.environ), capture_output=True, text=True, timeout=WAIT_S
    )
    assert out.returncode == 0, (command, out.stderr)
    return out.stdout.strip().splitlines()[-1]
