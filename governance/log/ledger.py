"""The audit ledger: an append-only table of entries under an RFC 6962 Merkle tree.

Every entry records who (``actor``, ``role``) did what (``action``, ``subject``) and its
evidence (``payload``, canonical JSON per RFC 8785, whose ``artifacts`` field maps names to
SHA-256 hashes in the :class:`~governance.ground.artifacts.ArtifactStore`). The entry encoding (hash
chain and Merkle leaf) is :mod:`governance.log.chain`; the tables and engines are
:mod:`governance.log.db`; signed checkpoints of the tree and the witnesses that hold them
are :mod:`governance.log.checkpoint` and :mod:`governance.log.witness`.

Writes go through one serialised transaction (:meth:`Ledger.transaction`): SQLite
``BEGIN IMMEDIATE``, PostgreSQL ``SELECT ... FOR UPDATE`` on the head row. Inside it a caller
may read the current state and append on that basis (compare-and-append)::

    with ledger.transaction() as tx:
        if fold(tx.entries(subject="killswitch")).tripped:
            tx.append("killswitch.reset", actor=..., payload=...)

Each commit is durable (SQLite ``synchronous=FULL``): one fsync, a few milliseconds.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from governance.ground.artifacts import ArtifactStore, check_sha
from governance.ground.canonical import canonical_json, jsonable
from governance.ground.errors import InputError, TamperDetected
from governance.ground.workspace import Workspace
from governance.log import merkle
from governance.log.chain import GENESIS_HASH, VerifyReport, entry_leaf
from governance.log.db import (
    HEAD_ID,
    HEAD_SQL,
    PG_INIT_LOCK,
    TreeView,
    driver_rows,
    entries_table,
    frontier_of,
    head_table,
    is_current,
    make_engine,
    metadata,
    node_reader,
    nodes_table,
    redacted,
)
from governance.log.txn import (
    ANY_PAYLOAD,
    IdempotencyConflict,
    LedgerEntry,
    LedgerTransaction,
    select_entries,
    select_last,
    to_entry,
    utc_timestamp,
)
from governance.log.verify import verify_ledger

__all__ = [
    "ANY_PAYLOAD",
    "GENESIS_HASH",
    "IdempotencyConflict",
    "Ledger",
    "LedgerEntry",
    "LedgerTransaction",
    "VerifyReport",
    "make_engine",
    "utc_timestamp",
]


#: The head row, locked on PostgreSQL to serialise writers (built once: a select built per
#: transaction cost its cache key each time).
_HEAD_FOR_UPDATE = (
    sa.select(head_table.c.seq, head_table.c.hash)
    .where(head_table.c.id == HEAD_ID)
    .with_for_update()
)


class Ledger:
    """Append-only ledger in the database at ``url``.

    Parameters
    ----------
    url : str
        SQLAlchemy URL: ``sqlite:///path/ledger.db`` or ``postgresql+psycopg://...``.
    store : ArtifactStore
        Where the artifacts named in payloads live (checked on append and on verify).
    """

    def __init__(self, url: str, store: ArtifactStore):
        self.url = url
        self.store = store
        self._engine = make_engine(url)
        self._pg = self._engine.dialect.name == "postgresql"
        # the tree's frontier at the head this process last committed: the next write
        # transaction reuses it when it reads the same head under its lock
        self._tree: tuple[tuple[int, str], merkle.Frontier] | None = None
        # SQLite: each thread's write connection, kept while the ledger is open (a pool
        # checkout and check-in per append cost more CPU than its BEGIN and COMMIT)
        self._writers: dict[tuple[int, int], Connection] = {}
        try:
            self._create()
        except OperationalError as exc:
            self._engine.dispose()
            first = str(exc.orig or exc).strip().splitlines()[0]
            raise InputError(f"ledger database {redacted(url)}: {first}") from None

    @classmethod
    def open(cls, ws: Workspace) -> Ledger:
        """The ledger of workspace ``ws`` (``ws.ledger_url``), tables created on first use."""
        ws.ensure()
        return cls(ws.ledger_url, ArtifactStore.of(ws))

    def __reduce__(self):
        # Picklable (Dask workers, spawned processes): the copy opens its own engine.
        return (type(self), (self.url, self.store))

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc) -> None:
        self.dispose()

    def dispose(self) -> None:
        """Close the database connections."""
        for (pid, _), conn in list(self._writers.items()):
            if pid == os.getpid():  # a forked child's copy is its parent's to close
                conn.close()
        self._writers.clear()
        self._engine.dispose()

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    def _create(self) -> None:
        with self._reading() as conn:
            if is_current(conn):
                return
        with self._engine.begin() as conn:
            if self._pg:
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(PG_INIT_LOCK)))
            metadata.create_all(conn)
            has_head = conn.execute(sa.select(head_table.c.id)).first() is not None
            empty = conn.execute(sa.select(entries_table.c.seq).limit(1)).first() is None
            # A missing head over existing entries is left missing: verify reports it.
            if not has_head and empty:
                conn.execute(head_table.insert().values(id=HEAD_ID, seq=0, hash=GENESIS_HASH))
            no_tree = conn.execute(sa.select(nodes_table.c.level).limit(1)).first() is None
            if no_tree and not empty:  # a ledger from before the tree: build it once
                self._build_tree(conn)

    def _build_tree(self, conn: Connection) -> None:
        frontier, rows = merkle.Frontier(), []
        stmt = sa.select(entries_table).order_by(entries_table.c.seq)
        for row in conn.execute(stmt):
            frontier, done = frontier.append(entry_leaf(row._mapping))
            rows.extend({"level": lv, "idx": ix, "hash": h.hex()} for lv, ix, h in done)
        if rows:
            conn.execute(nodes_table.insert(), rows)

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        with self._engine.connect() as conn:
            opts: dict[str, Any] = {"ledger_read": True}
            if self._pg:  # one snapshot for entries, head and tree
                opts["isolation_level"] = "REPEATABLE READ"
            conn = conn.execution_options(**opts)
            with conn.begin():
                yield conn

    # -- writing ---------------------------------------------------------------------

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A connection in a write transaction: PostgreSQL's from the pool; SQLite's this
        thread's kept one (``BEGIN IMMEDIATE`` on begin, :func:`governance.log.db.make_engine`).
        A connection whose transaction failed is closed and replaced on the next write."""
        if self._pg:
            with self._engine.begin() as conn:
                yield conn
            return
        key = (os.getpid(), threading.get_ident())
        conn = self._writers.get(key)
        if conn is None:
            conn = self._writers[key] = self._engine.connect()
        try:
            with conn.begin():
                yield conn
        except BaseException:
            self._writers.pop(key, None)
            conn.close()
            raise

    @contextmanager
    def transaction(self) -> Iterator[LedgerTransaction]:
        """One serialised write transaction: read, decide, append; commit on exit.

        Raises
        ------
        TamperDetected
            The head row is missing (the ledger was tampered with).
        """
        with self._writing() as conn:  # SQLite: BEGIN IMMEDIATE
            if self._pg:
                head = conn.execute(_HEAD_FOR_UPDATE).first()
            else:  # the write lock is held since BEGIN IMMEDIATE: a plain read, on the driver
                head = conn.connection.driver_connection.execute(HEAD_SQL).fetchone()
            if head is None:
                raise TamperDetected(
                    "ledger head checkpoint is missing: run `alphagate ledger verify`"
                )
            head = (int(head[0]), str(head[1]))
            known = self._tree[1] if self._tree is not None and self._tree[0] == head else None
            txn = LedgerTransaction(conn, head, self.payload_text, known)
            txn.store = self.store  # a decision in the transaction reads artifacts (the policy)
            yield txn
        after, frontier = txn.tree_state()  # committed: remember the new head's frontier
        if frontier is not None:
            self._tree = (after, frontier)

    def append(
        self,
        action: str,
        *,
        actor: str,
        role: str = "system",
        subject: str = "",
        payload: Mapping[str, Any] | None = None,
        artifacts: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        replay_ignores: Collection[str] = (),
    ) -> LedgerEntry:
        """Append one entry, its tree nodes and the new head, in one serialised transaction.

        Parameters
        ----------
        action : str
            ``<area>.<event>`` (docs/architecture.md, "Ledger action names").
        actor, role, subject : str
            Who acted, in which role, on what (``model:3``, ``user:alice`` ...).
        payload : mapping, optional
            JSON-able evidence; NaN/inf become null (:func:`governance.ground.canonical.to_jsonable`).
        artifacts : mapping of name to SHA-256, optional
            Merged into ``payload["artifacts"]``; each must already be in the store.
        idempotency_key : str, optional
            When an entry with this key exists with the same action, subject and payload, it
            is returned and nothing is appended.
        replay_ignores : collection of str
            Payload keys left out of that comparison (a resumed run's new flow-run id);
            :data:`ANY_PAYLOAD` compares action and subject only.

        Raises
        ------
        InputError
            An artifact is not in the store, or a field is malformed.
        IdempotencyConflict
            The key already names a different entry.
        TamperDetected
            The head row is missing (the ledger was tampered with).
        """
        with self.transaction() as tx:
            return tx.append(
                action,
                actor=actor,
                role=role,
                subject=subject,
                payload=payload,
                artifacts=artifacts,
                idempotency_key=idempotency_key,
                replay_ignores=replay_ignores,
            )

    def payload_text(
        self, payload: Mapping[str, Any] | None, artifacts: Mapping[str, str] | None
    ) -> str:
        """The canonical JSON text stored for ``payload`` with ``artifacts`` merged in."""
        if payload is not None and not isinstance(payload, Mapping):
            raise InputError(f"ledger payload must be a mapping, got {type(payload).__name__}")
        data = dict(jsonable(payload) if payload is not None else {})  # a copy: merged below
        if artifacts or "artifacts" in data:
            recorded = data.get("artifacts") or {}
            if not isinstance(recorded, dict):
                raise InputError("ledger payload field 'artifacts': must map names to SHA-256")
            merged = {**recorded, **{str(k): v for k, v in (artifacts or {}).items()}}
            for name, sha in merged.items():
                if not self.store.exists(check_sha(sha)):
                    raise InputError(
                        f"artifact {name!r} ({sha}): not in the store {self.store.root}"
                    )
            data["artifacts"] = merged
        return canonical_json(data).decode("utf-8")

    # -- reading ---------------------------------------------------------------------

    def entries(
        self,
        action: str | tuple[str, ...] | None = None,
        subject: str | None = None,
        after_seq: int = 0,
    ) -> list[LedgerEntry]:
        """Entries with ``seq > after_seq``, optionally of one action (or a tuple of actions)
        and/or subject, by seq."""
        with self._reading() as conn:
            return select_entries(conn, action, subject, after_seq)

    def entries_between(self, first: int, last: int) -> list[LedgerEntry]:
        """Entries with ``first <= seq <= last``, by seq."""
        c = entries_table.c
        stmt = sa.select(entries_table).where(c.seq >= first, c.seq <= last).order_by(c.seq)
        with self._reading() as conn:
            return [to_entry(r) for r in conn.execute(stmt)]

    def tail(self, n: int) -> list[LedgerEntry]:
        """The last ``n`` entries, in ascending seq order."""
        stmt = sa.select(entries_table).order_by(entries_table.c.seq.desc()).limit(max(n, 0))
        with self._reading() as conn:
            return [to_entry(r) for r in reversed(conn.execute(stmt).all())]

    def last(self, action: str | None = None, subject: str | None = None) -> LedgerEntry | None:
        """The most recent entry (of one action and/or subject), or None."""
        with self._reading() as conn:
            return select_last(conn, action, subject)

    def by_key(self, key: str) -> LedgerEntry | None:
        """The entry appended with idempotency key ``key``, or None."""
        stmt = sa.select(entries_table).where(entries_table.c.idempotency_key == key)
        with self._reading() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else to_entry(row)

    def head(self) -> tuple[int, str]:
        """The head row ``(seq, hash)``; ``(0, GENESIS_HASH)`` for an empty ledger."""
        with self._reading() as conn:
            head = driver_rows(conn, HEAD_SQL)
        if not head:
            raise TamperDetected("ledger head checkpoint is missing: run `alphagate ledger verify`")
        return int(head[0][0]), str(head[0][1])

    # -- the tree --------------------------------------------------------------------

    @contextmanager
    def tree_view(self) -> Iterator[TreeView]:
        """The stored tree in one read transaction: its head and consistency proofs read
        from one snapshot (a checkpoint's hand-over)."""
        with self._reading() as conn:
            yield TreeView(conn)

    def tree_head(self) -> tuple[int, bytes]:
        """``(size, root)`` of the Merkle tree as stored (size = the head's seq)."""
        with self.tree_view() as tree:
            return tree.head()

    def frontier(self, size: int) -> merkle.Frontier:
        """The stored compact frontier of the first ``size`` entries."""
        with self._reading() as conn:
            return frontier_of(conn, size)

    def inclusion_proof(self, seq: int, size: int) -> list[bytes]:
        """Audit path of entry ``seq`` (leaf ``seq - 1``) in the tree of ``size`` entries."""
        with self._reading() as conn:
            return merkle.inclusion_proof(seq - 1, size, node_reader(conn))

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        """RFC 9162 consistency proof from the tree of ``old`` entries to that of ``new``."""
        with self.tree_view() as tree:
            return tree.consistency_proof(old, new)

    def verify(self) -> VerifyReport:
        """Entries, head row, stored tree and artifacts (:func:`~governance.log.verify.verify_ledger`)."""
        return verify_ledger(self).report

    def rows(self, after_seq: int = 0) -> Iterator[Mapping[str, Any]]:
        """Stored rows (``payload`` as text) with ``seq > after_seq``, streamed in seq order."""
        stmt = (
            sa.select(entries_table)
            .where(entries_table.c.seq > after_seq)
            .order_by(entries_table.c.seq)
        )
        with self._reading() as conn:
            for row in conn.execution_options(yield_per=5000).execute(stmt):
                yield row._mapping

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A read connection with one consistent snapshot (for verifiers)."""
        with self._reading() as conn:
            yield conn
