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
(``name='X'`` or ``run_id='X'``), :meth:`~LocalRegistry.search_registered_models`. A missing
version or alias raises :class:`~governance.registry.recorder.RegistryMiss`, which
``except recorder.mlflow_error():`` catches as it catches MLflow's own error.

It trusts the file no more than MLflow does: both read the same rows, and what a decision
takes from them (the model files' hash) is checked against the signed approvals.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from governance.ground.errors import InputError
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


class LocalRegistry:
    """Read-only registry over the workspace's MLflow SQLite file (module docstring)."""

    def __init__(self, ws: Workspace, path: Path):
        self.ws, self.path = ws, path
        self.tracking_uri = ws.tracking_uri
        self._db: sqlite3.Connection | None = None

    def _rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        # one read-only connection per reader: opening one parses MLflow's whole schema
        # (about 70 tables); each statement reads the file as it is (autocommit)
        if self._db is None:
            self._db = sqlite3.connect(f"{self.path.as_uri()}?mode=ro", uri=True)
        return self._db.execute(sql, params).fetchall()

    def __del__(self) -> None:
        if self._db is not None:
            self._db.close()

    def _versions(self, where: str, params: tuple) -> list[StoredVersion]:
        rows = self._rows(
            "SELECT name, version, run_id, status, source, storage_location, description"
            f" FROM model_versions WHERE current_stage != ? AND {where} ORDER BY name, version",
            (_DELETED, *params),
        )
        out = []
        for name, version, run_id, status, source, location, description in rows:
            tags = dict(self._rows(
                "SELECT key, value FROM model_version_tags WHERE name = ? AND version = ?",
                (name, version)))  # fmt: skip
            aliases = [a for (a,) in self._rows(
                "SELECT alias FROM registered_model_aliases WHERE name = ? AND version = ?"
                " ORDER BY alias", (name, version))]  # fmt: skip
            out.append(StoredVersion(name, int(version), run_id, status, source, location,
                                     description, tags, aliases))  # fmt: skip
        return out

    def get_model_version(self, name: str, version: str) -> StoredVersion:
        """MLflow's ``MlflowClient.get_model_version``: ``version`` is the registry's string."""
        try:
            number = ModelRef.number(version)
        except InputError:
            raise recorder.RegistryMiss(f"model {name!r} has no version {version!r}") from None
        found = self._versions("name = ? AND version = ?", (name, number))
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
        return self._versions(f"{column} = ?", (value,))

    def search_registered_models(self) -> list[StoredModel]:
        names = [n for (n,) in self._rows("SELECT name FROM registered_models ORDER BY name")]
        aliases: dict[str, dict] = {n: {} for n in names}
        for name, alias, version in self._rows(
            "SELECT name, alias, version FROM registered_model_aliases"
        ):
            aliases.setdefault(name, {})[alias] = int(version)
        return [StoredModel(n, aliases.get(n, {})) for n in names]

    def model_dir(self, ref: ModelRef) -> Path | None:
        """The folder of a version's logged model files when they are local, else None."""
        mv = self.get_model_version(ref.name, str(ref.version))
        uri = urlparse(mv.storage_location or "")
        if uri.scheme != "file":
            return None
        path = Path(unquote(uri.path))
        return path if path.is_dir() else None


def registry_reader(ws: Workspace):
    """A read-only registry client: :class:`LocalRegistry` on the workspace's own SQLite
    file, else MLflow's client (which also serves a workspace with no registry yet)."""
    uri = ws.tracking_uri
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        if path.is_file():
            return LocalRegistry(ws, path)
    return recorder.mlflow_client(ws)
