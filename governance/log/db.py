"""The ledger's tables and database engines (SQLite with WAL + BEGIN IMMEDIATE, PostgreSQL).

Tables:

- ``ledger_entries``: one row per entry (:mod:`governance.log.chain` says what is hashed).
- ``ledger_head``: one row, ``(seq, hash)`` of the last entry, moved in the same transaction
  as each append: deleting the tail of ``ledger_entries`` leaves it pointing past the end.
- ``ledger_nodes``: ``(level, idx, hash)`` of every perfect subtree of the RFC 6962 Merkle
  tree over the entries (level 0 = the leaves). The tree's compact frontier (its right-edge
  subtrees) is read from here in O(log n) rows, so an append and the new root cost O(log n),
  and any inclusion or consistency proof is O(log n) lookups. These rows are a cache of
  hashes of the entries: ``ledger verify`` recomputes them and witnesses hold the roots.

Appends are serialised by the database: SQLite runs in WAL mode and every write transaction
starts with ``BEGIN IMMEDIATE`` (the pysqlite recipe of SQLAlchemy's SQLite dialect docs)
under a busy timeout; PostgreSQL locks the head row with ``SELECT ... FOR UPDATE``. SQLite
keeps ``synchronous=FULL``: each commit is durable (one fsync) when it returns.
"""

from __future__ import annotations

import sqlite3
import time
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError

from governance.ground.errors import InputError, TamperDetected
from governance.log import merkle

#: SQLite busy timeout in seconds. An append holds the write lock for milliseconds; a
#: minute lets many writers queue (the concurrency test runs four) without failing.
SQLITE_BUSY_TIMEOUT_S = 60.0

HEAD_ID = 1
#: pg_advisory_xact_lock key serialising table creation across processes ("AGLEDGER").
PG_INIT_LOCK = 0x41474C4544474552

metadata = sa.MetaData()

entries_table = sa.Table(
    "ledger_entries",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("ts", sa.String(40), nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False, index=True),
    sa.Column("subject", sa.Text, nullable=False, index=True),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("payload_hash", sa.String(64), nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("entry_hash", sa.String(64), nullable=False),
    sa.Column("idempotency_key", sa.Text, nullable=True, unique=True),
)

head_table = sa.Table(
    "ledger_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.CheckConstraint(f"id = {HEAD_ID}", name="ledger_head_single_row"),
)

nodes_table = sa.Table(
    "ledger_nodes",
    metadata,
    sa.Column("level", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.String(64), nullable=False),
)


def _sqlite_on_connect(dbapi_conn, _record) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite would defer it).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    _set_wal(cur)
    cur.close()


