"""The MLflow views of the command line's acts, refreshed off the command's critical path.

A deciding act (``approve``, ``reject``, ``findings accept``, ``killswitch trip``/``reset``)
is durable in the ledger and its answer printed before its views are derived. Deriving them
(:func:`flows.views.derive`: MLflow's version and model pages, Prefect events) imports
MLflow's client and store, about 2 s of CPU a fresh process does not need to answer (issue
28). So the command starts a detached refresher (:func:`start`): ``python -m
flows.view_refresh``, its own session, stdin and stdout closed, which derives the views of
every entry after the marker and moves the marker to the ledger's head.

This is safe because the views are not decisions: every decision reads the signed acts in
the ledger (shared/DESIGN.md), never an MLflow tag, so a view written seconds after its act,
or left stale by a refresher that died, changes nothing that is decided. ``status``,
``models`` and the other reports read the ledger and are true at once.

Under the workspace:

- ``views.json``, the marker ``{"seq", "hash"}``: views are derived up to this ledger entry
  (``cpu_s``: the CPU seconds of the process that wrote it, for bench/bench_commands.py).
  Unsigned and writable by anyone with the shell: a marker that is missing, unreadable or
  names an entry this ledger does not hold counts as 0, and every view is derived again; a
  marker moved back only makes views be rewritten; one moved forward onto a real entry
  leaves the views of the skipped acts stale until an act touches them again (the residual,
  docs/governance.md).
- ``.views.lock`` (flows/views_lock.py): one writer of the views at a time (a refresher,
  or a flow deriving its own entries); a second refresher waits, then finds what is left.
  The command takes the lock before it starts the refresher and hands it over (the
  refresher inherits the locked file), so once a command has exited, taking the lock waits
  for its refresher: that is how :func:`wait_for_views` and another process wait. (When a
  refresher is already running, the new one queues for the lock instead.) The kernel drops
  the lock when its holder dies.
- ``logs/views.log``: why a refresher failed (its traceback). It leaves the marker where it
  was, so the next command, whichever it is, starts a refresher that catches up everything
  pending; so does a refresher killed half-way. ``alphagate ui`` and ``serve`` catch up
  before they start (:func:`catch_up`).

``ALPHAGATE_VIEWS=inline`` (:data:`VIEWS_ENV`): the command derives its views itself, under
the same lock, before it exits (:func:`after_command`): for a container or a CI job whose
detached children die with it, and for the test suite, whose processes have MLflow imported
already (a refresher per command would import it again, seconds of CPU each); the detached
path has its own tests (tests/test_view_refresh.py, test_one_view.py).

Flows derive their own entries as they run (flows/run.py): entries recorded inside a flow
run are skipped here. :func:`wait_for_views` is the one way to wait for the views (tests, and
``alphagate views refresh``).
"""

from __future__ import annotations

import fcntl
import gc
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

from flows.views import derive, head_seq
from flows.views_lock import LOCK, views_locked
from governance.ground.files import write_atomic
from governance.ground.workspace import Workspace
from governance.log.ledger import Ledger, LedgerEntry

MARKER = "views.json"
#: ``inline``: :func:`after_command` derives the views in the command (module docstring).
VIEWS_ENV = "ALPHAGATE_VIEWS"
LOG = Path("logs") / "views.log"

#: The refreshers this process started, waited for by :func:`wait_for_views`.
STARTED: list[subprocess.Popen] = []

#: The folder holding ``flows/``: the refresher imports this source tree, as its parent does.
SOURCE_ROOT = Path(__file__).resolve().parents[1]


