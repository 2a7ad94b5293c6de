"""Every command is a fresh process: what its cold path must not do (issue 28).

Each command runs as its own process (tests/helpers_cold.py) on a new workspace, as a user
runs it: the first command (the demo: training, validation, a Prefect flow) finds MLflow's
database already migrated (a copy of the template, flows/db_templates.py) and no command
imports Prefect's server package in its own process (a flow's temporary server is a child
process, flows/temporary_server.py). ``serve`` alone runs Prefect's server and is not run
here. The commands a risk officer runs to read and decide load none of pandas, numpy,
LightGBM, scikit-learn or MLflow (``--light``). Not timed: the record says what ran, not how
long it took.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HARNESS = REPO / "tests" / "helpers_cold.py"
DEMO = str(REPO / "configs" / "demo.yaml")


def command(tmp_path: Path, env: dict, *argv: str) -> tuple[int, list[str]]:
    """Run ``alphagate argv`` as a new process; its exit code and the record's new lines."""
    record = tmp_path / "record.txt"
    before = record.read_text().splitlines() if record.exists() else []
    done = subprocess.run(
        [sys.executable, str(HARNESS), str(record), *argv],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    lines = record.read_text().splitlines() if record.exists() else []
    return done.returncode, lines[len(before) :]


@pytest.fixture
def cold_env(tmp_path):
    """A new workspace and a user's environment: no Prefect server named anywhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    env.pop("ALPHAGATE_LEDGER_URL", None)
    env |= {
        "ALPHAGATE_HOME": str(tmp_path / "home"),
        "ALPHAGATE_WITNESS": str(tmp_path / "witness"),
        "ALPHAGATE_KEYRING": str(tmp_path / "keyring"),
        "PYTHONPATH": str(REPO),
    }
    return env


def test_no_command_imports_prefects_server_nor_migrates_mlflow(cold_env, tmp_path):
    code, record = command(tmp_path, cold_env, "demo", "--config", DEMO)
    assert (code, record) == (0, [])
    assert (tmp_path / "home" / "prefect" / "prefect.db").is_file()  # the flow's server ran
    for argv in (
        ["rebalance", "--config", DEMO, "--as", "dana"],
        ["models"],  # the inventory changed: published to MLflow (a view), so MLflow loads
        ["--light", "status"],
        ["--light", "models"],
        ["--light", "findings", "list"],
        ["--light", "killswitch", "status"],
        ["--light", "ledger", "verify"],
        ["--light", "ledger", "verify", "--incremental"],
    ):
        code, record = command(tmp_path, cold_env, *argv)
        assert code in (0, 3) and record == [], (argv, code, record)


def _probe(tmp_path, cold_env, flags: list[str], main_source: str) -> list[str]:
    """Run the harness with ``flows.cli.main`` replaced by ``main_source`` (a function named
    ``probe_main``); return the lines it recorded."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import sys, runpy\n"
        f"sys.argv = [{str(HARNESS)!r}, sys.argv[1], *{flags!r}, 'version-probe']\n"
        "import flows.cli\n"
        f"{main_source}"
        "flows.cli.main = probe_main\n"
        f"runpy.run_path({str(HARNESS)!r}, run_name='__main__')\n"
    )
    record = tmp_path / "probe-record.txt"
    done = subprocess.run(
        [sys.executable, str(probe), str(record)],
        env=cold_env, cwd=REPO, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return record.read_text().splitlines()


def test_the_record_sees_both_when_they_happen(cold_env, tmp_path):
    """The harness can fail: MLflow on a new database that was not seeded migrates it, and
    Prefect starting its own temporary server imports its server package."""
    lines = _probe(tmp_path, cold_env, [], (
        "def probe_main(argv):\n"
        "    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore\n"
        "    SqlAlchemyStore('sqlite:///' + sys.argv[1] + '.db', sys.argv[1] + '-art')\n"
        "    from prefect import flow\n"
        "    flow(lambda: 1, name='probe')()\n"
        "    return 0\n"
    ))  # fmt: skip
    assert "mlflow _initialize_tables" in lines and "mlflow _upgrade_db" in lines
    assert "import prefect.server.api.server" in lines


def test_the_light_record_sees_the_numerical_stack(cold_env, tmp_path):
    """``--light`` can fail: a command that imports pandas is recorded as loading it."""
    lines = _probe(tmp_path, cold_env, ["--light"], (
        "def probe_main(argv):\n"
        "    assert argv == ['version-probe'], argv\n"
        "    import pandas  # noqa: F401\n"
        "    return 0\n"
    ))  # fmt: skip
    assert "loaded pandas" in lines and "loaded numpy" in lines
    assert not any(line.startswith("mlflow") for line in lines)
