"""Interactive governance commands end to end, each a fresh ``alphagate`` process.

On a demo workspace (``--home``: one made by ``alphagate demo``; default: a new one is made
first, which takes a cold demo's time), each read-only command a risk officer runs is
started as its own process ``--repeats`` times: ``status``, ``models``, ``findings list``,
``killswitch status``, ``ledger verify --incremental``. Printed per command: the median
wall time, the target (issue 28: <= 1.5 s on a quiet machine) and the ratio against the
floor measured in the same run, ``alphagate --version`` (the interpreter and the CLI's
own imports, no workspace). The load is printed beside the figures. Usage::

    .venv/bin/python bench/bench_commands.py [--home DIR] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMANDS = (
    ("status",),
    ("models",),
    ("findings", "list"),
    ("killswitch", "status"),
    ("ledger", "verify", "--incremental"),
)
TARGET_S = 1.5


def alphagate(env: dict, *argv: str) -> float:
    """Seconds of one ``alphagate argv`` process (it must succeed or halt, exit 0 or 3)."""
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", *argv],
        env=env, cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - t0
    if done.returncode not in (0, 3):
        raise SystemExit(f"alphagate {' '.join(argv)}: exit {done.returncode}\n{done.stderr}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, help="a demo workspace (default: make one)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env = {k: v for k, v in env.items() if not k.startswith(("PREFECT_API", "MLFLOW_"))}
    home = args.home
    if home is None:
        base = Path(tempfile.mkdtemp(prefix="alphagate-bench-commands-"))
        home = base / "home"
        env["ALPHAGATE_KEYRING"] = str(base / "keyring")
        env["ALPHAGATE_WITNESS"] = str(base / "witness")
        env["ALPHAGATE_HOME"] = str(home)
        made = alphagate(env, "demo", "--config", str(REPO / "configs" / "demo.yaml"))
        print(f"demo workspace made in {made:.1f} s: {home}", flush=True)
    env["ALPHAGATE_HOME"] = str(home)
    floor, rows = [], {}
    for _ in range(args.repeats):  # interleaved: the load weighs on floor and commands alike
        floor.append(alphagate(env, "--version"))
        for cmd in COMMANDS:
            rows.setdefault(cmd, []).append(alphagate(env, *cmd))
    base_s = statistics.median(floor)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"floor `alphagate --version`: {base_s:.2f} s (median of {args.repeats}); load {load}")
    for cmd, times in rows.items():
        median = statistics.median(times)
        met = "met" if median <= TARGET_S else "not met"
        print(
            f"  {' '.join(cmd):<28} {median:6.2f} s  {median / base_s:5.2f}x the floor"
            f"  (target <= {TARGET_S} s on a quiet machine: {met} here)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
