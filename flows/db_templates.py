"""Migrated, empty MLflow and Prefect databases that every new workspace starts from.

A new workspace's first command would otherwise create both databases itself: MLflow runs
its alembic migrations in the command (~5 s of the demo's training stage, issue 28), and
Prefect's temporary server runs its migrations and block registration before it answers
(5-6 s; measured 2026-12-03: a one-task flow took 11.7 s on a new database, 6.1 s on a
migrated one). Instead the package builds one template per installed version of each
(:func:`build`, by that package's own code, in a child process, into the virtual
environment: rebuilt with it) the first time a workspace needs one (or at ``make
install``: ``python -m flows.db_templates``), and a new workspace starts from a copy
(:func:`seed_prefect`, :func:`seed_mlflow`, called by the CLI). A newer schema migrates the
copy as usual. Nothing is copied where a database already exists, or where another server
or database is named.

The MLflow template holds MLflow's tables only: MLflow creates its default experiment (whose
artifact location names the workspace) on the workspace's first use, as on a new database.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from governance.ground.files import write_atomic

#: Variables that point Prefect at another server or database: nothing to seed then.
ELSEWHERE = (
    "PREFECT_API_URL",
    "PREFECT_API_DATABASE_CONNECTION_URL",
    "PREFECT_SERVER_DATABASE_CONNECTION_URL",
)


@dataclass(frozen=True)
class Template:
    """One package's migrated empty database: ``script`` builds it at ``$TEMPLATE_DB`` in a
    child process whose environment adds ``env`` (``{db}`` is replaced by that path); it
    is kept in ``home`` (default: the virtual environment's ``share/alphagate``)."""

    package: str
    script: str
    env: tuple[tuple[str, str], ...] = ()
    home: Path | None = None

    def path(self) -> Path:
        """Where the template of the installed version lives."""
        home = self.home or Path(sys.prefix) / "share" / "alphagate"
        return home / f"{self.package}-{version(self.package)}.db"


#: Prefect's migrations, then the block types a server registers on its first start (the
#: server's own imports and the installed collections' first: the same block registry); the
#: child's environment names the new database before Prefect loads its settings.
PREFECT = Template(
    "prefect",
    """
import asyncio
import prefect.plugins
import prefect.server.api.server
from prefect.server.database import provide_database_interface
from prefect.server.models.block_registration import run_block_auto_registration

prefect.plugins.load_prefect_collections()

async def build():
    db = provide_database_interface()
    await db.create_db()
    async with await db.session() as session:
        await run_block_auto_registration(session=session)
        await session.commit()

asyncio.run(build())
""",
    (
        ("PREFECT_SERVER_DATABASE_CONNECTION_URL", "sqlite+aiosqlite:///{db}"),
        ("PREFECT_SERVER_ANALYTICS_ENABLED", "false"),
        ("DO_NOT_TRACK", "true"),
    ),
)

#: MLflow's own table creation and migrations (what its tracking store runs on an empty
#: database), without the default experiment.
MLFLOW = Template(
    "mlflow",
    """
import os, sqlalchemy
from mlflow.store.db.utils import _initialize_tables

_initialize_tables(sqlalchemy.create_engine("sqlite:///" + os.environ["TEMPLATE_DB"]))
""",
)


def build(template: Template, path: Path | None = None) -> Path:
    """Build ``template`` at ``path`` (default its :meth:`Template.path`) unless it exists."""
    path = Path(path or template.path())
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        db = Path(tmp) / "new.db"
        env = {k: v for k, v in os.environ.items() if k not in ELSEWHERE}
        env |= {"PREFECT_HOME": tmp, "TEMPLATE_DB": str(db)}
        env |= {key: value.format(db=db) for key, value in template.env}
        subprocess.run([sys.executable, "-c", template.script], env=env, check=True)
        packed = Path(tmp) / "packed.db"
        with sqlite3.connect(db) as con:  # one self-contained file: no -wal beside it
            con.execute("VACUUM INTO ?", (str(packed),))
        con.close()
        write_atomic(path, packed.read_bytes())  # processes building at once each see a whole file
    return path


def seed_file(template: Template, target: Path) -> bool:
    """Copy ``template`` (built first if need be) to ``target`` unless ``target`` exists;
    True when this process created ``target``."""
    target = Path(target)
    if target.exists():
        return False
    source = build(template)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".template-", suffix=".db", dir=target.parent)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.link(tmp, target)  # create-if-absent: never replaces a database in use
    except FileExistsError:
        return False  # another process seeded it first
    finally:
        os.unlink(tmp)
    return True


#: Beside a workspace's Prefect database copied from a template: that template's file name.
BLOCKS_MARK = "prefect.db.template"


def seed_prefect(prefect_home: Path) -> bool:
    """The Prefect database of a temporary server on ``prefect_home``, unless Prefect is
    pointed at another server or database; True when it was created (and marked as a copy of
    the installed version's template: :func:`blocks_registered`)."""
    if any(os.environ.get(k) for k in ELSEWHERE):
        return False
    created = seed_file(PREFECT, Path(prefect_home) / "prefect.db")
    if created:
        write_atomic(Path(prefect_home) / BLOCKS_MARK, PREFECT.path().name.encode())
    return created


def blocks_registered(prefect_home: Path) -> bool:
    """True when the Prefect database on ``prefect_home`` was copied from the installed
    Prefect version's template, whose build registered the block types a server of that
    version registers on its first start: the server need not register them again (about
    2 s of a temporary server's CPU before it answers, issue 28). False for a database
    Prefect created itself, or a copy of another version's template (a server then registers
    and migrates as usual)."""
    try:
        mark = (Path(prefect_home) / BLOCKS_MARK).read_text()
    except OSError:
        return False
    return mark == PREFECT.path().name and (Path(prefect_home) / "prefect.db").is_file()


def seed_mlflow(tracking_uri: str) -> bool:
    """The MLflow database of a ``sqlite:///`` tracking URI (the workspace's embedded
    default); nothing for a server or another database. True when it was created."""
    prefix = "sqlite:///"
    if not tracking_uri.startswith(prefix):
        return False
    return seed_file(MLFLOW, Path(tracking_uri.removeprefix(prefix)))


if __name__ == "__main__":  # `make install`
    for each in (PREFECT, MLFLOW):
        print(f"{each.package} database template: {build(each)}")
