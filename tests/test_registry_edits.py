"""The registry's SQLite file edited by hand, beyond the champion alias (issue 28's reader).

``status``, ``models`` and the use-time checks read the workspace's MLflow registry with
:mod:`sqlite3` (governance/registry/store_reader.py), not MLflow's client. The attacker is
an insider with a shell who edits ``mlflow.db`` directly after a version was promoted the
legitimate way; whatever row she changes, the champion must not drive on it:

- the version's files pointed at another model's files (``storage_location``): the files'
  hash no longer matches what the approvals signed;
- the version's run pointed at another training run (``run_id``): the validation signed
  the run it validated, so the registry's lineage (card, data fingerprint) cannot be
  swapped under a verdict;
- the version marked deleted as MLflow marks it: the champion is gone, a refusal, not a crash.
"""

from __future__ import annotations

import sqlite3

import pytest

from governance.decisions.model_use import drive_decision
from governance.log.ledger import Ledger
from tests.helpers_identity import enrol_cast, promoted_version, tiny_version


def _edit(ws, sql: str, *params) -> None:
    """The insider's UPDATE on the workspace's MLflow database (one changed row)."""
    path = ws.tracking_uri.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        assert db.execute(sql, params).rowcount == 1


def _decision(ws, name: str):
    with Ledger.open(ws) as ledger:
        return drive_decision(ws, ledger, name)


@pytest.fixture
def champion(workspace):
    """``edits`` v1 promoted and driving, and another model's version (dana's, other files)."""
    enrol_cast(workspace)
    version, run_id = promoted_version(workspace, "edits")
    assert _decision(workspace, "edits").allowed
    other, other_run = tiny_version(workspace, "other-model")  # another seed: other files
    return workspace, version, run_id, other, other_run


def test_files_pointed_elsewhere_do_not_drive(champion):
    ws, version, _run, other, _other_run = champion
    _edit(ws, "UPDATE model_versions SET storage_location = (SELECT storage_location FROM"
              " model_versions WHERE name = 'other-model' AND version = ?)"
              " WHERE name = 'edits' AND version = ?", int(other), int(version))  # fmt: skip
    d = _decision(ws, "edits")
    assert not d.allowed
    assert any("model files changed since" in r for r in d.reasons), d.reasons


def test_a_run_swapped_under_the_verdict_does_not_drive(champion):
    ws, version, run_id, _other, other_run = champion
    _edit(ws, "UPDATE model_versions SET run_id = ? WHERE name = 'edits' AND version = ?",
          other_run, int(version))  # fmt: skip
    d = _decision(ws, "edits")
    assert not d.allowed
    assert any(run_id in r and other_run in r for r in d.reasons), d.reasons


def test_a_champion_marked_deleted_is_a_refusal(champion):
    ws, version, _run, _other, _other_run = champion
    _edit(ws, "UPDATE model_versions SET current_stage = 'Deleted_Internal'"
              " WHERE name = 'edits' AND version = ?", int(version))  # fmt: skip
    d = _decision(ws, "edits")
    assert not d.allowed and d.reasons


def test_bytes_edited_behind_sqlites_back_between_two_decisions(champion):
    """The use-time checks keep their connection to ``mlflow.db`` while the file stands
    unchanged (store_reader._connection). The insider copies another model's files to a
    folder named like the champion's (one model id for another, same length), rewrites the
    id in the file's bytes without SQLite (its change counter untouched, so a kept
    connection's page cache would still hold the old row) and sets the mtime back: the
    ctime moved, the next decision reads the file anew and refuses."""
    import os
    import shutil
    from pathlib import Path
    from urllib.parse import unquote, urlparse

    from governance.registry.store_reader import registry_reader

    ws, version, _run, other, _other_run = champion

    def folder(name, v) -> Path:
        mv = registry_reader(ws).get_model_version(name, v)
        return Path(unquote(urlparse(mv.storage_location).path))

    mine, theirs = folder("edits", version), folder("other-model", other)
    old_id = mine.parent.name  # m-<32 hex>
    new_id = "m-" + "f" * (len(old_id) - 2)
    shutil.copytree(theirs, mine.parents[1] / new_id / mine.name)
    path = ws.tracking_uri.removeprefix("sqlite:///")
    before = os.stat(path)
    with open(path, "r+b") as fh:
        data = fh.read()
        assert old_id.encode() in data
        fh.seek(0)
        fh.write(data.replace(old_id.encode(), new_id.encode()))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert folder("edits", version).parent.name == new_id  # a new reader sees the edit
    d = _decision(ws, "edits")
    assert not d.allowed
    assert any("model files changed since" in r for r in d.reasons), d.reasons
