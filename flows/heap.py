"""The garbage collector in a one-shot ``alphagate`` process (issue 28).

A command's process lives for one command. Python's full collections walk every object the
process holds, and the demo's heap grows to millions of objects (Prefect, MLflow, Great
Expectations, pandas, LightGBM): each full collection during the run walked the imported
libraries again, 2.7 s of the demo's CPU in collections (measured with ``gc.callbacks``),
and the interpreter's exit walked them once more (7-9 s, issue 28).

In a one-shot process (:func:`one_shot`, set by ``flows.cli.main`` for the ``alphagate``
program only, never for a command called in-process by a test or a server):

- :func:`settle`, at the start of each stage, collects what is garbage now and moves every
  survivor out of the collector's reach (``gc.freeze``): the next stages' collections walk
  only what they create. Collecting first means no garbage is frozen; what a later stage
  drops is still freed by its reference count (only a cycle among frozen objects waits for
  the process's exit, a few seconds later).
- :func:`leave`, once the command's output is flushed and its state durable, disables the
  collector and freezes the heap, so the exit does not walk it; atexit handlers (Prefect's,
  the temporary server's) still run.
"""

from __future__ import annotations

import gc
import sys

_one_shot = False


def one_shot() -> None:
    """This process runs one command and exits."""
    global _one_shot
    _one_shot = True


def settle() -> None:
    """Collect, then freeze the survivors (one-shot processes only; a no-op elsewhere)."""
    if _one_shot:
        gc.collect()
        gc.freeze()


def leave() -> None:
    """Flush the output and spare the interpreter's exit a collection of the whole heap."""
    sys.stdout.flush()
    sys.stderr.flush()
    gc.disable()
    gc.freeze()
