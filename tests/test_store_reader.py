"""The registry read without MLflow (governance/registry/store_reader.py, issue 28).

The reader must answer as MLflow's own client does on the same SQLite store (a real MLflow
registry: a tiny LightGBM version registered, tagged, aliased, one version deleted), and a
command that reads the registry through it must still see what a hostile insider did to
MLflow: an alias moved by hand is registry drift (exit 3), found by ``ledger verify`` in
a process that never imports MLflow.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from governance.ground.refs import ModelRef
from governance.registry import recorder
from governance.registry.store_reader import LocalRegistry, registry_reader
from governance.registry.versions import get_model_facts
from tests.helpers_identity import enrol_cast, tiny_version

REPO = Path(__file__).resolve().parents[1]


def _shape(mv) -> tuple:
    return (mv.name, int(mv.version), mv.run_id, dict(mv.tags), sorted(mv.aliases),
            mv.description or "")  # fmt: skip


def _run(run) -> tuple:
    return run.info.run_id, run.info.experiment_id, run.info.artifact_uri


def test_the_reader_answers_as_mlflow_does(workspace):
    enrol_cast(workspace)
    version, run_id = tiny_version(workspace, "reader-m")
    second, _ = tiny_version(workspace, "reader-m")
    gone, _ = tiny_version(workspace, "reader-m")
    client = recorder.mlflow_client(workspace)
    client.set_registered_model_alias("reader-m", "champion", version)
    client.set_model_version_tag("reader-m", second, "status", "in_review")
    client.update_model_version("reader-m", second, description="**IN_REVIEW**")
    client.delete_model_version("reader-m", gone)
    reader = registry_reader(workspace)
    assert isinstance(reader, LocalRegistry)

    for v in (version, second):
        assert _shape(reader.get_model_version("reader-m", v)) == _shape(
            client.get_model_version("reader-m", v)
        )
    assert _shape(reader.get_model_version_by_alias("reader-m", "champion")) == _shape(
        client.get_model_version_by_alias("reader-m", "champion")
    )
    for query in ("name='reader-m'", f"run_id='{run_id}'"):  # MLflow's search fills no aliases
        assert sorted(_shape(v)[:4] for v in reader.search_model_versions(query)) == sorted(
            _shape(v)[:4] for v in client.search_model_versions(query)
        )
    assert _run(reader.get_run(run_id)) == _run(client.get_run(run_id))
    assert [(m.name, m.aliases) for m in reader.search_registered_models()] == [
        (m.name, m.aliases) for m in client.search_registered_models()
    ]
    # the model files' hash (what approvals sign) from the files in place, as downloaded
    ref = ModelRef.parse("reader-m", version)
    assert get_model_facts(reader, ref) == get_model_facts(client, ref)
    for registry in (reader, client):  # a missing or deleted version, a missing alias
        for call in (
            lambda r: r.get_model_version("reader-m", gone),
            lambda r: r.get_model_version("reader-m", 99),
            lambda r: r.get_model_version_by_alias("reader-m", "paper"),
            lambda r: r.get_run("0" * 32),
        ):
            with pytest.raises(recorder.mlflow_error()):
                call(registry)


def test_ledger_verify_sees_a_moved_alias_without_importing_mlflow(workspace, detached_views):
    """The attack: an insider points the champion alias at a version no approval promoted.
    ``ledger verify`` reads the registry with the reader and refuses (exit 3). The command's
    views are a detached refresher's, as outside the tests: MLflow is not this process's."""
    enrol_cast(workspace)
    version, _ = tiny_version(workspace, "reader-attack")
    script = (
        "import sys\n"
        "from flows.cli import main\n"
        "code = main(['ledger', 'verify'])\n"
        "print('mlflow imported' if 'mlflow' in sys.modules else 'mlflow not imported')\n"
        "sys.exit(code)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def verify() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", script], env=env, cwd=REPO,
                              capture_output=True, text=True, timeout=300)  # fmt: skip

    clean = verify()
    assert clean.returncode == 0, clean.stderr[-2000:]
    assert clean.stdout.splitlines()[-1] == "mlflow not imported"
    recorder.mlflow_client(workspace).set_registered_model_alias(
        "reader-attack", "champion", version
    )
    moved = verify()
    assert moved.returncode == 3, moved.stderr[-2000:]
    assert "registry drift" in moved.stdout + moved.stderr
    assert moved.stdout.splitlines()[-1] == "mlflow not imported"
