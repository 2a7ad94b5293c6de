"""Interactive governance commands end to end, each a fresh ``alphagate`` process (issue 28).

Two workspaces, each made first unless given:

- the demo workspace (``--home``: one made by ``alphagate demo``), where the read-only
  commands a risk officer runs are started ``--repeats`` times each, interleaved with the
  floor: ``status``, ``models``, ``findings list``, ``killswitch status``,
  ``ledger verify --incremental``;
- a workspace where the deciding acts are legal (``--review-home``), made as the tests make
  one (tests/helpers_e2e.py: the cast enrolled, the policy adopted, ``run`` on the review
  market halts at REVIEW with one warning): ``findings accept`` (rita), ``approve`` (vera),
  ``killswitch trip`` (rita), ``killswitch reset`` (omar) and ``reject`` (omar), each once,
  in that order, each beside a floor run. Their exit codes are printed (0 = the act was
  legal and done). Each act's MLflow views are derived after its answer by a detached
refresher (flows/view_refresh.py): the bench prints how long after the act began they were
written and the refresher's CPU, and starts the next act only then.

Each figure is the child process's CPU time (user + system, ``resource.getrusage``) and its
wall time; the ratio is CPU against the floor's CPU measured in the same run,
``alphagate --version`` (the interpreter and the CLI's own imports, no workspace). On a
shared machine CPU seconds and ratios hold; wall seconds do not, so the load is printed
beside them. Target (shared/DESIGN.md): each <= 1.5 s end to end on a quiet machine.

    .venv/bin/python bench/bench_commands.py [--home DIR] [--review-home DIR] [--repeats 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
READS = (
    ("status",),
    ("models",),
    ("findings", "list"),
    ("killswitch", "status"),
    ("ledger", "verify", "--incremental"),
)
REVIEW = REPO / "tests" / "data" / "review.yaml"
TARGET_S = 1.5


def alphagate(env: dict, *argv: str, ok=(0, 3)) -> tuple[float, float, int]:
    """``(cpu_s, wall_s, exit)`` of one ``alphagate argv`` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", *argv],
        env=env, cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode not in ok:
        raise SystemExit(f"alphagate {' '.join(argv)}: exit {done.returncode}\n{done.stderr}")
    return cpu, wall, done.returncode


def base_env() -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    drop = ("PREFECT_API", "MLFLOW_", "ALPHAGATE_LEDGER_URL", "ALPHAGATE_USER", "ALPHAGATE_KEY")
    return {k: v for k, v in env.items() if not k.startswith(drop)}


def demo_home(env: dict) -> Path:
    """A new demo workspace (the keyring and witness beside it); its home."""
    base = Path(tempfile.mkdtemp(prefix="alphagate-bench-commands-"))
    env |= {"ALPHAGATE_KEYRING": str(base / "keyring"), "ALPHAGATE_WITNESS": str(base / "witness"),
            "ALPHAGATE_HOME": str(base / "home")}  # fmt: skip
    cpu, wall, _ = alphagate(env, "demo", "--config", str(REPO / "configs" / "demo.yaml"))
    print(f"demo workspace made in {wall:.1f} s ({cpu:.1f} s CPU): {base / 'home'}", flush=True)
    return base / "home"


def review_home(env: dict, home: Path | None) -> Path:
    """The review market's workspace (tests/helpers_e2e.py): cast enrolled, policy adopted,
    ``run`` halted at REVIEW (made when ``home`` does not exist); its home. The environment
    is set for its commands."""
    home = home or Path(tempfile.mkdtemp(prefix="alphagate-bench-review-")) / "home"
    new = not home.exists()
    env |= {"ALPHAGATE_HOME": str(home), "ALPHAGATE_CONFIG": str(REVIEW),
            "ALPHAGATE_WITNESS": str(home.parent / "witness"),
            "ALPHAGATE_KEYRING": str(home.parent / f"{home.name}-keyring"),
            "XDG_DATA_HOME": str(home.parent / "xdg")}  # fmt: skip
    if new:
        # ``run`` starts Prefect's temporary server (flows/temporary_server.py): under load
        # it imports itself for minutes, past the 90 s default; a slow start is the load's,
        # not the acts' (the acts below start no server), so the setup waits for it
        env.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "1800")
        script = ("from pathlib import Path\nfrom governance.ground.workspace import Workspace\n"
                  "from tests.helpers_identity import enrol_cast\n"
                  f"enrol_cast(Workspace(Path({str(home)!r})))\n")  # fmt: skip
        subprocess.run([sys.executable, "-c", script], env=env, cwd=REPO, check=True)
        cpu, wall, code = alphagate(env, "run", "--config", str(REVIEW), "--as", "dana")
        print(f"review workspace made in {wall:.1f} s ({cpu:.1f} s CPU, run exit {code}): {home}",
              flush=True)  # fmt: skip
    return home


