"""``alphagate serve`` and prefect.yaml against real local services.

One ``alphagate serve`` subprocess per module, in a temporary workspace on free loopback
ports: it starts a real Prefect server (SQLite in the workspace's PREFECT_HOME), creates
the process work pool, runs ``prefect --no-prompt deploy --all`` on this repository's
prefect.yaml, starts a process worker and an MLflow server. The tests then check, through
the Prefect client, the three deployments with their schedules and parameters; run the
monitoring deployment on the worker; and stop ``serve`` with Ctrl-C (SIGINT), checking that
every service ended, the worker first.
"""

from __future__ import annotations

import asyncio
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from flows import serve as sv
from flows.config import AlphagateConfig, load_config
from governance.ground.vocabulary import Action
from governance.ground.workspace import Workspace
from tests.helpers_identity import enrol_cast
from tests.helpers_witness import free_port

REPO = Path(__file__).resolve().parents[1]
#: Start-up allowance of the whole stack (three services + deploy) on a loaded machine:
#: under load 30 on two cores `prefect deploy --all` alone took 110 s and the stack missed
#: 300 s, so twice that.
SERVE_TIMEOUT_S = 600

EXPECTED = {
    # deployment: (entrypoint, flow name, cron, schedule slug)
    "weekly-retrain-validate": (
        "flows/pipeline.py:governed_pipeline",
        "governed-pipeline",
        "0 6 * * 6",
        "weekly-retrain",
    ),
    "daily-rebalance": (
        "flows/rebalance.py:rebalance_flow",
        "rebalance",
        "30 17 * * 1-5",
        "daily-rebalance",
    ),
    "daily-monitoring": (
        "flows/monitoring.py:monitoring_flow",
        "monitoring-flow",
        "0 17 * * 1-5",
        "daily-monitoring",
    ),
}


#: The deployment without a schedule: one review run per version (flows/review.py).
REVIEW = ("version-review", "flows/review.py:review_flow", "version-review")


