"""The one door to MLflow (qlib's ``Recorder``): client, runs, metrics, files, models.

Every MLflow read and write of alphagate goes through this module, on the workspace's
tracking and registry store (:attr:`Workspace.tracking_uri`, fixed when the workspace is
resolved), never through MLflow's process-wide default: a client or fluent call that
read ``MLFLOW_TRACKING_URI`` or a URI another caller set at the moment of use could read a
model from another store than the one the ledger's facts were written to. Only this module
and the ``champion`` alias move (:mod:`governance.registry.versions`, through this
module's client) touch MLflow; tests/test_recorder.py walks the imports.

- client and experiments: :func:`mlflow_client`, :func:`mlflow_experiment`,
  :func:`mlflow_error` (the exception class, for ``except``);
- runs: :func:`log_run` (one finished run: tags, metrics, files) for validation, risk and
  the inventory; :func:`log_training_run` (the training run with its dataset and model);
  :func:`attach` (files into an existing run), :func:`download` (a run's file or folder),
  :func:`fail_runs`;
- models: :func:`register`, :func:`download_model`, :func:`hash_model_dir`,
  :func:`load_model` (pyfunc or LightGBM, from the registry by version or alias,
  hash-checked against what was approved).

MLflow is imported inside the functions: importing this module (``ledger verify`` does)
stays cheap, and ``Workspace.activate()`` has set MLflow's environment first.
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from governance.ground.canonical import sha256_file, sha256_json
from governance.ground.errors import TamperDetected
from governance.ground.refs import ModelRef
from governance.ground.workspace import Workspace

#: Files MLflow writes into a model's artifacts on registration; not part of the model.
_REGISTRATION_FILES = frozenset({"registered_model_meta"})
#: The folder of a logged model's extra files (MLflow's ``extra_files`` of ``log_model``).
EXTRA_FILES = "extra_files"
#: MLflow 3's UI opens its GenAI screens (traces, judges, prompts) for an experiment
#: without a kind; this tag (read by its experiment page) selects the model-training views.
EXPERIMENT_KIND = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"


def mlflow_client(ws: Workspace):
    """An ``MlflowClient`` on the workspace's tracking and registry store."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=ws.tracking_uri, registry_uri=ws.tracking_uri)


class RegistryMiss(LookupError):
    """No such model version or alias, as read without MLflow
    (:mod:`governance.registry.store_reader`)."""


def mlflow_error() -> tuple[type[Exception], ...]:
    """The exceptions of a registry read, a flat tuple (``except mlflow_error():``, or
    ``except (*mlflow_error(), OSError):``): :class:`RegistryMiss` and MLflow's own class,
    imported only when an exception is being matched and only if MLflow is loaded (no
    MLflow error can have been raised otherwise)."""
    if "mlflow" not in sys.modules:
        return (RegistryMiss,)
    from mlflow.exceptions import MlflowException

    return (MlflowException, RegistryMiss)