def derived_up_to(ws: Workspace, ledger: Ledger) -> int:
    """The seq up to which the views are derived: the marker's, when it names an entry of
    this ledger by its hash; else 0 (derive everything again)."""
    try:
        marker = json.loads((ws.home / MARKER).read_text(encoding="utf-8"))
        seq, digest = int(marker["seq"]), str(marker["hash"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0
    if seq <= 0:
        return 0
    named = ledger.entries_between(seq, seq)
    return seq if named and named[0].entry_hash == digest else 0


def behind(ws: Workspace) -> bool:
    """True when the ledger holds entries whose views are not derived yet."""
    head = head_seq(ws)
    if not head:
        return False
    with Ledger.open(ws) as ledger:
        return derived_up_to(ws, ledger) < head


def start(ws: Workspace) -> subprocess.Popen | None:
    """Start a detached refresher when views are behind the ledger; it or None.

    Called once the command's answer is flushed and its acts are durable: the refresher
    runs in its own session with no terminal (stdin, stdout and stderr on ``/dev/null``),
    so the command's exit code and output are its own, and the command does not wait.
    """
    if not behind(ws):
        return None
    sys.stdout.flush()
    sys.stderr.flush()
    path = os.pathsep.join(p for p in (str(SOURCE_ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path, "ALPHAGATE_HOME": str(ws.home)}
    with open(ws.home / LOCK, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            handed = (lock.fileno(),)  # the refresher inherits the locked file
        except BlockingIOError:
            handed = ()  # a refresher is running: this one queues behind it
        proc = subprocess.Popen(
            [sys.executable, "-m", "flows.view_refresh", *map(str, handed)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            pass_fds=handed,
            cwd=ws.home,
            env=env,
        )
    STARTED.append(proc)
    return proc


def after_command(ws: Workspace) -> subprocess.Popen | None:
    """What a command does for its views once its answer is out: start a detached refresher
    (:func:`start`), or with ``ALPHAGATE_VIEWS=inline`` derive them here and return None. A
    failure inline is the refresher's: logged to ``logs/views.log``, the command's exit code
    its own, the next command catches up."""
    if os.environ.get(VIEWS_ENV) != "inline":
        return start(ws)
    try:
        catch_up(ws)
    except Exception:
        _log_failure(ws, "views derived inline")
    return None


def _log_failure(ws: Workspace, who: str) -> None:
    log = ws.home / LOG
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as fh:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        fh.write(f"{stamp} {who} (pid {os.getpid()}) failed; the next command catches up\n"
                 f"{traceback.format_exc()}\n")  # fmt: skip


def catch_up(ws: Workspace, handed: int | None = None) -> list[LedgerEntry]:
    """Derive, under the views lock, the views of every entry after the marker, then move
    the marker to the last of them; return the entries derived here (none when another
    refresher had already done it). ``handed``: the descriptor of the lock file a command
    locked and handed to this process."""
    if handed is None and not behind(ws):  # nothing pending, or no ledger (none made here)
        return []
    with views_locked(ws, handed), Ledger.open(ws) as ledger:
        since, head = derived_up_to(ws, ledger), ledger.head()[0]
        if since >= head:
            return []
        pending = ledger.entries_between(since + 1, head)
        mine = [e for e in pending if not e.payload.get("flow_run_id")]
        derive(ws, ledger, mine)
        last = pending[-1]
        marker = {"seq": last.seq, "hash": last.entry_hash, "cpu_s": time.process_time()}
        write_atomic(ws.home / MARKER, json.dumps(marker), durable=False)
    return mine


def wait_for_views(ws: Workspace, timeout: float = 600.0) -> list[LedgerEntry]:
    """Wait for the refreshers this process started, then derive whatever they left
    (killed, failed, or never started); return the entries derived here, so a caller can
    tell that the detached refreshers did the work (an empty list)."""
    while STARTED:
        STARTED[0].wait(timeout)
        STARTED.pop(0)
    return catch_up(ws)


def main(argv: list[str]) -> int:
    """The detached refresher (``argv``: the handed lock's descriptor, if any): catch up,
    exit 0; a failure goes to ``logs/views.log`` (exit 1), the marker stays, and the next
    command's refresher catches up."""
    ws = Workspace.from_env().activate()
    try:
        catch_up(ws, int(argv[0]) if argv else None)
    except BaseException:  # nobody reads this process's stderr: the log says what failed
        _log_failure(ws, "views refresher")
        return 1
    # no full garbage collection of MLflow's heap at the exit (flows/cli.py leaves so too)
    gc.disable()
    gc.freeze()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