class Served:
    """A running ``alphagate serve`` and what it printed."""

    def __init__(self, proc: subprocess.Popen, home: Path, api: str, mlflow: str):
        self.proc, self.home, self.api, self.mlflow = proc, home, api, mlflow
        self.lines: list[str] = []
        self._q: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self._q.put(line.rstrip("\n"))
        self._q.put(None)

    def wait_for(self, pattern: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._q.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError("alphagate serve exited:\n" + "\n".join(self.lines))
            self.lines.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no {pattern!r} after {timeout} s:\n" + "\n".join(self.lines))

    def pids(self) -> dict[str, int]:
        line = next(x for x in self.lines if x.startswith("services: "))
        return {m[0]: int(m[1]) for m in re.findall(r"([\w-]+) \(pid (\d+)\)", line)}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = tmp_path_factory.mktemp("serve") / "home"
    prefect_port, mlflow_port = free_port(), free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "MLFLOW_", "ALPHAGATE_"))  # the workspace decides
    }
    # scheduled runs act as an enrolled developer; the deployments run configs/demo.yaml,
    # which names the shipped policy: that one is in force here
    keys = enrol_cast(Workspace(home), policy=REPO / "configs" / "policy.yaml")
    env.update(ALPHAGATE_HOME=str(home), PYTHONUNBUFFERED="1")
    env.update(ALPHAGATE_USER="dana", ALPHAGATE_KEY=str(keys["dana"]))
    argv = [sys.executable, "-m", "flows.cli", "serve"]
    argv += ["--prefect-port", str(prefect_port), "--mlflow-port", str(mlflow_port)]
    proc = subprocess.Popen(
        argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    s = Served(
        proc, home, f"http://127.0.0.1:{prefect_port}/api", f"http://127.0.0.1:{mlflow_port}"
    )
    try:
        s.wait_for(r"^serving;", SERVE_TIMEOUT_S)
        yield s
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def _read(api: str):
    from prefect.client.orchestration import PrefectClient

    async with PrefectClient(api=api) as client:
        deployments = await client.read_deployments()
        pool = await client.read_work_pool(sv.WORK_POOL)
        flows = {f.id: f.name for f in await client.read_flows()}
    return deployments, pool, flows


def test_serve_refuses_to_start_schedules_nobody_can_run(tmp_path):
    """No enrolled identity in serve's environment: every scheduled deciding run would be
    refused overnight, so serve refuses first, in one line, and starts nothing."""
    home = tmp_path / "home"
    enrol_cast(Workspace(home))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ALPHAGATE_"))}
    env.update(ALPHAGATE_HOME=str(home), MLFLOW_TRACKING_URI=f"sqlite:///{home / 'mlflow.db'}")
    argv = [sys.executable, "-m", "flows.cli", "serve"]
    argv += ["--prefect-port", str(free_port()), "--mlflow-port", str(free_port())]
    out = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 4, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "ALPHAGATE_USER and ALPHAGATE_KEY" in lines[0], out.stderr
    assert not (home / "logs").exists()  # no service was started


def test_serve_names_who_the_scheduled_runs_act_as(served):
    assert "scheduled runs act as dana (developer)" in served.lines, served.lines[:5]


def test_serve_prints_both_uis_and_they_answer(served):
    assert f"Prefect UI: {served.api.removesuffix('/api')}" in "\n".join(served.lines)
    assert f"MLflow UI:  {served.mlflow}" in "\n".join(served.lines)
    with urllib.request.urlopen(f"{served.api}/health", timeout=10) as r:
        assert r.status == 200
    with urllib.request.urlopen(f"{served.mlflow}/health", timeout=10) as r:
        assert r.status == 200
    # The MLflow server stores into the workspace, not the current directory.
    assert (served.home / "mlflow.db").is_file()
    assert set(served.pids()) == {"prefect-server", "mlflow-server", "prefect-worker"}


def test_deploy_all_registers_three_schedules(served):
    _check_deployments(served.api)


def _check_deployments(api: str) -> None:
    """The three deployments of prefect.yaml, as the server at ``api`` holds them."""
    deployments, pool, flows = asyncio.run(_read(api))
    assert pool.type == "process"
    assert pool.base_job_template["job_configuration"]  # the process worker's template
    by_name = {d.name: d for d in deployments}
    assert set(by_name) == {*EXPECTED, REVIEW[0]}
    review = by_name[REVIEW[0]]
    assert (review.entrypoint, flows[review.flow_id]) == REVIEW[1:]
    assert review.work_pool_name == sv.WORK_POOL and not review.schedules
    for name, (entrypoint, flow_name, cron, slug) in EXPECTED.items():
        d = by_name[name]
        assert d.entrypoint == entrypoint
        assert flows[d.flow_id] == flow_name
        assert d.work_pool_name == sv.WORK_POOL
        assert len(d.schedules) == 1
        sched = d.schedules[0]
        assert sched.schedule.cron == cron
        assert sched.schedule.timezone == "America/New_York"
        assert sched.slug == slug
        assert sched.active
        # The pull step's placeholder was filled at deploy time with the project folder.
        step = d.pull_steps[0]["prefect.deployments.steps.set_working_directory"]
        assert Path(step["directory"]) == REPO
        assert d.global_concurrency_limit is not None
        assert d.global_concurrency_limit.limit == 1


def test_config_parameter_is_the_pydantic_model(served, monkeypatch):
    """The ``config:`` parameter names configs/demo.yaml; it validates against the flow's
    schema and loads, in the project folder, to exactly what ``--config`` loads."""
    from prefect.utilities.schema_tools import validate

    deployments, _, _ = asyncio.run(_read(served.api))
    demo_cfg = load_config(REPO / "configs" / "demo.yaml")
    monkeypatch.chdir(REPO)  # runs start in the project folder (pull step)
    for d in deployments:
        schema = d.parameter_openapi_schema
        assert schema["properties"]["config"]["$ref"] == "#/definitions/AlphagateConfig"
        assert d.parameters["config"] == {"file": "configs/demo.yaml"}  # a reference, no copy
        named = {"model_version": 1} if d.name == REVIEW[0] else {}  # a review names it
        validate({**d.parameters, **named}, schema, raise_on_error=True, ignore_required=False)
        cfg = AlphagateConfig.model_validate(d.parameters["config"])
        assert cfg.resolved() == demo_cfg.resolved()
        assert cfg.config_hash() == demo_cfg.config_hash()
        assert Path(cfg.base_dir) == REPO / "configs"
        assert cfg.resolve(cfg.policy.file) == demo_cfg.resolve(demo_cfg.policy.file)
        # A typo in a deployment's config is refused by the same schema.
        bad = {**d.parameters, **named}
        bad["config"] = {"file": "x.yaml", "runtime": {"task_runer": "dask"}}
        with pytest.raises(Exception, match="task_runer"):
            validate(bad, schema, raise_on_error=True, ignore_required=False)


def test_monitoring_deployment_runs_on_the_worker(served):
    """A run of the daily-monitoring deployment executes on the worker in the workspace.

    With no champion yet it records ``monitoring.completed`` with status ``no_champion``.
    """
    from prefect.client.orchestration import PrefectClient

    async def run() -> str:
        async with PrefectClient(api=served.api) as client:
            d = await client.read_deployment_by_name("monitoring-flow/daily-monitoring")
            fr = await client.create_flow_run_from_deployment(d.id)
            deadline = time.monotonic() + SERVE_TIMEOUT_S
            while time.monotonic() < deadline:
                fr = await client.read_flow_run(fr.id)
                if fr.state is not None and fr.state.is_final():
                    return fr.state.type.value
                await asyncio.sleep(1)
            return "TIMEOUT"

    state = asyncio.run(run())
    log = (served.home / "logs" / "prefect-worker.log").read_text(errors="replace")
    assert state == "COMPLETED", log[-3000:]

    from governance.ground.workspace import Workspace
    from governance.log.ledger import Ledger

    with Ledger.open(Workspace(served.home)) as ledger:
        done = ledger.entries(action=Action.MONITORING_COMPLETED)
    assert [e.payload["status"] for e in done] == ["no_champion"]
    assert done[0].payload["flow_run_id"]


def test_review_submit_runs_on_the_worker_and_says_why_it_stopped(served):
    """``alphagate review --submit`` starts a run of the version-review deployment on the
    worker; a version that does not exist fails the run with the reason as the last line
    of its log (no traceback)."""
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.client.schemas.sorting import LogSort

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    env.update(ALPHAGATE_HOME=str(served.home), PREFECT_API_URL=served.api)
    env.update(MLFLOW_TRACKING_URI=f"sqlite:///{served.home / 'mlflow.db'}")
    argv = [sys.executable, "-m", "flows.cli", "review", "--model-version", "7", "--submit"]
    out = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    run_id = re.search(r"flow run (\S+) \(http", out.stdout).group(1)
    assert f"{served.api.removesuffix('/api')}/runs/flow-run/{run_id}" in out.stdout

    async def final() -> tuple:
        async with PrefectClient(api=served.api) as client:
            deadline = time.monotonic() + SERVE_TIMEOUT_S
            while time.monotonic() < deadline:
                fr = await client.read_flow_run(run_id)
                if fr.state is not None and fr.state.is_final():
                    logs = await client.read_logs(
                        log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[fr.id])),
                        sort=LogSort.TIMESTAMP_ASC,
                    )
                    # the run's process ships its logs after its final state: the refusal
                    # may reach the server a moment after the state does
                    if any(g.message.startswith("refused") for g in logs):
                        return fr, logs
                await asyncio.sleep(1)
        raise AssertionError(
            f"review run not final, or its refusal not logged, after {SERVE_TIMEOUT_S} s"
        )

    fr, logs = asyncio.run(final())
    assert fr.parameters["model_version"] == 7 and fr.state.is_failed()
    assert logs[-1].message.startswith("refused (exit 2): "), [g.message for g in logs[-3:]]
    assert not any("Traceback" in g.message for g in logs)


