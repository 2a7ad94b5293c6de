"""The migrated Prefect database a new workspace starts from (flows/prefect_db.py).

Real Prefect: the template is built by Prefect's own migrations, and a temporary server
started on a seeded workspace runs a flow. The server runs in a child process, because
Prefect reads its settings (``PREFECT_HOME``, the database URL) once per process.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

from flows import prefect_db

FLOW = """
from prefect import flow

@flow
def one():
    return 41 + 1

assert one() == 42
print("flow ok")
"""


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """The installed template (`make install` builds it), else one built here."""
    path = prefect_db.template_path()
    return path if path.is_file() else prefect_db.build(tmp_path_factory.mktemp("t") / "t.db")


@pytest.fixture
def clean_env(monkeypatch, template):
    for var in prefect_db.ELSEWHERE:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(prefect_db, "template_path", lambda: template)


def test_template_is_one_migrated_file_with_prefect_block_types(template):
    assert not template.with_name(template.name + "-wal").exists()
    with sqlite3.connect(template) as con:
        (revision,) = con.execute("SELECT version_num FROM alembic_version").fetchone()
        (blocks,) = con.execute("SELECT count(*) FROM block_type").fetchone()
        (runs,) = con.execute("SELECT count(*) FROM flow_run").fetchone()
    assert revision and blocks > 0 and runs == 0  # migrated, registered, and empty


def test_a_seeded_workspace_runs_a_flow_on_its_temporary_server(clean_env, tmp_path):
    home = tmp_path / "prefect"
    assert prefect_db.seed(home)
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
    with sqlite3.connect(prefect_db.template_path()) as con:
        assert con.execute("SELECT count(*) FROM flow_run").fetchone() == (0,)


def test_seed_never_replaces_a_database_nor_seeds_for_another_server(
    clean_env, tmp_path, monkeypatch
):
    home = tmp_path / "prefect"
    home.mkdir()
    (home / "prefect.db").write_bytes(b"a database in use")
    assert not prefect_db.seed(home)
    assert (home / "prefect.db").read_bytes() == b"a database in use"
    assert [p.name for p in home.iterdir()] == ["prefect.db"]  # no temporary file left
    other = tmp_path / "other"
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    assert not prefect_db.seed(other) and not (other / "prefect.db").exists()
    monkeypatch.delenv("PREFECT_API_URL")
    monkeypatch.setattr(prefect_db, "template_path", lambda: tmp_path / "none.db")
    assert not prefect_db.seed(other) and not (other / "prefect.db").exists()
