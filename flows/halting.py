"""How a flow run ends in Prefect, and what Prefect prints about our expected failures.

A run halted by a gate ends in a state named ``Halted`` of type ``FAILED``
(shared/DESIGN.md): operators see a red run, and automations on failed runs fire
(docs/deploy.md). Its data is still the run summary, so the command line reads the same
summary from a halted run as from a completed one.

A gate halt or a user's mistake is an :class:`~governance.ground.errors.AlphagateError`: the CLI
prints one line for it (exit 2, 3 or 4). Prefect's engines log every exception a task or
flow raises with its traceback; :func:`quiet_expected_failures` drops those records for our
expected exceptions (and the "Finished in state Failed" line that follows), so a halt
prints no traceback. Bugs (any other exception) keep Prefect's full report.
"""

from __future__ import annotations

import logging
from typing import Any

from governance.ground.errors import AlphagateError

HALTED = "Halted"

#: The Prefect loggers whose records describe task and flow runs (prefect/logging/logging.yml).
RUN_LOGGERS = ("prefect.task_runs", "prefect.flow_runs")


def end_state(summary: dict[str, Any], halted: bool | None = None):
    """What a flow returns: the summary itself when completed, else a ``Halted`` state.

    Prefect makes a returned state the run's final state and a returned value a
    ``Completed`` state's data. ``halted`` defaults to ``summary["status"] == "halted"``.
    """
    if not (summary.get("status") == "halted" if halted is None else halted):
        return summary
    from prefect.states import Failed

    reasons = "; ".join(summary.get("reasons") or summary.get("breaches") or [])
    return Failed(
        name=HALTED,
        message=f"halted at {summary.get('stage') or summary.get('status')}: {reasons}"[:1000],
        data=summary,
    )


def summary_of(state) -> dict[str, Any]:
    """The run summary a flow run ended with, ``Completed`` or ``Halted``.

    Any other failure re-raises its exception: an :class:`AlphagateError` becomes the
    CLI's one line and exit code, anything else a bug's traceback.
    """
    if state.is_failed() and state.name == HALTED:
        return state.result(raise_on_failure=False)
    return state.result()


#: Set on a record that states an expected failure's reason: the run's log keeps it (the
#: reason is its last line in Prefect), the terminal drops it (the CLI prints its own line).
REASON = "alphagate_reason"


class ExpectedFailureFilter(logging.Filter):
    """Prefect's records of an :class:`AlphagateError` raised by a task or flow run, as one
    line without a traceback.

    The engine logs the exception (with ``exc_info``) and then "Finished in state Failed".
    The first becomes one ERROR line, ``refused: <the error's message>``, marked
    :data:`REASON`; the second is dropped, so the reason is the last line of the run's log
    (an operator reading a failed scheduled run in Prefect sees why). Every other record
    passes.
    """

    def __init__(self) -> None:
        super().__init__("alphagate-expected-failures")
        self._quiet_runs: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        run = str(getattr(record, "task_run_id", None) or getattr(record, "flow_run_id", ""))
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, AlphagateError):
            if run in self._quiet_runs:
                return False  # the same error again (a task's, then its flow's): said once
            self._quiet_runs.add(run)
            record.msg, record.args = f"refused (exit {int(exc.exit_code)}): {exc}", ()
            record.exc_info, record.exc_text = None, None
            setattr(record, REASON, True)
            return True
        if run in self._quiet_runs and str(record.msg).startswith("Finished in state"):
            self._quiet_runs.discard(run)
            return False
        return True


def _not_a_reason(record: logging.LogRecord) -> bool:
    return not getattr(record, REASON, False)


def quiet_expected_failures() -> None:
    """Install :class:`ExpectedFailureFilter` on Prefect's run loggers, and keep its reason
    lines off the terminal's console handlers (idempotent)."""
    for name in RUN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, ExpectedFailureFilter) for f in logger.filters):
            logger.addFilter(ExpectedFailureFilter())
    for name in ("", "prefect", *RUN_LOGGERS):  # the console handler sits on the root
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.StreamHandler) and _not_a_reason not in handler.filters:
                handler.addFilter(_not_a_reason)


def retry_unexpected(task, task_run, state) -> bool:
    """A task's ``retry_condition_fn``: retry a service hiccup, never a gate's or a user's
    decision (a retried halt would halt again, after a delay)."""
    return not isinstance(state.data, AlphagateError)
