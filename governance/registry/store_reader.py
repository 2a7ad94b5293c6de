"""The workspace's MLflow registry read without importing MLflow (issue 28: interactive commands).

A read-only command (``status``, ``models``, ``ledger verify``) and the use-time checks read
a few rows of the model registry: a version's run, tags and files, the ``champion`` alias,
the registered names. Importing MLflow to read them costs seconds of CPU in every new
process (``python -X importtime``: ``mlflow`` and its SQL store are most of ``status``), so
when the registry is the workspace's own SQLite file (:attr:`Workspace.tracking_uri`, the
embedded default) :func:`registry_reader` reads those rows with :mod:`sqlite3` from the
tables MLflow's SQL store defines, as its ``SqlAlchemyStore`` does (a version deleted by
MLflow, ``current_stage = 'Deleted_Internal'``, is not there). Anything else (an MLflow
server, another database) gets the real client (:func:`governance.registry.recorder.mlflow_client`).

The reader answers the read subset of ``MlflowClient`` that alphagate uses, with the same
names and shapes: :meth:`LocalRegistry.get_model_version`,
:meth:`~LocalRegistry.get_model_version_by_alias`, :meth:`~LocalRegistry.search_model_versions`
(``name='X'`` or ``run_id='X'``), :meth:`~LocalRegistry.search_registered_models`,
:meth:`~LocalRegistry.get_run` (a run's experiment and artifact folder). A missing
version, alias or run raises :class:`~governance.registry.recorder.RegistryMiss`, which
``except recorder.mlflow_error():`` catches as it catches MLflow's own error.

It trusts the file no more than MLflow does: both read the same rows, and what a decision
takes from them (the model files' hash) is checked against the signed approvals.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from governance.ground.errors import InputError
from governance.ground.files import file_stamps
from governance.ground.refs import ModelRef
from governance.ground.workspace import Workspace
from governance.registry import recorder

#: MLflow's stage of a deleted model version (``mlflow.entities.model_registry``).
_DELETED = "Deleted_Internal"
_FILTER = re.compile(r"^\s*(name|run_id)\s*=\s*'([^']*)'\s*$")


@dataclass(frozen=True)
class StoredVersion:
    """A registered model version as MLflow's ``ModelVersion`` shows it (read fields only)."""

    name: str
    version: int
    run_id: str | None
    status: str | None
    source: str | None
    storage_location: str | None
    description: str | None
    tags: dict = field(default_factory=dict)
    aliases: list = field(default_factory=list)


@dataclass(frozen=True)
class StoredModel:
    """A registered model as MLflow's ``RegisteredModel`` shows it: name and aliases."""

    name: str
    aliases: dict = field(default_factory=dict)


@dataclass(frozen=True)
class StoredRunInfo:
    """A run's ``RunInfo`` as MLflow shows it (the fields alphagate reads)."""

    run_id: str
    experiment_id: str
    artifact_uri: str | None


@dataclass(frozen=True)
class StoredRun:
    """A run as MLflow's ``Run`` shows it: its :class:`StoredRunInfo` only."""

    info: StoredRunInfo


