"""Progress of a flow run on the terminal: one line per stage, with its elapsed time.

The command line opens :func:`showing_progress` around a flow; each stage (the ``stage``
decorator of ``flows/run.py``) calls :func:`started` and :func:`finished`. On a terminal
the lines are live (rich: a spinner and a running clock per stage); otherwise nothing is
printed unless ``ALPHAGATE_PROGRESS=1`` asks for plain lines on stderr (logs, CI). Progress
never goes to stdout, whose last line belongs to ``--json``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

_active: _Display | None = None


class _Display:
    def __init__(self, live: bool):
        self.live = live
        self.tasks: dict[str, Any] = {}
        self.clock: dict[str, float] = {}
        self.progress = None
        if live:
            from rich.console import Console
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self.progress = Progress(
                SpinnerColumn(finished_text="[green]✓[/]"),
                TextColumn("{task.description:<32}"),
                TimeElapsedColumn(),
                TextColumn("{task.fields[note]}"),
                console=Console(stderr=True),
                transient=False,
            )

    def started(self, stage: str) -> None:
        self.clock[stage] = time.perf_counter()
        if self.progress is not None:
            self.tasks[stage] = self.progress.add_task(stage, total=1, note="")

    def finished(self, stage: str, outcome: str) -> None:
        seconds = time.perf_counter() - self.clock.pop(stage, time.perf_counter())
        if self.progress is not None and stage in self.tasks:
            note = "" if outcome == "ok" else f"[red]{outcome}[/]"
            self.progress.update(self.tasks[stage], completed=1, note=note)
        elif not self.live:
            mark = "ok" if outcome == "ok" else outcome
            print(f"  {stage:<32} {seconds:6.1f} s  {mark}", file=sys.stderr, flush=True)


def _wanted() -> bool | None:
    """True: live display; False: plain lines; None: nothing."""
    setting = os.environ.get("ALPHAGATE_PROGRESS", "auto").lower()
    if setting in ("0", "off", "no", "false"):
        return None
    if setting in ("1", "on", "yes", "true", "plain"):
        return False
    return True if sys.stderr.isatty() else None


@contextlib.contextmanager
def showing_progress() -> Iterator[None]:
    """Show the stages of the flow run inside this block (see module doc)."""
    global _active
    mode = _wanted()
    if mode is None or _active is not None:
        yield
        return
    _active = _Display(live=mode)
    try:
        if _active.progress is not None:
            with _active.progress:
                yield
        else:
            yield
    finally:
        _active = None


def started(stage: str) -> None:
    if _active is not None:
        _active.started(stage)


def finished(stage: str, outcome: str = "ok") -> None:
    if _active is not None:
        _active.finished(stage, outcome)
