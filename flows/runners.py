"""The task-runner switch: Prefect's thread pool, or Dask (a local cluster or a scheduler).

The flows stay the same; only the runner changes::

    flow.with_options(task_runner=task_runner_for(config.runtime))

``runtime.task_runner = "threads"`` gives Prefect's default :class:`ThreadPoolTaskRunner`.
``"dask"`` gives :class:`prefect_dask.DaskTaskRunner`: a ``distributed.LocalCluster`` of
``dask_workers`` processes × ``dask_threads_per_worker`` threads, or, when ``dask_address``
is set, a client of that existing scheduler (docs/deploy.md). Task inputs and results then
travel between processes, so they must pickle (frozen dataclasses, frames, arrays do).
"""

from __future__ import annotations

import os
import sys
import threading
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from prefect import task
from prefect.cache_policies import NO_CACHE

if TYPE_CHECKING:
    from prefect.task_runners import TaskRunner

    from flows.config import RuntimeConfig


class RunnerKind(StrEnum):
    """Values of ``runtime.task_runner``."""

    THREADS = "threads"
    DASK = "dask"


def dask_runner_kwargs(runtime: RuntimeConfig) -> dict[str, Any]:
    """Keyword arguments of :class:`prefect_dask.DaskTaskRunner` for ``runtime``.

    An address wins over the local-cluster sizes (the runner refuses both at once).
    """
    if runtime.dask_address:
        return {"address": runtime.dask_address}
    return {
        "cluster_class": "distributed.LocalCluster",
        "cluster_kwargs": {
            "n_workers": runtime.dask_workers,
            "threads_per_worker": runtime.dask_threads_per_worker,
            "processes": True,
            # No dashboard: it needs bokeh and a port, and nobody watches it in a batch run.
            "dashboard_address": None,
        },
    }


def task_runner_for(runtime: RuntimeConfig) -> TaskRunner:
    """The Prefect task runner that ``runtime`` selects.

    Parameters
    ----------
    runtime : RuntimeConfig
        ``task_runner`` is ``"threads"`` or ``"dask"``; the ``dask_*`` fields size or
        locate the cluster.

    Returns
    -------
    TaskRunner
        A fresh, unstarted runner: Prefect starts it when the flow begins and shuts it
        (and a local cluster) down when the flow ends.
    """
    kind = RunnerKind(runtime.task_runner)
    if kind is RunnerKind.THREADS:
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner()
    from prefect_dask import DaskTaskRunner

    return DaskTaskRunner(**dask_runner_kwargs(runtime))


def current_flow_run_id() -> str | None:
    """The id of the Prefect flow run this code runs in (None outside a flow run).

    The flows hand it to ``RunContext.open``: governance never imports Prefect.
    """
    from prefect.runtime import flow_run

    run_id = flow_run.id
    return str(run_id) if run_id else None


def executor_name() -> str:
    """Where this code runs: ``dask:<worker address>`` on a Dask worker, else the process
    and thread (``pid <n> <thread name>``).

    A process that has not imported ``distributed`` is no Dask worker (a worker runs inside
    it): asking it would import Dask for nothing (0.5 s of the demo's training, issue 28).
    """
    if "distributed" in sys.modules:
        from distributed import get_worker

        try:
            return f"dask:{get_worker().address}"
        except ValueError:  # not on a Dask worker
            pass
    return f"pid {os.getpid()} {threading.current_thread().name}"


@task(name="cv-trial", cache_policy=NO_CACHE)
def _trial(fn, args: tuple):
    return fn(*args), executor_name()


def map_on_task_runner(fn, args: list[tuple], where: list[str] | None = None) -> list:
    """Submit each ``fn(*a)`` to the flow's task runner (threads or Dask) and gather.

    Results come back in submission order, so the chosen trial is the same on any runner.
    ``where``, when given, receives the :func:`executor_name` of each trial's run.
    """
    futures = [_trial.submit(fn, a) for a in args]
    done = [f.result() for f in futures]
    if where is not None:
        where.extend(name for _, name in done)
    return [result for result, _ in done]
