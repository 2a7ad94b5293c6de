"""Local services for schedules and UIs: ``alphagate serve`` and ``alphagate ui``.

``serve`` starts, on loopback, in this order:

1. a Prefect server (``prefect server start``; SQLite under ``<workspace>/prefect`` unless
   ``PREFECT_API_DATABASE_CONNECTION_URL`` names another database);
2. the process work pool ``alphagate-local`` and the deployments of ``prefect.yaml``
   (``prefect --no-prompt deploy --all``);
3. a process worker on that pool, which runs the scheduled and UI-triggered flow runs;
4. an MLflow server on the workspace (``mlflow.db``, ``mlartifacts/``) with the light
   settings of shared/DESIGN.md: ``--workers 1`` and background jobs off (≈ 0.5 GB
   instead of ≈ 3.7 GB).

It prints the two UI addresses and stops everything on Ctrl-C or SIGTERM: the worker
first (so no new flow run starts against a server that is going away), then MLflow, then
the Prefect server. Each service runs in its own session (process group) so that a
terminal's Ctrl-C reaches ``serve`` alone and ``serve`` decides the order.

Services are driven through their own command lines in subprocesses with an explicit
environment: the calling process may already have imported Prefect with other settings.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from governance.ground.errors import InputError
from governance.ground.workspace import QUIET_STACK_ENV, Workspace

LOOPBACK = "127.0.0.1"
#: Name of the process work pool; prefect.yaml ``definitions.work_pools.local`` names it.
WORK_POOL = "alphagate-local"
#: Environment variable the deployments' ``set_working_directory`` pull step reads.
PROJECT_DIR_ENV = "ALPHAGATE_PROJECT_DIR"
#: The MLflow server's address, for links a person opens (flows/ui_form.py ``report_url``):
#: ``serve`` gives its worker the MLflow server it starts.
MLFLOW_URL_ENV = "ALPHAGATE_MLFLOW_URL"
#: Folder holding prefect.yaml (this repository's root).
PROJECT_DIR = Path(__file__).resolve().parents[1]
#: Start-up allowance: Prefect's server needs 10-20 s on a new database (shared/DESIGN.md);
#: six times that leaves room on a loaded two-core machine.
STARTUP_TIMEOUT_S = 120.0
#: Grace period between SIGTERM and SIGKILL when stopping a service.
STOP_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Service:
    """One long-running child process.

    Attributes
    ----------
    name : str
        Label used in messages (``prefect-server``, ``prefect-worker``, ``mlflow-server``).
    argv : tuple of str
        Command line.
    health_url : str or None
        URL answering HTTP 200 once the service is ready; None: ready when started.
    """

    name: str
    argv: tuple[str, ...]
    health_url: str | None = None


@dataclass
class Running:
    """A started :class:`Service` and its process."""

    service: Service
    process: subprocess.Popen
    log_path: Path | None = None


def _cli(module: str) -> list[str]:
    """``python -m <module>`` with this interpreter, so the virtualenv's packages are used."""
    return [sys.executable, "-m", module]


def check_port_free(host: str, port: int) -> None:
    """Raise :class:`InputError` when ``host:port`` is already taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # As the servers bind: connections of a previous run in TIME_WAIT do not count.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            raise InputError(f"{host}:{port}: port already in use (choose another)") from None


def service_env(
    ws: Workspace,
    prefect_api_url: str | None = None,
    project_dir: Path = PROJECT_DIR,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Environment of every child service: the workspace, the quiet stack, the API URL.

    Values already in ``base`` (default ``os.environ``) win over the workspace defaults,
    except ``PREFECT_API_URL`` when ``prefect_api_url`` is given (the server just started).
    """
    env = dict(os.environ if base is None else base)
    for key, value in QUIET_STACK_ENV.items():
        env.setdefault(key, value)
    env.setdefault("ALPHAGATE_HOME", str(ws.home))
    env.setdefault("PREFECT_HOME", str(ws.prefect_home))
    env.setdefault("MLFLOW_TRACKING_URI", ws.tracking_uri)
    env.setdefault(PROJECT_DIR_ENV, str(project_dir))
    env.setdefault("PYTHONUNBUFFERED", "1")
    if prefect_api_url is not None:
        env["PREFECT_API_URL"] = prefect_api_url
    return env


def prefect_server_service(host: str, port: int, *, ui: bool = True) -> Service:
    """``prefect server start`` on ``host:port``; ready when ``/api/health`` answers."""
    argv = [*_cli("prefect"), "server", "start", "--host", host, "--port", str(port)]
    argv += ["--analytics-off", "--ui" if ui else "--no-ui"]
    return Service("prefect-server", tuple(argv), f"http://{host}:{port}/api/health")


