"""The workspace: one folder (``ALPHAGATE_HOME``, default ``./.alphagate``) holding all state.

Layout::

    mlflow.db, mlartifacts/   MLflow tracking + registry (embedded default; the database
                              starts as a copy of a migrated one: flows/db_templates.py)
    ledger.db                 audit ledger (SQLite default; ALPHAGATE_LEDGER_URL overrides)
    artifacts/                content-addressed artifact store (SHA-256)
    users.json                a cache of the enrolled users, roles and public keys (the
                              registry is the signed ``user.*`` ledger entries; no private
                              key ever lives in the workspace: governance/identity/keys.py)
    prefect/                  PREFECT_HOME for the temporary Prefect server (its database
                              starts as a copy of a migrated one: flows/db_templates.py)
"""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# Environment facts (shared/DESIGN.md): no internet, so telemetry off; Prefect's temporary
# server needs 10-20 s to start on a new database, above its default 20 s timeout.
QUIET_STACK_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    # Prefect's loggers at INFO, so that every gate decision (a pass is INFO) reaches the
    # flow run's log in Prefect; its console handler at WARNING keeps the terminal quiet.
    "PREFECT_LOGGING_LEVEL": "INFO",
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING",
    "GIT_PYTHON_REFRESH": "quiet",
    "GX_ANALYTICS_ENABLED": "false",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "MLFLOW_LOGGING_LEVEL": "WARNING",  # no "Creating initial MLflow database tables" lines
}


@dataclass(frozen=True)
class Workspace:
    """Paths and backend URLs of one alphagate workspace."""

    home: Path
    #: The MLflow tracking/registry store when it is not the workspace's own SQLite file
    #: (production: an MLflow server), fixed when the workspace is resolved.
    mlflow_uri: str | None = None

    @classmethod
    def from_env(cls) -> Workspace:
        """The workspace named by ``ALPHAGATE_HOME`` (default ``./.alphagate``), its MLflow
        store by ``MLFLOW_TRACKING_URI`` as it is now."""
        home = Path(os.environ.get("ALPHAGATE_HOME", ".alphagate")).resolve()
        return cls(home, os.environ.get("MLFLOW_TRACKING_URI") or None)

    @property
    def artifacts(self) -> Path:
        return self.home / "artifacts"

    @property
    def users_file(self) -> Path:
        return self.home / "users.json"

    @property
    def mlartifacts(self) -> Path:
        return self.home / "mlartifacts"

    @property
    def portfolios(self) -> Path:
        """Readable copies of published portfolios (the ledger holds their hashes)."""
        return self.home / "portfolios"

    @property
    def prefect_home(self) -> Path:
        return self.home / "prefect"

    @property
    def tracking_uri(self) -> str:
        """The MLflow store every MLflow call of alphagate uses
        (``governance.registry.recorder``): :attr:`mlflow_uri`, else the workspace's SQLite
        file. Not re-read from the environment: a ``MLFLOW_TRACKING_URI`` changed after the
        workspace was resolved (or MLflow's process-wide URI) redirects nothing."""
        return self.mlflow_uri or f"sqlite:///{self.home / 'mlflow.db'}"

    @property
    def ledger_url(self) -> str:
        """``ALPHAGATE_LEDGER_URL`` when set, else the workspace's SQLite ledger."""
        return os.environ.get("ALPHAGATE_LEDGER_URL") or f"sqlite:///{self.home / 'ledger.db'}"

    def ensure(self) -> Workspace:
        """Create the folder tree on first use; return ``self``."""
        for p in (self.home, self.artifacts, self.mlartifacts, self.prefect_home):
            p.mkdir(parents=True, exist_ok=True)
        return self

    @contextmanager
    def exclusive(self, name: str = "run") -> Iterator[bool]:
        """Hold the lock file ``<home>/.<name>.lock`` (``flock``) for the block.

        Two ``alphagate run``s on one workspace would initialise Prefect's and MLflow's
        databases at once (a schema race, a long traceback): the second waits here instead.
        Yields True when it had to wait. The kernel drops the lock if the holder dies.
        """
        self.ensure()
        with open(self.home / f".{name}.lock", "a") as fh:
            waited = False
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                waited = True
                print(
                    f"alphagate: another run holds {self.home}; waiting for it to finish",
                    file=sys.stderr,
                    flush=True,
                )
                fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield waited
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def activate(self) -> Workspace:
        """Point MLflow and Prefect at this workspace and quiet the stack's telemetry.

        Must run before ``mlflow`` or ``prefect`` is imported: both read their settings from
        the environment at import time. Values already set by the user win.
        """
        self.ensure()
        for key, value in QUIET_STACK_ENV.items():
            os.environ.setdefault(key, value)
        os.environ.setdefault("PREFECT_HOME", str(self.prefect_home))
        os.environ.setdefault("MLFLOW_TRACKING_URI", self.tracking_uri)
        return self
