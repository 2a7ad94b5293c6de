"""Progress of a flow run on the terminal: one line per stage, with its elapsed time.

The command line opens :func:`showing_progress` around a flow; each stage (the ``stage``
decorator of ``flows/run.py``) calls :func:`started` and :func:`finished`. On a terminal
the lines are live (rich: a spinner and a running clock per stage). When stderr is a file or
a pipe (``alphagate run > run.log 2>&1``, CI) each stage prints plain lines, one when it
starts and one with its time when it ends: no spinner frames, no escape codes, no minute of
silence (issue 29). ``ALPHAGATE_PROGRESS`` overrides: ``0`` nothing, ``1``/``plain`` plain
lines, ``live`` the live display. Inside the block Prefect's console lines (a WARNING can run
to a thousand characters) are shortened to one line of the display's width and, live,
printed above the spinner rather than glued onto it; the full text stays in Prefect's UI.
Progress never goes to stdout, whose last line belongs to ``--json``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import sys
import time
from collections.abc import Iterator
from typing import Any

_active: _Display | None = None


#: Width of a plain progress or Prefect line when stderr is not a terminal.
PLAIN_WIDTH = 160


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
                console=Console(stderr=True, force_terminal=True),
                transient=False,
            )

    def started(self, stage: str) -> None:
        self.clock[stage] = time.perf_counter()
        if self.progress is not None:
            self.tasks[stage] = self.progress.add_task(stage, total=1, note="")
        elif not self.live:
            print(f"  {stage:<32} ...", file=sys.stderr, flush=True)

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
    if setting == "live":
        return True
    if sys.stderr.isatty():
        return True
    return False if _file_or_pipe(sys.stderr) else None


def _file_or_pipe(stream) -> bool:
    """Whether ``stream`` is a real file or pipe (not an in-process capture)."""
    try:
        mode = os.fstat(stream.fileno()).st_mode
    except (AttributeError, OSError, ValueError):
        return False
    return stat.S_ISREG(mode) or stat.S_ISFIFO(mode)


class OneLine(logging.Formatter):
    """Another formatter's text as one line of at most ``width`` characters."""

    def __init__(self, inner: logging.Formatter | None, width: int):
        super().__init__()
        self.inner, self.width = inner or logging.Formatter(), width

    def format(self, record: logging.LogRecord) -> str:
        return one_line(self.inner.format(record), self.width)


def one_line(text: str, width: int) -> str:
    """The first line of ``text``, whitespace collapsed, cut to ``width`` with an ellipsis."""
    line = " ".join((text.splitlines() or [""])[0].split())
    return line if len(line) <= width else line[: max(width - 1, 1)] + "…"


@contextlib.contextmanager
def _prefect_lines(console) -> Iterator[None]:
    """Prefect's console handlers shortened to one line (and, live, through ``console``)."""
    from prefect.logging.configuration import ensure_logging_setup
    from prefect.logging.handlers import PrefectConsoleHandler

    ensure_logging_setup()
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    handlers = {
        h
        for lg in loggers
        if isinstance(lg, logging.Logger)
        for h in lg.handlers
        if isinstance(h, PrefectConsoleHandler)
    }
    width = console.width if console is not None else PLAIN_WIDTH
    saved = [(h, h.formatter, h.console) for h in handlers]
    for h in handlers:
        h.setFormatter(OneLine(h.formatter, width))
        if console is not None:
            h.console = console
    try:
        yield
    finally:
        for h, formatter, own in saved:
            h.setFormatter(formatter)
            h.console = own


@contextlib.contextmanager
def showing_progress() -> Iterator[None]:
    """Show the stages of the flow run inside this block (see module doc)."""
    global _active
    mode = _wanted()
    if mode is None or _active is not None:
        yield
        return
    _active = _Display(live=mode)
    console = _active.progress.console if _active.progress is not None else None
    try:
        with _prefect_lines(console):
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