def acts() -> list[tuple[str, ...]]:
    """The deciding acts, legal in this order on the review workspace's v1."""
    until = (dt.date.today() + dt.timedelta(days=90)).isoformat()
    return [
        ("findings", "accept", "F-review-e2e-v1-1", "--as", "rita", "--reason", "prior too strict",
         "--until", until, "--control", "monthly SHAP sign review"),
        ("approve", "--model-version", "1", "--as", "vera", "--reason", "holdout reviewed"),
        ("killswitch", "trip", "--as", "rita", "--reason", "drill"),
        ("killswitch", "reset", "--as", "omar", "--reason", "drill over", "--incident", "INC-1"),
        ("reject", "--model-version", "1", "--as", "omar", "--reason", "second look"),
    ]  # fmt: skip


def views_settled(home: Path, t0: float) -> tuple[float, float | None]:
    """Wait until the act's detached refresher has derived the views up to the ledger's
    head (flows/view_refresh.py: its marker); seconds since ``t0`` and the CPU seconds the
    refresher recorded (its whole process, imports included). The next act starts after
    this, so refreshers never run under the next act's timing."""
    import json

    from flows.view_refresh import MARKER
    from governance.ground.workspace import Workspace
    from governance.log.ledger import Ledger

    with Ledger.open(Workspace(home)) as ledger:
        head = ledger.head()[0]
    deadline = time.monotonic() + 900
    while True:
        try:
            marker = json.loads((home / MARKER).read_text())
        except (OSError, ValueError):
            marker = {}
        if marker.get("seq", 0) >= head:
            return time.perf_counter() - t0, marker.get("cpu_s")
        if time.monotonic() > deadline:
            raise SystemExit(f"views of {home} not refreshed in 900 s (see logs/views.log)")
        time.sleep(0.02)


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def line(label: str, cpu: float, wall: float, floor_cpu: float, extra: str = "") -> str:
    met = "met" if wall <= TARGET_S else "not met"
    return (f"  {label:<30} CPU {cpu:6.2f} s  {cpu / floor_cpu:5.2f}x the floor;"
            f" wall {wall:6.2f} s (<= {TARGET_S} s quiet: {met} here){extra}")  # fmt: skip


def read_only(args: argparse.Namespace) -> None:
    """The read-only commands on the demo workspace, interleaved with the floor."""
    env = base_env()
    if args.home is None:
        args.home = demo_home(env)
    env["ALPHAGATE_HOME"] = str(args.home)
    alphagate(env, "views", "refresh")  # no refresher left running under the reads
    floor, rows = [], {}
    print(f"read-only commands on the demo workspace; load before {load()}", flush=True)
    for _ in range(args.repeats):  # interleaved: the load weighs on floor and commands alike
        floor.append(alphagate(env, "--version"))
        for cmd in READS:
            rows.setdefault(cmd, []).append(alphagate(env, *cmd))
    f_cpu = statistics.median(c for c, _w, _x in floor)
    f_wall = statistics.median(w for _c, w, _x in floor)
    print(f"floor `alphagate --version`: CPU {f_cpu:.2f} s, wall {f_wall:.2f} s"
          f" (medians of {args.repeats}); load after {load()}")  # fmt: skip
    for cmd, runs in rows.items():
        cpu = statistics.median(c for c, _w, _x in runs)
        wall = statistics.median(w for _c, w, _x in runs)
        print(line(" ".join(cmd), cpu, wall, f_cpu))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, help="a demo workspace (default: make one)")
    ap.add_argument("--review-home", type=Path, help="a review workspace (default: make one)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-acts", action="store_true", help="only the read-only commands")
    ap.add_argument("--acts-only", action="store_true", help="only the deciding acts")
    args = ap.parse_args(argv)
    if not args.acts_only:
        read_only(args)
    if args.no_acts:
        return 0
    renv = base_env()
    review_home(renv, args.review_home)
    print(f"deciding acts on the review workspace, once each; load before {load()}", flush=True)
    home = Path(renv["ALPHAGATE_HOME"])
    alphagate(renv, "views", "refresh")  # the workspace's own views first
    for cmd in acts():
        f = alphagate(renv, "--version")
        t0 = time.perf_counter()
        cpu, wall, code = alphagate(renv, *cmd, ok=(0, 3, 4))
        after, refresher_cpu = views_settled(home, t0)
        label = " ".join(cmd[:2] if cmd[0] != "approve" and cmd[0] != "reject" else cmd[:1])
        views = f"; views refreshed {after:.2f} s after the act began (refresher CPU"
        views += f" {refresher_cpu:.2f} s)" if refresher_cpu is not None else " -)"
        print(line(label, cpu, wall, f[0], f"; exit {code}, floor CPU {f[0]:.2f} s{views}"),
              flush=True)  # fmt: skip
    print(f"load after {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
