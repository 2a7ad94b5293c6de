"""Witness services as real processes for the tests: ``alphagate witness serve`` on a free
port, its own key file and database, stopped and restarted like a real one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``alphagate ARGS`` in a fresh process (this source tree first on the path)."""
    env = {**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", "import sys; from flows.cli import main; sys.exit(main())", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)


@dataclass
class WitnessProcess:
    """One witness service: its key file, state URL, the logs it trusts and its process."""

    folder: Path
    state: str
    logs: list[str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    _vkey: str | None = None

    @property
    def key_file(self) -> Path:
        return self.folder / "witness.key"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def vkey(self) -> str:
        """What ``alphagate witness keys`` prints (the same function, in this process: a
        process per witness cost a second of CPU; test_witness_service checks the command
        prints it): the key the policy and auditors hold."""
        if self._vkey is None:
            from governance.log.checkpoint import COSIGNATURE_V1
            from governance.log.service import witness_key

            self._vkey = witness_key(str(self.key_file)).vkey(COSIGNATURE_V1)
        return self._vkey

    def start(self) -> WitnessProcess:
        self.folder.mkdir(parents=True, exist_ok=True)
        logs = [a for v in self.logs for a in ("--log", v)]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        cmd = [sys.executable, "-c", "import sys; from flows.cli import main; sys.exit(main())",
               "witness", "serve", "--key", str(self.key_file), "--state", self.state,
               "--listen", f"127.0.0.1:{self.port}", *logs]  # fmt: skip
        log = open(self.folder / "serve.log", "ab")  # noqa: SIM115 (lives with the process)
        self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError((self.folder / "serve.log").read_text())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("witness service did not start in 60 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def start_witnesses(folder: Path, n: int, log_vkey: str) -> list[WitnessProcess]:
    """``n`` witness services, each with its own key file and SQLite state, trusting the log."""
    out = []
    try:
        for i in range(n):
            out.append(
                WitnessProcess(
                    folder / f"w{i}", f"sqlite:///{folder / f'w{i}.db'}", [log_vkey]
                ).start()
            )
    except Exception:
        for w in out:
            w.stop()
        raise
    return out


def witnessed_policy(base: Path, out: Path, witnesses: list[WitnessProcess], quorum: int) -> Path:
    """``base`` with a ``witnesses:`` section naming ``witnesses`` and ``quorum``."""
    members = "".join(f"    - url: {w.url}\n      key: {w.vkey}\n" for w in witnesses)
    text = base.read_text().rstrip("\n")
    out.write_text(f"{text}\nwitnesses:\n  quorum: {quorum}\n  members:\n{members}")
    return out


def held(w: WitnessProcess, origin: str):
    """What witness ``w`` holds for ``origin``, read from its own database (the operator's
    view: the tests' attacker never touches it)."""
    from governance.log.witness import SqlWitness

    note = SqlWitness(w.state).latest(origin)
    return None if note is None else note.note
