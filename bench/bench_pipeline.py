"""The full governed pipeline: wall time, peak memory and orchestration overhead.

Usage::

    .venv/bin/python bench/bench_pipeline.py [--cases demo synthetic-1000] [--server] [--repeat N]

Each case runs ``alphagate run --json`` as a child process in a fresh workspace (cold:
new MLflow store, new ledger, new Prefect database) and reports

- wall time of the whole command (DESIGN.md targets: demo ≤ 20 s cold on a quiet machine;
  1,000 assets × 10 years ≤ 5 min and ≤ 6 GB),
- peak resident memory of the process tree (the CLI and the temporary Prefect server it
  starts), sampled every 50 ms with psutil,
- the stages' own wall time (``timings`` in the run summary: computation plus the ledger
  and MLflow calls a stage makes) and the share of wall time outside them: interpreter
  start and imports, the temporary Prefect server, flow and task orchestration
  (target ≤ 15 % cold, ≤ 10 % with a running server),
- the same in CPU seconds, which the machine's load inflates far less than wall time: the
  whole process tree's (the command and the temporary server it starts, from the kernel's
  accounting of the reaped children), each stage's (``cpu_timings``: the command's CPU
  over all its threads while the stage ran), and the share of CPU outside the stages.

The 1-minute load average is printed before and after each case.

``--server`` first starts a Prefect server once and points the runs at it
(``PREFECT_API_URL``), the way ``alphagate serve`` and scheduled deployments run: the share
outside the stages then excludes the temporary server's start-up.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the test cast's helpers (tests/helpers_identity.py)
CASES = {
    "demo": REPO / "configs" / "demo.yaml",
    "synthetic-1000": REPO / "bench" / "configs" / "synthetic-1000.yaml",
}


def tree_rss(proc: psutil.Process) -> int:
    """Resident bytes of a process and all its descendants."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):  # a child may exit while we sample
            total += p.memory_info().rss
    return total


def run_case(config: Path, env: dict[str, str]) -> dict:
    # the interpreter running this bench, on this checkout (a worktree has no .venv)
    cmd = [sys.executable, "-m", "flows.cli", "run", "--config", str(config)]
    cmd += ["--as", "dana", "--json"]
    # stderr is shown when the command fails (exit 1, 2 or 4; 3 is a gate's halt, the
    # demo's outcome)
    with tempfile.TemporaryFile() as errors:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=errors)
        ps, peak = psutil.Process(proc.pid), 0
        while proc.poll() is None:
            peak = max(peak, tree_rss(ps))
            time.sleep(0.05)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the command and its children
        if proc.returncode not in (0, 3):
            errors.seek(0)
            tail = errors.read().decode(errors="replace").strip().splitlines()[-5:]
            print("\n".join(f"    stderr: {line}" for line in tail), file=sys.stderr)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = proc.stdout.read().decode().strip().splitlines()
    summary = json.loads(lines[-1]) if lines else {}
    stages = sum(summary.get("timings", {}).values())
    stages_cpu = sum(summary.get("cpu_timings", {}).values())
    return {
        "exit": proc.returncode,
        "status": summary.get("status"),
        "wall_s": wall,
        "peak_rss_gb": peak / 1e9,
        "stages_s": stages,
        "outside_share": (wall - stages) / wall if wall else float("nan"),
        "timings": summary.get("timings", {}),
        "cpu_s": cpu,
        "stages_cpu_s": stages_cpu,
        "outside_cpu_share": (cpu - stages_cpu) / cpu if cpu else float("nan"),
        "cpu_timings": summary.get("cpu_timings", {}),
    }


def start_server(home: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api"
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
         "--port", str(port)],
        env={**env, "PREFECT_HOME": str(home / "prefect-server")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    import urllib.request

    for _ in range(240):
        try:
            urllib.request.urlopen(f"{url}/health", timeout=1)
            return server, url
        except OSError:
            time.sleep(0.5)
    server.kill()
    raise SystemExit("Prefect server did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--server", action="store_true", help="run against a started server")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each case, each cold")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="alphagate-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPHAGATE_", "MLFLOW_"))}
    env.pop("PREFECT_API_URL", None)
    env["PYTHONPATH"] = str(REPO)
    server = None
    if args.server:
        server, env["PREFECT_API_URL"] = start_server(base, env)
    print(f"full governed pipeline, cold workspace each case ({os.cpu_count()} cores)")
    print(
        f"{'case':<16}{'exit':>5}{'wall s':>9}{'peak GB':>9}{'stages s':>10}{'outside':>9}"
        f"{'CPU s':>8}{'stages':>8}{'outside':>9}{'load':>11}"
    )
    try:
        for name, i in [(name, i) for name in args.cases for i in range(args.repeat)]:
            home = base / f"{name}-{i}"
            # the cast enrolled and the policy adopted first (personal keys beside it)
            from governance.ground.workspace import Workspace
            from tests.helpers_identity import enrol_cast, keyring_dir

            # the policy the cases' configs name (the tests' default is another file)
            enrol_cast(Workspace(home), policy=REPO / "configs" / "policy.yaml")
            ring = str(keyring_dir(Workspace(home)))
            load = os.getloadavg()[0]
            r = run_case(
                CASES[name], {**env, "ALPHAGATE_HOME": str(home), "ALPHAGATE_KEYRING": ring}
            )
            print(
                f"{name:<16}{r['exit']:>5}{r['wall_s']:>9.1f}{r['peak_rss_gb']:>9.2f}"
                f"{r['stages_s']:>10.1f}{r['outside_share']:>9.1%}{r['cpu_s']:>8.1f}"
                f"{r['stages_cpu_s']:>8.1f}{r['outside_cpu_share']:>9.1%}"
                f"{load:>6.1f}-{os.getloadavg()[0]:<4.1f}"
            )
            cpu = r["cpu_timings"]
            print(
                "    stage wall (CPU): "
                + ", ".join(
                    f"{k} {v:.1f} ({cpu.get(k, float('nan')):.1f})" for k, v in r["timings"].items()
                )
            )
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    sys.exit(main())