class LocalRegistry:
    """Read-only registry over the workspace's MLflow SQLite file (module docstring)."""

    def __init__(self, ws: Workspace, path: Path, *, once: bool = False):
        self.ws, self.path = ws, path
        self.tracking_uri = ws.tracking_uri
        self._once: dict[tuple, list[StoredVersion]] | None = {} if once else None

    def _rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        # each statement reads the file as it is (autocommit), on this thread's connection
        # to it while the file stands unchanged (:func:`_connection`)
        return _connection(self.path).execute(sql, params).fetchall()

    def _versions(self, where: str, params: tuple) -> list[StoredVersion]:
        """The versions matching ``where`` (on ``v.``, MLflow's ``model_versions``) with their
        tags and aliases, in one statement; read once per reader when it was made with
        ``once`` (one decision's reads: the file is read as it stands when first asked)."""
        key = (where, params)
        if self._once is not None and key in self._once:
            return self._once[key]
        match = f"v.current_stage != ? AND {where}"
        rows = self._rows(
            "SELECT 0, v.name, v.version, v.run_id, v.status, v.source, v.storage_location,"
            f" v.description FROM model_versions v WHERE {match}"
            " UNION ALL SELECT 1, t.name, t.version, t.key, t.value, NULL, NULL, NULL"
            " FROM model_version_tags t JOIN model_versions v"
            f" ON v.name = t.name AND v.version = t.version WHERE {match}"
            " UNION ALL SELECT 2, a.name, a.version, a.alias, NULL, NULL, NULL, NULL"
            " FROM registered_model_aliases a JOIN model_versions v"
            f" ON v.name = a.name AND v.version = a.version WHERE {match}"
            " ORDER BY 2, 3, 1, 4",
            (_DELETED, *params) * 3,
        )
        found: dict[tuple, tuple] = {}
        for kind, name, version, *rest in rows:
            if kind == 0:
                found[name, version] = (rest, {}, [])
            elif (name, version) in found:  # ordered: the version's row comes first
                tags, aliases = found[name, version][1:]
                if kind == 1:
                    tags[rest[0]] = rest[1]
                else:
                    aliases.append(rest[0])
        out = [StoredVersion(name, int(version), *row, tags, aliases)
               for (name, version), (row, tags, aliases) in found.items()]  # fmt: skip
        if self._once is not None:
            self._once[key] = out
        return out

    def get_model_version(self, name: str, version: str) -> StoredVersion:
        """MLflow's ``MlflowClient.get_model_version``: ``version`` is the registry's string."""
        try:
            number = ModelRef.number(version)
        except InputError:
            raise recorder.RegistryMiss(f"model {name!r} has no version {version!r}") from None
        found = self._versions("v.name = ? AND v.version = ?", (name, number))
        if not found:
            raise recorder.RegistryMiss(f"model {name!r} has no version {version}")
        return found[0]

    def get_model_version_by_alias(self, name: str, alias: str) -> StoredVersion:
        rows = self._rows(
            "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?",
            (name, alias),
        )
        if not rows:
            raise recorder.RegistryMiss(f"model {name!r} has no alias {alias!r}")
        return self.get_model_version(name, str(rows[0][0]))

    def search_model_versions(self, filter_string: str) -> list[StoredVersion]:
        match = _FILTER.match(filter_string or "")
        if match is None:  # a filter this reader does not speak: MLflow's own client does
            return recorder.mlflow_client(self.ws).search_model_versions(filter_string)
        column, value = match.groups()
        return self._versions(f"v.{column} = ?", (value,))

    def search_registered_models(self) -> list[StoredModel]:
        names = [n for (n,) in self._rows("SELECT name FROM registered_models ORDER BY name")]
        aliases: dict[str, dict] = {n: {} for n in names}
        for name, alias, version in self._rows(
            "SELECT name, alias, version FROM registered_model_aliases"
        ):
            aliases.setdefault(name, {})[alias] = int(version)
        return [StoredModel(n, aliases.get(n, {})) for n in names]

    def get_run(self, run_id: str) -> StoredRun:
        """MLflow's ``MlflowClient.get_run``, its ``info`` (id, experiment, artifact URI)."""
        rows = self._rows(
            "SELECT run_uuid, experiment_id, artifact_uri FROM runs WHERE run_uuid = ?", (run_id,)
        )
        if not rows:
            raise recorder.RegistryMiss(f"no run {run_id!r}")
        run_uuid, experiment, artifact_uri = rows[0]
        return StoredRun(StoredRunInfo(run_uuid, str(experiment), artifact_uri))

    def model_dir(self, ref: ModelRef) -> Path | None:
        """The folder of a version's logged model files when they are local, else None."""
        path = local_folder(self.get_model_version(*ref.mlflow).storage_location)
        return path if path is not None and path.is_dir() else None


def local_folder(uri: str | None) -> Path | None:
    """The local folder a ``file:`` artifact URI names (a logged model's, a run's
    artifacts), else None (an MLflow server's or a cloud store's: read through MLflow)."""
    parsed = urlparse(uri or "")
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else None


#: This thread's kept connections: ``(pid, {path: (file stamps, read-only connection)})``.
_LOCAL = threading.local()
#: Registry files a thread keeps a connection to (the least recently used is closed).
_KEEP = 4


def _connection(path: Path) -> sqlite3.Connection:
    """A read-only connection to the registry file ``path``, kept by this thread while the
    file keeps its :func:`~governance.ground.files.file_stamps` (and its WAL's, if any):
    opening one parses MLflow's whole schema (about 70 tables), 0.7 ms of every use-time
    check. Kept, it still reads the rows from the file at every statement; a file written
    or replaced since (its inode, size, mtime or ctime moved) gets a new connection, as a
    new process would. At most :data:`_KEEP` files per thread (a test session opens
    hundreds of workspaces); a forked child opens its own."""
    wal = path.with_name(path.name + "-wal")
    stamp = file_stamps(path, *([wal] if wal.exists() else []))
    kept = getattr(_LOCAL, "open", None)
    if kept is None or kept[0] != os.getpid():
        kept = _LOCAL.open = (os.getpid(), {})
    conns = kept[1]
    found = conns.pop(path, None)
    if found is not None and stamp is not None and found[0] == stamp:
        conns[path] = found  # the most recently used last
        return found[1]
    if found is not None:
        found[1].close()
    db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    conns[path] = (stamp, db)
    while len(conns) > _KEEP:
        conns.pop(next(iter(conns)))[1].close()
    return db


def registry_reader(ws: Workspace, *, once: bool = False):
    """A read-only registry client: :class:`LocalRegistry` on the workspace's own SQLite
    file, else MLflow's client (which also serves a workspace with no registry yet).

    ``once``: for one decision (the use-time checks), each version is read from the file
    once, by one statement, and that read serves the decision's every question about it;
    a new reader reads the file again."""
    uri = ws.tracking_uri
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        if path.is_file():
            return LocalRegistry(ws, path, once=once)
    return recorder.mlflow_client(ws)