@contextmanager
def _fluent(ws: Workspace) -> Iterator[None]:
    """MLflow's fluent API (model logging, registration) on the workspace's store for the
    block, then MLflow's process-wide URIs (and the ``MLFLOW_TRACKING_URI`` and
    ``MLFLOW_REGISTRY_URI`` it writes into the environment) exactly as they were: the recorder
    leaves no process-wide state for another caller to read."""
    import mlflow
    from mlflow.tracking._model_registry import utils as registry
    from mlflow.tracking._tracking_service import utils as tracking

    names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    saved = tracking._tracking_uri, registry._registry_uri, {n: os.environ.get(n) for n in names}
    mlflow.set_tracking_uri(ws.tracking_uri)
    mlflow.set_registry_uri(ws.tracking_uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(saved[0])
        registry._registry_uri = saved[1]
        for name, value in saved[2].items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def mlflow_experiment(name: str, ws: Workspace) -> str:
    """Get or create an MLflow experiment whose artifacts live in the workspace.

    Returns the experiment id. A new experiment's ``artifact_location`` is
    ``<home>/mlartifacts/<name>`` so that nothing is written outside the workspace.
    """
    client = mlflow_client(ws)
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        if (exp.tags or {}).get(EXPERIMENT_KIND) != MODEL_TRAINING:
            client.set_experiment_tag(exp.experiment_id, EXPERIMENT_KIND, MODEL_TRAINING)
        return exp.experiment_id
    location = (ws.mlartifacts / name).as_uri()
    return client.create_experiment(
        name, artifact_location=location, tags={EXPERIMENT_KIND: MODEL_TRAINING}
    )


def run_page(ws: Workspace, run_id: str, route: str = "", base: str | None = None) -> str | None:
    """The run's page (its artifact ``route``) in the MLflow UI at ``base`` (default: the
    workspace's store when it is an MLflow server); None when there is no such server (or
    when the store cannot say)."""
    uri = base or ws.tracking_uri
    if not uri.startswith(("http://", "https://")):
        return None
    try:
        exp = mlflow_client(ws).get_run(run_id).info.experiment_id
    except Exception:  # a link is a convenience: the server down leaves the runs:/ URI
        return None
    tail = f"/artifacts/{route}" if route else ""
    return f"{uri.rstrip('/')}/#/experiments/{exp}/runs/{run_id}{tail}"


def log_run(
    ws: Workspace,
    experiment: str,
    *,
    tags: Mapping[str, str],
    metrics: Mapping[str, float | None] | None = None,
    files: Mapping[str, bytes] | None = None,
    write: Callable[[Path], object] | None = None,
    artifact_path: str | None = None,
) -> tuple[str, str]:
    """One finished run in ``experiment``: its tags, metrics (step 0; None skipped) and
    files (``files`` by name, or what ``write(folder)`` puts in a folder), under
    ``artifact_path``. Returns ``(run id, experiment id)``."""
    from mlflow.entities import Metric, RunStatus

    exp_id = mlflow_experiment(experiment, ws)
    client = mlflow_client(ws)
    run = client.create_run(exp_id, tags=dict(tags))
    run_id, now = run.info.run_id, run.info.start_time
    batch = [Metric(k, float(v), now, 0) for k, v in (metrics or {}).items() if v is not None]
    if batch:
        client.log_batch(run_id, metrics=batch)
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in (files or {}).items():
            (Path(tmp) / name).write_bytes(data)
        if write is not None:
            write(Path(tmp))
        if any(Path(tmp).iterdir()):
            client.log_artifacts(run_id, tmp, artifact_path=artifact_path)
    client.set_terminated(run_id, RunStatus.to_string(RunStatus.FINISHED))
    return run_id, exp_id


def log_metrics(
    ws: Workspace, run_id: str, metrics: Mapping[str, float], *, step: int, timestamp_ms: int
) -> None:
    """Metrics of an existing run at ``step``, stamped ``timestamp_ms`` (a series' point)."""
    from mlflow.entities import Metric

    batch = [Metric(k, float(v), timestamp_ms, step) for k, v in metrics.items()]
    mlflow_client(ws).log_batch(run_id, metrics=batch)


def attach(ws: Workspace, run_id: str, path: str | Path, artifact_path: str) -> None:
    """Copy a file, or a folder's files, into an existing run under ``artifact_path``."""
    client, path = mlflow_client(ws), Path(path)
    if path.is_dir():
        client.log_artifacts(run_id, str(path), artifact_path)
    else:
        client.log_artifact(run_id, str(path), artifact_path)


def download(ws: Workspace, run_id: str, path: str, dst: str | Path) -> Path:
    """A run's file or folder (``""``: all of them) downloaded under ``dst``."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    return Path(mlflow_client(ws).download_artifacts(run_id, path, str(dst)))


def fail_runs(ws: Workspace, experiment: str, run_key: str) -> list[str]:
    """Mark FAILED the runs of ``experiment`` tagged ``alphagate.run_key=run_key`` still
    RUNNING; return their ids."""
    client = mlflow_client(ws)
    dead = client.search_runs(
        [mlflow_experiment(experiment, ws)],
        filter_string=f"tags.`alphagate.run_key` = '{run_key}' and attributes.status = 'RUNNING'",
    )
    for r in dead:
        client.set_terminated(r.info.run_id, status="FAILED")
    return [r.info.run_id for r in dead]


def frame_schema(frame):
    """MLflow schema of a frame from its dtypes and a NaN scan (one vectorised pass).

    MLflow's own inference inspects every value of every column: about 0.2 s per 100k-row
    column here, minutes for a 1,000-asset development frame.
    """
    from mlflow.types import ColSpec, DataType, Schema

    kinds = {"f": DataType.double, "i": DataType.long, "M": DataType.datetime}
    missing = frame.isna().any()
    return Schema(
        [
            ColSpec(kinds.get(frame[c].dtype.kind, DataType.string), c, required=not missing[c])
            for c in frame.columns
        ]
    )


def _dataset(frame, *, source: str, name: str, digest: str):
    """``frame`` as an MLflow ``PandasDataset`` with our digest and schema."""
    import mlflow

    with warnings.catch_warnings():
        # A local path matches two equivalent registered sources; MLflow picks one.
        warnings.simplefilter("ignore", UserWarning)
        dataset = mlflow.data.from_pandas(
            frame, source=source, targets="label", name=name, digest=digest
        )
    dataset.__dict__["schema"] = frame_schema(frame)  # fills the cached_property
    return dataset


def log_training_run(
    ws: Workspace,
    experiment: str,
    *,
    run_name: str,
    tags: Mapping[str, str],
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    steps: list[tuple[int, Mapping[str, float]]],
    dataset: dict,
    environment: dict,
    files: Mapping[str, bytes],
    booster,
    example,
    requirements: list[str],
    model_files: Mapping[str, bytes] | None = None,
    python_model=None,
    artifacts: Mapping[str, str] | None = None,
) -> tuple[str, str, str]:
    """The training run: params, metrics (and per-step ``steps``), the development frame as a
    dataset input (``dataset``: ``frame, source, name, digest, fingerprint``), the Python
    environment, ``files`` and the LightGBM model with its signature and input example.
    ``model_files`` (by name) are written among the model's own files
    (``extra_files/<name>``): covered by :func:`hash_model_dir`, so by what approvals sign.
    With ``python_model`` (an ``mlflow.pyfunc.PythonModel``: the regime ensemble), that model
    is logged instead of the booster, with its ``artifacts`` (files by name) and the
    ``model_files`` under ``artifacts/extra_files/``: every file hashed the same way.
    Returns ``(run id, experiment id, model URI)``."""
    import mlflow
    from mlflow.models import infer_signature

    exp_id = mlflow_experiment(experiment, ws)
    signature = infer_signature(example, booster.predict(example.to_numpy("float64")))
    with (
        _fluent(ws),
        mlflow.start_run(experiment_id=exp_id, run_name=run_name, tags=dict(tags)) as run,
    ):
        mlflow.log_params(dict(params))
        mlflow.log_metrics(dict(metrics))
        for step, values in steps:
            mlflow.log_metrics(dict(values), step=step)
        fingerprint = dataset["fingerprint"]
        spec = {k: dataset[k] for k in ("source", "name", "digest")}
        mlflow.log_input(
            _dataset(dataset["frame"], **spec),
            context="training",
            tags={"fingerprint": fingerprint},
        )
        mlflow.log_dict(environment, "environment.json")
        with tempfile.TemporaryDirectory() as tmp:
            for fname, data in files.items():
                (Path(tmp) / fname).write_bytes(data)
                mlflow.log_artifact(str(Path(tmp) / fname))
            extra = Path(tmp) / EXTRA_FILES
            extra.mkdir()
            for fname, data in (model_files or {}).items():
                (extra / fname).write_bytes(data)
            common = dict(name="model", signature=signature, input_example=example,
                          pip_requirements=requirements)  # fmt: skip
            if python_model is not None:
                artifacts = {**(artifacts or {}), EXTRA_FILES: str(extra)}
                info = mlflow.pyfunc.log_model(
                    python_model=python_model, artifacts=artifacts, **common
                )
            else:
                named = [str(extra / n) for n in model_files or {}] or None
                info = mlflow.lightgbm.log_model(booster, extra_files=named, **common)
    return run.info.run_id, exp_id, info.model_uri


def register(ws: Workspace, model_uri: str, name: str, tags: Mapping[str, str]) -> int:
    """Register ``model_uri`` as a new version of ``name`` with ``tags``; return it."""
    import mlflow

    with _fluent(ws):
        return ModelRef.number(mlflow.register_model(model_uri, name, tags=dict(tags)).version)


def hash_model_dir(local: Path) -> str:
    """SHA-256 of the canonical JSON ``{relative path: sha256}`` of a downloaded logged
    model's files (``MLmodel``, the booster, environment files), registration bookkeeping
    excluded: the ``model_artifact_hash`` approvals sign."""
    files = {
        p.relative_to(local).as_posix(): sha256_file(p)
        for p in sorted(local.rglob("*"))
        if p.is_file() and p.name not in _REGISTRATION_FILES
    }
    return sha256_json(files)


def download_model(client, ref: ModelRef, dst: str | Path | None = None) -> Path:
    """The files of the registered version ``ref``, downloaded (under ``dst``)."""
    import mlflow

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    uri = client.get_model_version_download_uri(*ref.mlflow)
    return Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=uri,
            dst_path=None if dst is None else str(dst),
            tracking_uri=client.tracking_uri,
        )
    )


def load_model(
    ws: Workspace, ref: ModelRef, *, expected_hash: str | None = None, flavor: str = "pyfunc"
):
    """``(model version, model, extra files)``: the version ``ref`` from the workspace's
    registry, loaded as ``flavor``
    (``pyfunc``, ``lightgbm``, or ``native``: the model inside the pyfunc, a LightGBM booster
    or a python model such as the regime ensemble) from one download of its files, with the
    bytes of its extra files by name (``{}`` when it has none; a python model's are under
    ``artifacts/extra_files``), read from that same download.

    With ``expected_hash`` (the model files hash the approvals signed), the download is
    hashed first: a model file altered after approval is
    :class:`~governance.ground.errors.TamperDetected`.
    """
    import mlflow

    client = mlflow_client(ws)
    mv = client.get_model_version(*ref.mlflow)
    with tempfile.TemporaryDirectory() as tmp:
        local = download_model(client, ref, tmp)
        if expected_hash is not None and (found := hash_model_dir(local)) != expected_hash:
            raise TamperDetected(
                f"{ref}: the model files hash {found[:12]} at load, the"
                f" approvals signed {expected_hash[:12]} (model files altered)"
            )
        loader = mlflow.lightgbm if flavor == "lightgbm" else mlflow.pyfunc
        extra = local / EXTRA_FILES
        extra = extra if extra.is_dir() else local / "artifacts" / EXTRA_FILES
        extras = {p.name: p.read_bytes() for p in sorted(extra.glob("*"))}
        model = loader.load_model(str(local))
        return mv, _native(model) if flavor == "native" else model, extras


def _native(pyfunc):
    """An ArtifactModel's rebuilt model (governance/registry/pyfunc.py), else the raw model."""
    try:
        return pyfunc.unwrap_python_model().model
    except mlflow_error():
        return pyfunc.get_raw_model()


def python_model_base() -> type:
    """MLflow's ``PythonModel`` class (governance/registry/pyfunc.py subclasses it)."""
    import mlflow.pyfunc

    return mlflow.pyfunc.PythonModel
