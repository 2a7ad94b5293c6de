"""Issue 22, item 5: a model's input contract is signed. Feature names and order,
normalisation, label horizon and the training config hash are written among the model's own
files (``extra_files/contract.json``), which the approvals' ``model_artifact_hash`` covers;
the loader reads them from there, never from the version's MLflow tags.

The attacker holds the MLflow store (a shell on the workspace) and no key:

- she permutes the version's ``features`` tag (and changes its ``horizon``): the loader still
  scores the signed columns in the signed order — its predictions equal the booster's on
  ``x0, x1`` (the permuted order would give other numbers: asserted, so the test can fail);
- she edits the contract file itself: the hash the approvals signed no longer matches, the
  load is refused (exit 3);
- a model without the file (trained before this issue) is not scored: one line, exit 3.

The full rebalance under both attacks is in tests/test_rebalance_attacks.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

from governance.ground.errors import Gate, GateHalt, TamperDetected
from governance.ground.refs import ModelRef
from governance.registry.contract import CONTRACT_FILE, KIND, ModelContract
from governance.registry.recorder import mlflow_client
from governance.registry.versions import model_artifact_hash
from tasks.model.scoring import load_scoring_model
from tests.test_recorder import log_and_register


def contract_path(ws, name: str, version) -> Path:
    """The contract file of version ``version`` in the workspace's MLflow artifact store."""
    uri = mlflow_client(ws).get_model_version_download_uri(name, str(version))
    return next(Path(urlparse(uri).path).rglob(CONTRACT_FILE))


def test_a_permuted_features_tag_changes_nothing_the_loader_scores(workspace):
    booster, frame, version = log_and_register(workspace, "perm")
    client = mlflow_client(workspace)
    signed = model_artifact_hash(client, ModelRef("perm", version))
    client.set_model_version_tag("perm", str(version), "features", "x1,x0")
    client.set_model_version_tag("perm", str(version), "horizon", "9")
    model = load_scoring_model(workspace, ModelRef.parse("perm", version), expected_hash=signed)
    assert (model.features, model.horizon) == (("x0", "x1"), 5)
    assert model.features_config().names == ("x0", "x1")
    right = booster.predict(frame[["x0", "x1"]].to_numpy())
    wrong = booster.predict(frame[["x1", "x0"]].to_numpy())
    assert not np.allclose(right, wrong)  # the tag's order would score other numbers
    np.testing.assert_array_equal(model.predict(frame).to_numpy(), right)
    assert (
        model_artifact_hash(client, ModelRef("perm", version)) == signed
    )  # tags are not model files


def test_an_edited_contract_file_fails_the_hash_the_approvals_signed(workspace):
    _booster, _frame, version = log_and_register(workspace, "edit")
    signed = model_artifact_hash(mlflow_client(workspace), ModelRef("edit", version))
    path = contract_path(workspace, "edit", version)
    doc = json.loads(path.read_bytes())
    assert doc["kind"] == KIND and doc["features"] == ["x0", "x1"]
    path.write_bytes(json.dumps({**doc, "features": ["x1", "x0"]}).encode())
    with pytest.raises(TamperDetected, match="model files altered") as caught:
        load_scoring_model(workspace, ModelRef.parse("edit", version), expected_hash=signed)
    assert caught.value.exit_code == 3 and "\n" not in str(caught.value)
    assert model_artifact_hash(mlflow_client(workspace), ModelRef("edit", version)) != signed


def test_a_model_without_a_contract_is_not_scored(workspace):
    _booster, _frame, version = log_and_register(workspace, "old", contract=False)
    signed = model_artifact_hash(mlflow_client(workspace), ModelRef("old", version))
    with pytest.raises(GateHalt, match="carries no signed input contract") as caught:
        load_scoring_model(workspace, ModelRef.parse("old", version), expected_hash=signed)
    assert caught.value.gate is Gate.SCORING and caught.value.exit_code == 3
    assert "\n" not in str(caught.value) and f"old v{version}" in str(caught.value)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"features": []}, "features"),
        ({"features": ["x0", "x0"]}, "features"),
        ({"features": "x0,x1"}, "features"),
        ({"horizon": "5"}, "horizon"),
        ({"horizon": 0}, "horizon"),
        ({"normalise": None}, "normalise"),
        ({"kind": "other"}, "kind"),
    ],
)
def test_a_malformed_contract_is_named_by_its_field(change, field):
    good = ModelContract(("x0", "x1"), "rank", "rank", 5, "c" * 64)
    assert ModelContract.from_bytes(good.to_bytes(), "m v1") == good
    bad = json.dumps({**json.loads(good.to_bytes()), **change}).encode()
    with pytest.raises(TamperDetected, match=field) as caught:
        ModelContract.from_bytes(bad, "m v1")
    assert str(caught.value).startswith("integrity: m v1: contract.json")
