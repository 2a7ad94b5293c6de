"""One writer of the MLflow views at a time, across processes: ``<home>/.views.lock``.

Every view is computed from the ledger as it stands when it is written (flows/views.py), so
the last writer writes the newest state, provided writers do not interleave: a refresher
that read the ledger before a flow's entries must not write its pages after the flow wrote
newer ones. :func:`views_locked` serialises them: ``flock`` between processes (the kernel
drops it when its holder dies), a re-entrant lock between the threads of one process, which
may take it again inside itself (the refresher holds it around :func:`flows.views.derive`,
which takes it too). One workspace per process.
"""

from __future__ import annotations

import contextlib
import fcntl
import threading
from collections.abc import Iterator

from governance.ground.workspace import Workspace

LOCK = ".views.lock"

_threads = threading.RLock()
_depth = 0


@contextlib.contextmanager
def views_locked(ws: Workspace, handed: int | None = None) -> Iterator[None]:
    """Hold the views lock for the block, waiting for its holder. ``handed``: the
    descriptor of the lock file, already locked, that the command which started this
    process handed over (flows/view_refresh.py)."""
    global _depth
    with _threads:
        fh = None
        if _depth == 0:
            fh = open(handed, "a") if handed is not None else open(ws.home / LOCK, "a")  # noqa: SIM115
            if handed is None:
                fcntl.flock(fh, fcntl.LOCK_EX)
        _depth += 1
        try:
            yield
        finally:
            _depth -= 1
            if fh is not None:
                fcntl.flock(fh, fcntl.LOCK_UN)
                fh.close()