def prefect_worker_service(pool: str = WORK_POOL) -> Service:
    """A process worker polling ``pool``."""
    argv = [*_cli("prefect"), "worker", "start", "--pool", pool, "--type", "process"]
    return Service("prefect-worker", (*argv, "--name", f"{pool}-worker"))


def mlflow_server_service(ws: Workspace, host: str, port: int) -> Service:
    """``mlflow server`` on the workspace, one worker (shared/DESIGN.md, light settings).

    The backend store is ``MLFLOW_TRACKING_URI`` when it names a database, else the
    workspace's ``mlflow.db``; proxied artifacts go to ``<workspace>/mlartifacts``.
    """
    backend = ws.tracking_uri
    if backend.startswith(("http://", "https://")):
        raise InputError(
            f"MLFLOW_TRACKING_URI={backend}: already an MLflow server; "
            "unset it to serve the workspace's own store"
        )
    argv = [*_cli("mlflow"), "server", "--host", host, "--port", str(port), "--workers", "1"]
    argv += ["--backend-store-uri", backend, "--artifacts-destination", ws.mlartifacts.as_uri()]
    return Service("mlflow-server", tuple(argv), f"http://{host}:{port}/health")


def mlflow_env(env: Mapping[str, str]) -> dict[str, str]:
    """Environment of the MLflow server: background job execution off (memory, DESIGN.md)."""
    return {**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def start(service: Service, env: Mapping[str, str], log_dir: Path | None = None) -> Running:
    """Start ``service`` in its own session; output goes to ``log_dir/<name>.log`` if given."""
    log_path = None
    out = None
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"{service.name}.log"
        out = log_path.open("ab")
    try:
        proc = subprocess.Popen(
            list(service.argv),
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out if out is not None else None,
            stderr=subprocess.STDOUT if out is not None else None,
            start_new_session=True,
        )
    finally:
        if out is not None:
            out.close()  # the child holds its own descriptor
    return Running(service, proc, log_path)


def _tail(path: Path | None, n: int = 20) -> str:
    if path is None or not path.is_file():
        return ""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()[-n:]
    return "\n".join(lines)


def wait_ready(running: Running, timeout: float = STARTUP_TIMEOUT_S) -> None:
    """Block until the service's health URL answers 200; raise if it exits or times out."""
    url = running.service.health_url
    if url is None:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            raise RuntimeError(
                f"{running.service.name} exited with code {running.process.returncode} "
                f"before it was ready\n{_tail(running.log_path)}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{running.service.name}: {url} not ready after {timeout:.0f} s")


def stop(running: Running, timeout: float = STOP_TIMEOUT_S) -> int:
    """Stop a service and its children: SIGTERM to its process group, SIGKILL after timeout.

    Returns the process's exit code. Safe to call on a process that already ended.
    """
    proc = running.process
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)
    # The CLI parent may exit before children it spawned (uvicorn): end the rest of its group.
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    return int(proc.returncode)


def run_cli(
    argv: list[str], env: Mapping[str, str], cwd: Path, what: str, timeout=STARTUP_TIMEOUT_S
) -> str:
    """Run a short command to completion; raise with its output when it fails."""
    res = subprocess.run(
        argv, env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    if res.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {res.returncode}):\n{res.stdout}\n{res.stderr}")
    return res.stdout


def create_work_pool(api_url: str, pool: str = WORK_POOL) -> None:
    """Create the process work pool ``pool`` on the server at ``api_url`` (kept if it exists).

    Uses the REST API with the process worker's default job template: the same pool
    ``prefect work-pool create --type process`` makes, without starting another CLI.
    """
    import httpx
    from prefect.workers.process import ProcessWorker

    body = {
        "name": pool,
        "type": ProcessWorker.type,
        "base_job_template": ProcessWorker.get_default_base_job_template(),
    }
    resp = httpx.post(f"{api_url}/work_pools/", json=body, timeout=30)
    if resp.status_code not in (201, 409):  # 409: it exists already
        raise RuntimeError(f"creating work pool {pool} failed: {resp.status_code} {resp.text}")


def deploy_all(env: Mapping[str, str], project_dir: Path = PROJECT_DIR) -> str:
    """``prefect --no-prompt deploy --all`` in ``project_dir`` (its prefect.yaml). It loads
    each deployment's flow (the whole stack): 110 s measured for four under load 30 on two
    cores, so it gets two and a half start-up allowances."""
    argv = [*_cli("prefect"), "--no-prompt", "deploy", "--all"]
    return run_cli(argv, env, project_dir, "prefect deploy --all", 2.5 * STARTUP_TIMEOUT_S)