def _set_wal(cur) -> None:
    """``PRAGMA journal_mode=WAL``, retried while another connection holds the file.

    Switching a new database file to WAL needs an exclusive lock that SQLite tries once,
    without its busy handler: four processes opening one new ledger at once failed with
    "database is locked" in 14 of 60 rounds (tests/test_ledger_concurrency.py). WAL is
    persistent, so once one of them has switched the others' pragma returns at once.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    delay = 0.001
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


def _sqlite_on_begin(conn: Connection) -> None:
    # Writers take the write lock up front, so two appends never read the same head. Sent
    # on the driver's connection: SQLAlchemy's execution of it (events, a result) cost a
    # quarter of an append's CPU (bench/bench_ledger.py).
    read = conn.get_execution_options().get("ledger_read", False)
    conn.connection.driver_connection.execute("BEGIN" if read else "BEGIN IMMEDIATE")


@lru_cache(maxsize=64)
def redacted(url: str) -> str:
    """``url`` with any password hidden (for messages; a pure function of the text,
    remembered: every checkpoint and verified read names its log by it)."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def make_engine(url: str) -> Engine:
    """A SQLAlchemy engine for a ledger URL (``sqlite:///FILE`` or ``postgresql[+psycopg]://``)."""
    try:
        u = sa.make_url(url)
    except ArgumentError:
        raise InputError(f"ledger URL {url!r}: not a database URL") from None
    backend = u.get_backend_name()
    if backend == "sqlite":
        if u.database in (None, "", ":memory:"):
            raise InputError(f"ledger URL {url}: name a database file (in-memory is not shared)")
        Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(u, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
        sa.event.listen(engine, "connect", _sqlite_on_connect)
        sa.event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    if backend == "postgresql":
        if u.drivername == "postgresql":
            u = u.set(drivername="postgresql+psycopg")  # the installed driver
        return sa.create_engine(u, pool_pre_ping=True)
    raise InputError(f"ledger URL {redacted(url)}: use sqlite:///FILE or postgresql+psycopg://")


# A plain text statement: proofs look up tens of nodes, and a compiled Core select costs
# more than the lookup itself.
_NODE_QUERY = sa.text("SELECT hash FROM ledger_nodes WHERE level = :l AND idx = :i")


def node_reader(conn: Connection):
    """``node(level, index) -> bytes`` over ``ledger_nodes`` (a missing row is tampering)."""

    def node(level: int, index: int) -> bytes:
        row = conn.execute(_NODE_QUERY, {"l": level, "i": index}).first()
        if row is None:
            raise TamperDetected(f"ledger tree node ({level}, {index}) is missing")
        return bytes.fromhex(row.hash)

    return node


def driver_rows(conn: Connection, sql: str, params: tuple = ()) -> list[tuple]:
    """The rows of ``sql`` (parameters in the driver's style, :func:`mark`) run on the DBAPI
    cursor of ``conn``'s transaction: for the small fixed reads of every append, check and
    checkpoint, SQLAlchemy's execution (cache key, compiled lookup, result set-up) cost more
    CPU than the indexed read itself."""
    cur = conn.connection.driver_connection.cursor()
    try:
        cur.execute(sql, params)
        return cur.fetchall()
    finally:
        cur.close()


#: The head row's ``seq, hash`` (no parameter: the same text for every driver).
HEAD_SQL = f"SELECT seq, hash FROM {head_table.name} WHERE id = {HEAD_ID}"


_NAMES = ", ".join(f"'{t.name}'" for t in metadata.sorted_tables)
#: How many of the ledger's tables exist, per dialect (to_regclass: as a query would resolve
#: the name, through the search path).
_TABLES_SQL = {
    "sqlite": f"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ({_NAMES})",
    "postgresql": "SELECT count(to_regclass(name)) FROM unnest(ARRAY[" + _NAMES + "]) AS name",
}
#: Whether the head row, any entry and any tree node exist.
_STATE_SQL = (
    f"SELECT EXISTS (SELECT 1 FROM {head_table.name} WHERE id = {HEAD_ID}),"
    f" EXISTS (SELECT 1 FROM {entries_table.name}), EXISTS (SELECT 1 FROM {nodes_table.name})"
)


def is_current(conn: Connection) -> bool:
    """Whether the ledger in ``conn``'s database needs nothing done on open: every table
    exists, the head row too, and the tree is stored if there are entries. Two plain reads,
    so that opening a current ledger takes no write lock and runs no DDL; anything else is
    for the creating transaction to look at again under its lock."""
    ((tables,),) = driver_rows(conn, _TABLES_SQL[conn.dialect.name])
    if tables < len(metadata.tables):
        return False
    ((has_head, has_entries, has_tree),) = driver_rows(conn, _STATE_SQL)
    return bool(has_head) and (bool(has_tree) or not has_entries)


def param_mark(conn: Connection) -> str:
    """The driver's positional parameter marker (``?`` for sqlite3, ``%s`` for psycopg)."""
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def nodes_of(conn: Connection, wanted) -> dict[tuple[int, int], bytes]:
    """The stored tree nodes ``wanted`` (``{(level, index)}``) in one statement: per level an
    indexed ``level = ? AND idx IN (...)`` (SQLite does not use the primary key for a
    row-value ``IN``), joined by ``UNION ALL``; the driver's own SQL, as its shape varies
    (compiling a text statement of a new shape cost more than the lookup)."""
    by_level: dict[int, list[int]] = {}
    for level, index in wanted:
        by_level.setdefault(level, []).append(index)
    if not by_level:
        return {}
    m, parts, params = param_mark(conn), [], []
    for level, indices in sorted(by_level.items()):
        parts.append(
            f"SELECT level, idx, hash FROM {nodes_table.name}"
            f" WHERE level = {m} AND idx IN ({', '.join([m] * len(indices))})"
        )
        params += [level, *sorted(indices)]
    rows = driver_rows(conn, " UNION ALL ".join(parts), tuple(params))
    return {(level, idx): bytes.fromhex(h) for level, idx, h in rows}


def proof_from(conn: Connection, build):
    """``build(node)`` (a proof of :mod:`governance.log.merkle` over a node lookup) with
    every stored node it needs read in one statement: which nodes a proof needs depends on
    the sizes only, so a first pass records them and the second reads them from memory."""
    wanted: set[tuple[int, int]] = set()

    def record(level: int, index: int) -> bytes:
        wanted.add((level, index))
        return bytes(32)

    build(record)
    found = nodes_of(conn, wanted)

    def node(level: int, index: int) -> bytes:
        if (level, index) not in found:
            raise TamperDetected(f"ledger tree node ({level}, {index}) is missing")
        return found[(level, index)]

    return build(node)


def frontier_of(conn: Connection, size: int) -> merkle.Frontier:
    """The compact frontier of the first ``size`` leaves, in one query."""
    wanted, start = [], 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            wanted.append((level, start >> level))
            start += 1 << level
    if not wanted:
        return merkle.Frontier()
    found = nodes_of(conn, wanted)
    missing = [w for w in wanted if w not in found]
    if missing:
        raise TamperDetected(f"ledger tree nodes missing at the frontier: {missing}")
    return merkle.Frontier(size, tuple((lv, found[lv, ix]) for lv, ix in wanted))


class TreeView:
    """The stored Merkle tree as one read transaction sees it (:meth:`governance.log.ledger.Ledger.tree_view`)."""

    def __init__(self, conn: Connection):
        self._conn = conn

    def head(self) -> tuple[int, bytes]:
        """``(size, root)`` of the tree (size = the head's seq)."""
        head = driver_rows(self._conn, HEAD_SQL)
        if not head:
            raise TamperDetected("ledger head checkpoint is missing: run `alphagate ledger verify`")
        return int(head[0][0]), frontier_of(self._conn, int(head[0][0])).root()

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        """RFC 9162 consistency proof from the tree of ``old`` entries to that of ``new``
        (its stored nodes read in one statement)."""
        return proof_from(self._conn, lambda node: merkle.consistency_proof(old, new, node))
