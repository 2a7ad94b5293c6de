"""Shared helpers of the ledger tests (no tests here): backends, a built ledger, tampering.

The tamper helpers act as an attacker with write access to the database would: plain SQL
through a separate engine, bypassing :class:`governance.log.ledger.Ledger`.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from governance.ground.vocabulary import Action
from governance.log.ledger import Ledger

#: Scratch databases this process made and emptied, ready for the next test (per server).
#: Creating a PostgreSQL database copies template1 and syncs it: 1-2 s of the server's time
#: each (70 tests use one); emptying and renaming one for reuse takes about 0.1 s.
_EMPTIED: dict[str, list[str]] = {}


@contextmanager
def scratch_pg_database(base_url: str) -> Iterator[str]:
    """A PostgreSQL database of a new name next to ``base_url`` for this test alone, as empty
    as a new one: no table, no row, a new ``public`` schema. After the test its connections
    are ended and its schema dropped with everything in it; the empty database, renamed,
    serves a later test of this process, and is dropped at the session's end."""
    import psycopg

    base = sa.make_url(base_url)
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    free = _EMPTIED.setdefault(admin, [])
    name = f"ag_ledger_{uuid.uuid4().hex[:16]}"  # a new URL: the log's origin is derived from it
    with psycopg.connect(admin, autocommit=True) as conn:
        if free:
            conn.execute(f'ALTER DATABASE "{free.pop()}" RENAME TO "{name}"')
        else:
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        _empty(admin, base.set(drivername="postgresql", database=name), name)
        free.append(name)


def _empty(admin: str, url: sa.URL, name: str) -> None:
    """End every connection to database ``name`` and give it a new, empty public schema
    (owned and granted as PostgreSQL 15 makes it in a new database)."""
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public AUTHORIZATION pg_database_owner")
        conn.execute("GRANT USAGE ON SCHEMA public TO PUBLIC")


def drop_emptied() -> None:
    """Drop the emptied databases this process keeps (tests/conftest.py, at the session's
    end: an xdist worker may leave without running ``atexit`` handlers)."""
    if not any(_EMPTIED.values()):
        return
    import psycopg

    for admin, names in _EMPTIED.items():
        with contextlib.suppress(psycopg.Error), psycopg.connect(admin, autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        names.clear()


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)]


@contextmanager
def backend_url(request, backend: str, workspace, monkeypatch) -> Iterator[str]:
    """The workspace's SQLite ledger URL, or a scratch PostgreSQL database set as
    ``ALPHAGATE_LEDGER_URL`` (skips when ``ALPHAGATE_TEST_PG_URL`` is unset)."""
    if backend == "sqlite":
        yield workspace.ledger_url
        return
    with scratch_pg_database(request.getfixturevalue("pg_url")) as url:
        monkeypatch.setenv("ALPHAGATE_LEDGER_URL", url)
        yield url


def raw_sql(url: str, *statements: str, **params) -> None:
    """Run ``statements`` in one transaction on a fresh engine (the attacker's)."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for stmt in statements:
                conn.execute(sa.text(stmt), params)
    finally:
        engine.dispose()


def build_ledger(ledger: Ledger, n: int = 6, artifact_at: int = 3) -> dict[str, str]:
    """Append ``n`` varied entries; entry ``artifact_at`` records one artifact.

    Returns ``{name: sha}`` of the recorded artifact.
    """
    sha = ledger.store.put_json({"rows": [1, 2, 3], "note": "évidence"})
    for i in range(1, n + 1):
        ledger.append(
            Action.DATA_INGESTED if i % 2 else Action.GATE_DATA_QUALITY,
            actor="alice" if i % 3 else "bob",
            role="developer",
            subject=f"data:{i}",
            payload={"i": i, "nested": {"x": i / 7, "tags": ["a", "ü"]}},
            artifacts={"report": sha} if i == artifact_at else None,
            idempotency_key=f"k{i}",
        )
    return {"report": sha}


def rebuild_tree(conn) -> None:
    """Recompute ``ledger_nodes`` from the stored entries, as an attacker who rewrote them
    with the project's own hash functions would (``conn``: an open SQLAlchemy connection)."""
    from governance.log.chain import entry_leaf
    from governance.log.db import entries_table, nodes_table
    from governance.log.merkle import Frontier

    conn.execute(nodes_table.delete())
    frontier, rows = Frontier(), []
    for row in conn.execute(sa.select(entries_table).order_by(entries_table.c.seq)):
        frontier, done = frontier.append(entry_leaf(row._mapping))
        rows += [{"level": lv, "idx": ix, "hash": h.hex()} for lv, ix, h in done]
    if rows:
        conn.execute(nodes_table.insert(), rows)


def truncate_tail(url: str, keep: int) -> None:
    """Delete every entry after ``keep``, move the head back and rebuild the tree (no hashing
    an attacker could not do with the project's own functions)."""
    from governance.log.db import entries_table, head_table

    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(entries_table.delete().where(entries_table.c.seq > keep))
            last = conn.execute(
                sa.select(entries_table.c.entry_hash).where(entries_table.c.seq == keep)
            ).scalar()
            conn.execute(head_table.update().values(seq=keep, hash=last or "0" * 64))
            rebuild_tree(conn)
    finally:
        engine.dispose()


def rewrite_history(url: str, seq: int, edit) -> None:
    """Apply ``edit(row dict)`` to entry ``seq`` and recompute every later hash, the head and
    the tree with the project's own hash functions: a consistent, rewritten ledger."""
    from governance.ground.canonical import sha256_bytes
    from governance.log.chain import compute_entry_hash
    from governance.log.db import entries_table, head_table

    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            rows = conn.execute(sa.select(entries_table).order_by(entries_table.c.seq)).all()
            prev = None
            for row in rows:
                r = row._asdict()
                if r["seq"] == seq:
                    edit(r)
                    r["payload_hash"] = sha256_bytes(r["payload"].encode())
                if r["seq"] >= seq:
                    r["prev_hash"] = prev or r["prev_hash"]
                    r["entry_hash"] = compute_entry_hash(r)
                    conn.execute(
                        entries_table.update().where(entries_table.c.seq == r["seq"]).values(**r)
                    )
                prev = r["entry_hash"]
            conn.execute(head_table.update().values(seq=rows[-1].seq, hash=prev))
            rebuild_tree(conn)
    finally:
        engine.dispose()
