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
