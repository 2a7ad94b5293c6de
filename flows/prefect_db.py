"""A migrated, empty Prefect database for every new workspace's temporary server.

Without ``PREFECT_API_URL`` each run starts Prefect's temporary server on the workspace's
own SQLite database (``<workspace>/prefect/prefect.db``). On a new workspace that server
first creates the database: Prefect's migrations and its block registration, about 5-6 s
of the demo's cold wall time (measured 2026-12-03: a one-task flow took 11.7 s on a new
database and 6.1 s on a migrated one; the demo pipeline 26.9 s and 21.0 s).

``make install`` therefore builds one migrated database per installed Prefect version
(``python -m flows.prefect_db``, into the virtual environment: rebuilt with it), and a new
workspace starts from a copy of it (:func:`seed`). The copy is Prefect's own database,
made by Prefect's own code; a server with a newer schema migrates it as usual. Nothing is
copied where a database already exists, where another server or database is named, or
when no template was built (the server then creates the database itself, as before).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

#: Variables that point Prefect at another server or database: nothing to seed then.
ELSEWHERE = (
    "PREFECT_API_URL",
    "PREFECT_API_DATABASE_CONNECTION_URL",
    "PREFECT_SERVER_DATABASE_CONNECTION_URL",
)

# Run in a child process whose environment names the new database before Prefect loads
# its settings: migrations, then the block types a server registers on its first start.
_BUILD = """
import asyncio
from prefect.server.database import provide_database_interface
from prefect.server.models.block_registration import run_block_auto_registration

async def build():
    db = provide_database_interface()
    await db.create_db()
    async with await db.session() as session:
        await run_block_auto_registration(session=session)
        await session.commit()

asyncio.run(build())
"""


def template_path() -> Path:
    """Where the template for the installed Prefect version lives (in ``sys.prefix``)."""
    return Path(sys.prefix) / "share" / "alphagate" / f"prefect-{version('prefect')}.db"


def build(path: Path | None = None) -> Path:
    """Build the template at ``path`` (default :func:`template_path`) unless it exists."""
    path = Path(path or template_path())
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        db = Path(tmp) / "prefect.db"
        env = {
            **{k: v for k, v in os.environ.items() if k not in ELSEWHERE},
            "PREFECT_HOME": tmp,
            "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{db}",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "true",
        }
        subprocess.run([sys.executable, "-c", _BUILD], env=env, check=True)
        packed = Path(tmp) / "packed.db"
        with sqlite3.connect(db) as con:  # one self-contained file: no -wal beside it
            con.execute("VACUUM INTO ?", (str(packed),))
        con.close()
        os.replace(packed, path)
    return path


def seed(prefect_home: Path) -> bool:
    """Copy the template to ``prefect_home/prefect.db`` when this process would start a
    temporary server on a database that does not exist yet; True when it did."""
    if any(os.environ.get(k) for k in ELSEWHERE):
        return False
    target = Path(prefect_home) / "prefect.db"
    template = template_path()
    if target.exists() or not template.is_file():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".prefect-", suffix=".db", dir=target.parent)
    os.close(fd)
    try:
        shutil.copyfile(template, tmp)
        os.link(tmp, target)  # create-if-absent: never replaces a database in use
    except FileExistsError:
        return False  # another process seeded it first
    finally:
        os.unlink(tmp)
    return True


if __name__ == "__main__":  # `make install`
    print(f"Prefect database template: {build()}")
