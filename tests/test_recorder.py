"""One MLflow recorder (issue 21, qlib's rule): only ``governance.registry.recorder`` imports
MLflow, and what it reads and writes is the workspace's store, whatever the environment or
MLflow's process-wide default says at the moment of use.

The import walk reads every module of the four packages with the import-graph scanner
(tests/import_graph.py: lazy imports count, ``TYPE_CHECKING`` blocks do not). The store
test registers a real LightGBM model in a workspace through the recorder, then points
``MLFLOW_TRACKING_URI`` and MLflow's own tracking and registry URIs at another database:
the loader of the moment of use still loads the workspace's version, and the other database
is never even created.
"""

from __future__ import annotations

import contextlib
import sqlite3

import numpy as np
import pandas as pd
import pytest

from governance.ground.refs import ModelRef
from tests.import_graph import imported_names, module_files

RECORDER = "governance.registry.recorder"


def mlflow_imports(source: str, module: str) -> list[str]:
    """The MLflow names ``source`` imports (any form, anywhere but TYPE_CHECKING)."""
    return sorted(
        n.replace("\0", ".")
        for n in imported_names(source, module)
        if n.split("\0")[0].split(".")[0] == "mlflow"
    )


def test_only_the_recorder_imports_mlflow():
    files = module_files()
    assert RECORDER in files and len(files) > 150
    found = {
        m: hits
        for m, path in files.items()
        if (hits := mlflow_imports(path.read_text(encoding="utf-8"), m))
    }
    assert set(found) == {RECORDER}, {m: h for m, h in found.items() if m != RECORDER}


@pytest.mark.parametrize(
    "snippet",
    [
        "import mlflow",
        "def f():\n    from mlflow import MlflowClient",
        "def f():\n    from mlflow.exceptions import MlflowException",
        "import mlflow.lightgbm as ml",
        "import importlib\nimportlib.import_module('mlflow')",
    ],
)
def test_the_walk_sees_each_import_form(snippet):
    assert mlflow_imports(snippet, "tasks.model.x")


def test_type_checking_imports_are_not_runtime_imports():
    src = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from mlflow import MlflowClient"
    assert mlflow_imports(src, "tasks.model.x") == []


def log_and_register(ws, name: str, *, contract: bool = True):
    """A small real LightGBM model on ``x0, x1``, logged (with its input contract unless
    ``contract`` is False) and registered through the recorder, with the ``features`` and
    ``horizon`` tags training writes. Returns ``(booster, frame, version)``."""
    import lightgbm as lgb

    from governance.registry.contract import CONTRACT_FILE, ModelContract
    from governance.registry.recorder import log_training_run, register

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(200, 2)), columns=["x0", "x1"])
    frame["label"] = frame.x0 - 0.5 * frame.x1 + rng.normal(scale=0.1, size=200)
    params = {"objective": "regression", "verbose": -1, "seed": 0, "num_threads": 1}
    booster = lgb.train(params, lgb.Dataset(frame[["x0", "x1"]], frame.label), 10)
    _, _, uri = log_training_run(
        ws,
        name,
        run_name=f"train-{name}",
        tags={"strategy": name},
        params={"rounds": 10},
        metrics={"rmse": 0.1},
        steps=[(0, {"fold_ic": 0.5})],
        dataset={
            "frame": frame,
            "source": "memory",
            "name": f"{name}-dev",
            "digest": "0" * 32,
            "fingerprint": "0" * 64,
        },
        environment={"python": "test"},
        files={"features.json": b"[]"},
        booster=booster,
        example=frame[["x0", "x1"]].head(5),
        requirements=[],
        model_files={
            CONTRACT_FILE: ModelContract(("x0", "x1"), "rank", "rank", 5, "c" * 64).to_bytes()
        }
        if contract
        else None,
    )
    version = register(ws, uri, name, {"features": "x0,x1", "horizon": "5"})
    return booster, frame, version


def test_the_loader_reads_the_workspace_store_when_the_environment_points_elsewhere(
    workspace, tmp_path, monkeypatch
):
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_uri
    from mlflow.tracking._tracking_service import utils as tracking_uri

    from governance.ground.errors import TamperDetected
    from governance.ground.workspace import Workspace
    from governance.registry.recorder import mlflow_client
    from governance.registry.versions import model_artifact_hash
    from tasks.model.scoring import load_scoring_model

    elsewhere = tmp_path / "elsewhere.db"
    other = f"sqlite:///{elsewhere}"
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.setenv(name, other)
    monkeypatch.setattr(tracking_uri, "_tracking_uri", other)  # MLflow's process-wide URIs
    monkeypatch.setattr(registry_uri, "_registry_uri", other)
    booster, frame, version = log_and_register(workspace, "m")  # written to the workspace
    assert version == 1
    # The recorder left MLflow's process-wide state as it found it.
    assert mlflow.get_tracking_uri() == other and mlflow.get_registry_uri() == other
    signed = model_artifact_hash(mlflow_client(workspace), ModelRef("m", version))
    model = load_scoring_model(workspace, ModelRef.parse("m", version), expected_hash=signed)
    with pytest.raises(TamperDetected, match="model files altered"):
        load_scoring_model(workspace, ModelRef.parse("m", version), expected_hash="0" * 64)
    assert model.version == 1 and model.features == ("x0", "x1") and model.horizon == 5
    np.testing.assert_array_equal(
        model.predict(frame).to_numpy(), booster.predict(frame[["x0", "x1"]])
    )
    assert not elsewhere.exists()  # nothing read from or written to the other store
    # the model is registered in the workspace's own database (seeded from the template
    # before the test: that it exists proves nothing)
    with contextlib.closing(sqlite3.connect(workspace.home / "mlflow.db")) as con:
        assert con.execute("SELECT name FROM registered_models").fetchall() == [("m",)]
    # The workspace resolved from the environment keeps the store it was resolved with.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", workspace.tracking_uri)
    resolved = Workspace.from_env()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{elsewhere}")
    assert resolved.tracking_uri == workspace.tracking_uri
