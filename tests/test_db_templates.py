"""The migrated MLflow and Prefect databases a new workspace starts from
(flows/db_templates.py).

Real Prefect and MLflow: each template is built by the package's own migrations; a
temporary server started on a seeded workspace runs a flow, and MLflow uses a seeded
database without migrating it. Servers and stores run in child processes, because both
packages read their settings (``PREFECT_HOME``, the database URL) once per process.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from flows import db_templates

REPO = Path(__file__).resolve().parents[1]

FLOW = """
from prefect import flow

@flow
def one():
    return 41 + 1

assert one() == 42
print("flow ok")
"""


@pytest.fixture(scope="module")
def template():
    """The installed Prefect template (built on first use, or by `make install`)."""
    return db_templates.build(db_templates.PREFECT)


@pytest.fixture
def clean_env(monkeypatch, template):
    for var in db_templates.ELSEWHERE:
        monkeypatch.delenv(var, raising=False)


def test_template_is_one_migrated_file_with_prefect_block_types(template):
    assert not template.with_name(template.name + "-wal").exists()
    with sqlite3.connect(template) as con:
        (revision,) = con.execute("SELECT version_num FROM alembic_version").fetchone()
        (blocks,) = con.execute("SELECT count(*) FROM block_type").fetchone()
        (runs,) = con.execute("SELECT count(*) FROM flow_run").fetchone()
    assert revision and blocks > 0 and runs == 0  # migrated, registered, and empty


def test_a_seeded_workspace_runs_a_flow_on_its_temporary_server(clean_env, template, tmp_path):
    home = tmp_path / "prefect"
    assert db_templates.seed_prefect(home)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "true",
    }
    done = subprocess.run(
        [sys.executable, "-c", FLOW], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and "flow ok" in done.stdout, done.stderr[-2000:]
    with sqlite3.connect(home / "prefect.db") as con:
        (runs,) = con.execute("SELECT count(*) FROM flow_run").fetchone()
    assert runs == 1  # the run is in the workspace's own copy, not in the template
    with sqlite3.connect(template) as con:
        assert con.execute("SELECT count(*) FROM flow_run").fetchone() == (0,)


def test_seed_never_replaces_a_database_nor_seeds_for_another_server(
    clean_env, template, tmp_path, monkeypatch
):
    home = tmp_path / "prefect"
    home.mkdir()
    (home / "prefect.db").write_bytes(b"a database in use")
    assert not db_templates.seed_prefect(home)
    assert (home / "prefect.db").read_bytes() == b"a database in use"
    assert [p.name for p in home.iterdir()] == ["prefect.db"]  # no temporary file left
    other = tmp_path / "other"
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    assert not db_templates.seed_prefect(other) and not (other / "prefect.db").exists()
    assert not db_templates.seed_mlflow("postgresql+psycopg://mlflow@db/mlflow")
    assert not db_templates.seed_mlflow("http://127.0.0.1:5000")


MLFLOW_USE = """
import mlflow, sys
from mlflow import MlflowClient

mlflow.set_tracking_uri(sys.argv[1])
exp = MlflowClient().get_experiment("0")
with mlflow.start_run(experiment_id="0"):
    mlflow.log_metric("m", 1.0)
print(exp.name, exp.artifact_location)
"""


def test_mlflow_template_is_built_on_first_use_and_used_without_migrating(tmp_path, monkeypatch):
    """No template yet (a venv installed without `make install`): the first seed builds it
    with MLflow's migrations; the workspace's copy is then used by MLflow as it is (no
    table creation nor migration in that process: tests/helpers_cold.py), and MLflow
    creates its default experiment under the workspace, not under the template."""
    mlflow_template = replace(db_templates.MLFLOW, home=tmp_path / "venv-share")
    monkeypatch.setattr(db_templates, "MLFLOW", mlflow_template)
    assert not mlflow_template.path().exists()
    uri = f"sqlite:///{tmp_path / 'ws' / 'mlflow.db'}"
    assert db_templates.seed_mlflow(uri)
    assert mlflow_template.path().is_file() and not db_templates.seed_mlflow(uri)
    with sqlite3.connect(mlflow_template.path()) as con:
        assert con.execute("SELECT count(*) FROM experiments").fetchone() == (0,)
        (revision,) = con.execute("SELECT version_num FROM alembic_version").fetchone()
    record = tmp_path / "record.txt"
    watched = f"from tests.helpers_cold import watch\nwatch({str(record)!r})\n"
    done = subprocess.run(
        [sys.executable, "-c", watched + MLFLOW_USE, uri],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert not record.exists() or record.read_text() == ""  # no table creation, no migration
    assert done.stdout.split()[0] == "Default" and str(tmp_path) in done.stdout
    with sqlite3.connect(tmp_path / "ws" / "mlflow.db") as con:
        assert con.execute("SELECT version_num FROM alembic_version").fetchone() == (revision,)
        assert con.execute("SELECT count(*) FROM runs").fetchone() == (1,)


SERVE = """
import sys
from pathlib import Path
from flows import temporary_server

assert temporary_server.start(Path(sys.argv[1]))
temporary_server.wait_ready()
from prefect.settings import get_current_settings as settings
with temporary_server.flow_settings():
    inside = settings().flows.heartbeat_frequency
print("heartbeat", inside, settings().flows.heartbeat_frequency)
temporary_server.stop()
print("server ok")
"""


def _block_rows(db: Path) -> list:
    with sqlite3.connect(db) as con:
        return [
            con.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
            for table in ("block_type", "block_schema")
        ]


@pytest.mark.parametrize("marked", [True, False])
def test_a_template_copy_is_not_registered_again_by_its_temporary_server(
    clean_env, template, tmp_path, marked
):
    """A copy of the installed version's template already holds the block types a server
    registers on its first start: the command's temporary server does not register them
    again (every row as the template wrote it). The check can fail: without the mark (a
    database Prefect made, or another version's template) the server registers them, and
    the registration rewrites the rows."""
    home = tmp_path / "prefect"
    assert db_templates.seed_prefect(home)
    assert db_templates.blocks_registered(home) and not db_templates.blocks_registered(tmp_path)
    if not marked:
        (home / db_templates.BLOCKS_MARK).write_text("prefect-0.0.0.db")
        assert not db_templates.blocks_registered(home)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"PREFECT_HOME": str(home), "PYTHONPATH": str(REPO), "DO_NOT_TRACK": "true"}
    env |= {"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300"}
    done = subprocess.run(
        [sys.executable, "-c", SERVE, str(home)], env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0 and "server ok" in done.stdout, done.stderr[-2000:]
    # a flow on the command's own server sends no heartbeats (flow_settings); others do
    assert "heartbeat None 180" in done.stdout, done.stdout
    same = _block_rows(home / "prefect.db") == _block_rows(template)
    assert same is marked


def test_flows_keep_their_heartbeats_on_a_server_the_command_did_not_start():
    """No temporary server launched by this process (``serve``'s or production's server):
    the flow settings leave the heartbeats that let that server mark a crashed run."""
    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        get_current_settings,
        temporary_settings,
    )

    from flows import temporary_server

    every_90s = temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: 90})
    with every_90s, temporary_server.flow_settings():
        assert get_current_settings().flows.heartbeat_frequency == 90