@dataclass(frozen=True)
class ServeAddresses:
    """Where the local services listen."""

    prefect_ui: str
    prefect_api: str
    mlflow_ui: str


@contextmanager
def local_services(
    ws: Workspace,
    *,
    host: str = LOOPBACK,
    prefect_port: int = 4200,
    mlflow_port: int = 5000,
    project_dir: Path = PROJECT_DIR,
    deploy: bool = True,
    prefect_ui: bool = True,
) -> Iterator[tuple[ServeAddresses, list[Running]]]:
    """Start the services of ``alphagate serve``; stop them, worker first, on exit.

    Yields the addresses and the running services (in start order). Logs go to
    ``<workspace>/logs/<service>.log``.
    """
    for port in (prefect_port, mlflow_port):
        check_port_free(host, port)
    api = f"http://{host}:{prefect_port}/api"
    env = service_env(ws, api, project_dir)
    env.setdefault(MLFLOW_URL_ENV, f"http://{host}:{mlflow_port}")
    logs = ws.home / "logs"
    running: list[Running] = []
    try:
        server = start(prefect_server_service(host, prefect_port, ui=prefect_ui), env, logs)
        running.append(server)
        mlflow_srv = start(mlflow_server_service(ws, host, mlflow_port), mlflow_env(env), logs)
        running.append(mlflow_srv)
        wait_ready(server)
        if deploy:
            create_work_pool(api)
            deploy_all(env, project_dir)
        running.append(start(prefect_worker_service(), env, logs))
        wait_ready(mlflow_srv)
        yield (
            ServeAddresses(f"http://{host}:{prefect_port}", api, f"http://{host}:{mlflow_port}"),
            running,
        )
    finally:
        # Reverse start order: the worker first, then MLflow, then the Prefect server.
        for r in reversed(running):
            code = stop(r)
            print(f"stopped {r.service.name} (pid {r.process.pid}, exit {code})", flush=True)


class _Terminate(Exception):
    """SIGTERM received: unwind like Ctrl-C."""


def _raise_terminate(signum, frame):
    raise _Terminate


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """While active, SIGTERM raises :class:`_Terminate` so ``finally`` blocks stop services."""
    previous = signal.signal(signal.SIGTERM, _raise_terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def serve(
    ws: Workspace,
    *,
    host: str = LOOPBACK,
    prefect_port: int = 4200,
    mlflow_port: int = 5000,
    project_dir: Path = PROJECT_DIR,
    poll_s: float = 1.0,
) -> int:
    """Run the local services until Ctrl-C or SIGTERM (exit 0) or until one dies (exit 1)."""
    try:
        with (
            _sigterm_unwinds(),
            local_services(
                ws,
                host=host,
                prefect_port=prefect_port,
                mlflow_port=mlflow_port,
                project_dir=project_dir,
            ) as (addr, running),
        ):
            print(f"Prefect UI: {addr.prefect_ui}   (PREFECT_API_URL={addr.prefect_api})")
            print(f"MLflow UI:  {addr.mlflow_ui}")
            print(f"work pool {WORK_POOL}: worker running; logs in {ws.home / 'logs'}")
            print(
                "services: " + ", ".join(f"{r.service.name} (pid {r.process.pid})" for r in running)
            )
            print("serving; Ctrl-C stops the worker, MLflow and the Prefect server", flush=True)
            while True:
                for r in running:
                    if r.process.poll() is not None:
                        print(
                            f"alphagate: {r.service.name} exited with code "
                            f"{r.process.returncode}; stopping\n{_tail(r.log_path)}",
                            file=sys.stderr,
                        )
                        return 1
                time.sleep(poll_s)
    except (KeyboardInterrupt, _Terminate):
        print("stopped", flush=True)
        return 0


def ui(ws: Workspace, *, host: str = LOOPBACK, port: int = 5000) -> int:
    """The MLflow UI alone on the workspace, in the foreground, until Ctrl-C or SIGTERM."""
    check_port_free(host, port)
    env = mlflow_env(service_env(ws))
    with _sigterm_unwinds():
        running = start(mlflow_server_service(ws, host, port), env)
        try:
            print(f"MLflow UI: http://{host}:{port}", flush=True)
            return int(running.process.wait())
        except (KeyboardInterrupt, _Terminate):
            return 0
        finally:
            stop(running)
