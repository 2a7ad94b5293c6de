"""The task-runner switch: one tiny flow gives the same result on threads and on Dask."""

from __future__ import annotations

import os

import numpy as np

from flows.config import RuntimeConfig
from flows.runners import dask_runner_kwargs, task_runner_for


def _fold_score(seed: int) -> float:
    """A stand-in for one CV fold: a seeded least-squares fit, returns its R²."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((400, 5))
    y = X @ np.arange(1.0, 6.0) + rng.standard_normal(400)
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    return float(1.0 - resid.var() / y.var())


def _make_flow():
    from prefect import flow, task

    @task
    def fold(seed: int) -> tuple[float, int]:
        return _fold_score(seed), os.getpid()

    @flow
    def folds(seeds: list[int]) -> list[tuple[float, int]]:
        return [f.result() for f in fold.map(seeds)]

    return folds


def _run(runtime: RuntimeConfig, seeds: list[int]) -> tuple[list[float], set[int]]:
    out = _make_flow().with_options(task_runner=task_runner_for(runtime))(seeds)
    return [score for score, _ in out], {pid for _, pid in out}


def test_runtime_selects_runner_class():
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect_dask import DaskTaskRunner

    assert isinstance(task_runner_for(RuntimeConfig()), ThreadPoolTaskRunner)
    assert isinstance(task_runner_for(RuntimeConfig(task_runner="dask")), DaskTaskRunner)
    local = dask_runner_kwargs(RuntimeConfig(task_runner="dask", dask_workers=3))
    assert local["cluster_kwargs"]["n_workers"] == 3
    assert local["cluster_kwargs"]["threads_per_worker"] == 1
    remote = dask_runner_kwargs(
        RuntimeConfig(task_runner="dask", dask_address="tcp://127.0.0.1:8786", dask_workers=3)
    )
    assert remote == {"address": "tcp://127.0.0.1:8786"}


def test_threads_and_local_dask_cluster_agree(prefect_server):
    seeds = list(range(6))
    expected = [_fold_score(s) for s in seeds]
    threads, thread_pids = _run(RuntimeConfig(task_runner="threads"), seeds)
    dask, dask_pids = _run(RuntimeConfig(task_runner="dask", dask_workers=2), seeds)
    assert threads == expected
    assert dask == expected
    # Threads stay in this process; the local Dask cluster ran the folds in worker processes.
    assert thread_pids == {os.getpid()}
    assert os.getpid() not in dask_pids


def test_dask_scheduler_address(prefect_server):
    """``dask_address`` makes the flow a client of an existing scheduler (docs/deploy.md)."""
    from distributed import Client, LocalCluster

    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        runtime = RuntimeConfig(task_runner="dask", dask_address=cluster.scheduler_address)
        scores, pids = _run(runtime, [7, 8])
        with Client(cluster) as client:
            worker_pids = set(client.run(os.getpid).values())
    assert scores == [_fold_score(7), _fold_score(8)]
    assert pids == worker_pids