def test_ctrl_c_stops_every_service_worker_first(served):
    pids = served.pids()
    served.proc.send_signal(signal.SIGINT)
    served.wait_for(r"^stopped$", 120)
    assert served.proc.wait(timeout=60) == 0
    order = [m[1] for x in served.lines if (m := re.match(r"stopped ([\w-]+) ", x))]
    assert order == ["prefect-worker", "mlflow-server", "prefect-server"]
    for pid in pids.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # gone (and reaped by serve)
    for url in (served.api, served.mlflow):
        port = int(url.split(":")[2].split("/")[0])
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()


@pytest.mark.slow  # the MLflow server start is exercised by `serve` above; this adds ~25 s
def test_ui_serves_mlflow_on_the_workspace_and_stops(tmp_path):
    home = tmp_path / "home"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "ALPHAGATE_"))}
    env.update(ALPHAGATE_HOME=str(home), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "ui", "--port", str(port)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout.readline().strip() == f"MLflow UI: http://127.0.0.1:{port}"
        deadline = time.monotonic() + SERVE_TIMEOUT_S
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "MLflow UI did not answer"
                time.sleep(0.5)
        assert (home / "mlflow.db").is_file()  # the workspace's store, not ./mlflow.db
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=120)
    assert code == 0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


@pytest.mark.pg
def test_prefect_server_on_postgresql_takes_the_deployments(pg_url, tmp_path):
    """docs/deploy.md's multi-machine path: Prefect's database on PostgreSQL."""
    import sqlalchemy as sa
    from test_ledger_support import scratch_pg_database

    from governance.ground.workspace import Workspace

    ws = Workspace(tmp_path / "home").ensure()
    port = free_port()
    api = f"http://{sv.LOOPBACK}:{port}/api"
    with scratch_pg_database(pg_url) as url:
        env = sv.service_env(ws, api, REPO)
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = (
            sa.make_url(url).set(drivername="postgresql+asyncpg").render_as_string(False)
        )
        server = sv.start(sv.prefect_server_service(sv.LOOPBACK, port, ui=False), env, ws.home)
        try:
            sv.wait_ready(server)
            sv.create_work_pool(api)
            sv.deploy_all(env, REPO)
            _check_deployments(api)
        finally:
            sv.stop(server)
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                n = conn.execute(sa.text("SELECT count(*) FROM deployment")).scalar_one()
        finally:
            engine.dispose()
        assert n == len(EXPECTED) + 1  # the rows are in PostgreSQL, not in a SQLite file
    assert not (ws.prefect_home / "prefect.db").exists()
