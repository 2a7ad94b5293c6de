"""The audit ledger: an append-only, hash-chained table of entries in a SQL database.

Every entry records who (``actor``, ``role``) did what (``action``, ``subject``) and its
evidence (``payload``, canonical JSON per RFC 8785, whose ``artifacts`` field maps names to
SHA-256 hashes in the :class:`~governance.artifacts.ArtifactStore`). The chain rules
(``payload_hash``, ``entry_hash`` over the entry's fields, ``prev_hash`` linking to the
previous entry, 64 zeros for the first) live in :mod:`governance.integrity`.

``ledger_head`` holds one row, the checkpoint ``(seq, hash)`` of the last entry, written in
the same transaction as each append: deleting the tail of ``ledger_entries`` leaves the
checkpoint pointing past the end, so truncation is detected.

Appends are serialised by the database, not by Python, so several processes may append at
once: SQLite runs in WAL mode and every write transaction starts with ``BEGIN IMMEDIATE``
(the pysqlite recipe of SQLAlchemy's SQLite dialect docs) under a busy timeout; PostgreSQL
locks the checkpoint row with ``SELECT ... FOR UPDATE``. Each append is one durable commit
(SQLite keeps its default ``synchronous=FULL``): about one fsync, 10-15 ms on the 2-core
test machine, on either backend.

:meth:`Ledger.verify` recomputes every payload hash and entry hash, checks that ``seq``
runs 1, 2, 3 ... and that each ``prev_hash`` links to the previous entry, compares the last
entry with the checkpoint, and re-hashes every artifact named in a payload. It reports the
first bad sequence number and a reason naming what failed
(:func:`governance.integrity.verify_chain`).

Residual risk
-------------
The chain is tamper-*evident* against edits of single rows, deletions, reordering and
truncation. It is not tamper-*proof*: someone who can rewrite the whole database (entries
and checkpoint) can recompute a consistent chain. Anchoring the head hash outside the
database (evidence packs, signed approvals, an external notary or WORM storage) and
restricting write access to the database are the mitigations.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, OperationalError

from governance.artifacts import ArtifactStore, check_sha
from governance.canonical import canonical_json, sha256_bytes, to_jsonable
from governance.errors import InputError, TamperDetected
from governance.integrity import GENESIS_HASH, VerifyReport, compute_entry_hash, verify_chain
from governance.workspace import Workspace

__all__ = [
    "GENESIS_HASH",
    "Ledger",
    "LedgerEntry",
    "VerifyReport",
    "make_engine",
    "utc_timestamp",
]

#: SQLite busy timeout in seconds. An append holds the write lock for milliseconds; a
#: minute lets many writers queue (the concurrency test runs four) without failing.
SQLITE_BUSY_TIMEOUT_S = 60.0

_HEAD_ID = 1
#: pg_advisory_xact_lock key serialising table creation across processes ("AGLEDGER").
_PG_INIT_LOCK = 0x41474C4544474552

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
    sa.CheckConstraint(f"id = {_HEAD_ID}", name="ledger_head_single_row"),
)


# ------------------------------------------------------------------------------------
# Entries
# ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerEntry:
    """One ledger entry as stored. ``payload`` is the parsed canonical JSON object."""

    seq: int
    ts: str
    actor: str
    role: str
    action: str
    subject: str
    payload: dict
    payload_hash: str
    prev_hash: str
    entry_hash: str
    idempotency_key: str | None

    @property
    def artifacts(self) -> dict[str, str]:
        """``{name: sha256}`` of the artifacts this entry records (may be empty)."""
        return dict(self.payload.get("artifacts") or {})

    def to_json(self) -> dict:
        """All fields as a JSON-ready dict."""
        return asdict(self)


def utc_timestamp(now: dt.datetime | None = None) -> str:
    """UTC ISO-8601 with microseconds, e.g. ``2026-01-02T03:04:05.123456Z``."""
    now = now or dt.datetime.now(dt.UTC)
    return now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ------------------------------------------------------------------------------------
# Engines: SQLite (WAL + BEGIN IMMEDIATE) and PostgreSQL
# ------------------------------------------------------------------------------------


def _sqlite_on_connect(dbapi_conn, _record) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite would defer it).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    cur.close()


def _sqlite_on_begin(conn: Connection) -> None:
    # Writers take the write lock up front, so two appends never read the same head.
    read = conn.get_execution_options().get("ledger_read", False)
    conn.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")


def _redacted(url: str) -> str:
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
    raise InputError(f"ledger URL {_redacted(url)}: use sqlite:///FILE or postgresql+psycopg://")


# ------------------------------------------------------------------------------------
# The ledger
# ------------------------------------------------------------------------------------


class Ledger:
    """Append-only hash-chained ledger in the database at ``url``.

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
        try:
            self._create()
        except OperationalError as exc:
            self._engine.dispose()
            first = str(exc.orig or exc).strip().splitlines()[0]
            raise InputError(f"ledger database {_redacted(url)}: {first}") from None

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
        self._engine.dispose()

    def _create(self) -> None:
        with self._engine.begin() as conn:
            if self._pg:
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_INIT_LOCK)))
            metadata.create_all(conn)
            has_head = conn.execute(sa.select(head_table.c.id)).first() is not None
            empty = conn.execute(sa.select(entries_table.c.seq).limit(1)).first() is None
            # A missing checkpoint over existing entries is left missing: verify reports it.
            if not has_head and empty:
                conn.execute(head_table.insert().values(id=_HEAD_ID, seq=0, hash=GENESIS_HASH))

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        with self._engine.connect() as conn:
            opts: dict[str, Any] = {"ledger_read": True}
            if self._pg:  # one snapshot for entries and checkpoint
                opts["isolation_level"] = "REPEATABLE READ"
            conn = conn.execution_options(**opts)
            with conn.begin():
                yield conn

    # -- writing ---------------------------------------------------------------------

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
    ) -> LedgerEntry:
        """Append one entry and move the checkpoint, in one serialised transaction.

        Parameters
        ----------
        action : str
            ``<area>.<event>`` (docs/architecture.md, "Ledger action names").
        actor, role, subject : str
            Who acted, in which role, on what (``model:3``, ``user:alice`` ...).
        payload : mapping, optional
            JSON-able evidence; NaN/inf become null (:func:`governance.canonical.to_jsonable`).
        artifacts : mapping of name to SHA-256, optional
            Merged into ``payload["artifacts"]``; each must already be in the store.
        idempotency_key : str, optional
            When an entry with this key exists, it is returned and nothing is appended.

        Raises
        ------
        InputError
            An artifact is not in the store, or a field is malformed.
        TamperDetected
            The checkpoint row is missing (the ledger was tampered with).
        """
        body = self._payload_text(payload, artifacts)
        payload_hash = sha256_bytes(body.encode("utf-8"))
        with self._engine.begin() as conn:  # SQLite: BEGIN IMMEDIATE
            head = conn.execute(
                sa.select(head_table.c.seq, head_table.c.hash)
                .where(head_table.c.id == _HEAD_ID)
                .with_for_update()  # PostgreSQL: serialise appends on the checkpoint row
            ).first()
            if idempotency_key is not None:
                existing = self._select_one(
                    conn, entries_table.c.idempotency_key == idempotency_key
                )
                if existing is not None:
                    return existing
            if head is None:
                raise TamperDetected(
                    "ledger head checkpoint is missing: run `alphagate ledger verify`"
                )
            seq, ts = head.seq + 1, utc_timestamp()
            fields = dict(
                seq=seq,
                ts=ts,
                actor=str(actor),
                role=str(role),
                action=str(action),
                subject=str(subject),
                payload_hash=payload_hash,
                prev_hash=head.hash,
                idempotency_key=idempotency_key,
            )
            entry_hash = compute_entry_hash(fields)
            conn.execute(
                entries_table.insert().values(payload=body, entry_hash=entry_hash, **fields)
            )
            conn.execute(
                head_table.update()
                .where(head_table.c.id == _HEAD_ID)
                .values(seq=seq, hash=entry_hash)
            )
        return LedgerEntry(payload=json.loads(body), entry_hash=entry_hash, **fields)

    def _payload_text(
        self, payload: Mapping[str, Any] | None, artifacts: Mapping[str, str] | None
    ) -> str:
        if payload is not None and not isinstance(payload, Mapping):
            raise InputError(f"ledger payload must be a mapping, got {type(payload).__name__}")
        data = dict(to_jsonable(payload) if payload is not None else {})
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

    @staticmethod
    def _to_entry(row) -> LedgerEntry:
        try:
            payload = json.loads(row.payload)
        except ValueError:
            raise TamperDetected(f"ledger entry {row.seq}: payload is not valid JSON") from None
        return LedgerEntry(**{**row._mapping, "payload": payload})

    def _select_one(self, conn: Connection, where) -> LedgerEntry | None:
        row = conn.execute(sa.select(entries_table).where(where)).first()
        return None if row is None else self._to_entry(row)

    @staticmethod
    def _filters(action: str | None, subject: str | None) -> list:
        c = entries_table.c
        out = []
        if action is not None:
            out.append(c.action == action)
        if subject is not None:
            out.append(c.subject == subject)
        return out

    def entries(
        self, action: str | None = None, subject: str | None = None, after_seq: int = 0
    ) -> list[LedgerEntry]:
        """Entries with ``seq > after_seq``, optionally of one action and/or subject, by seq."""
        where = [entries_table.c.seq > after_seq, *self._filters(action, subject)]
        stmt = sa.select(entries_table).where(*where).order_by(entries_table.c.seq)
        with self._reading() as conn:
            return [self._to_entry(r) for r in conn.execute(stmt)]

    def tail(self, n: int) -> list[LedgerEntry]:
        """The last ``n`` entries, in ascending seq order."""
        stmt = sa.select(entries_table).order_by(entries_table.c.seq.desc()).limit(max(n, 0))
        with self._reading() as conn:
            return [self._to_entry(r) for r in reversed(conn.execute(stmt).all())]

    def last(self, action: str | None = None, subject: str | None = None) -> LedgerEntry | None:
        """The most recent entry (of one action and/or subject), or None."""
        stmt = (
            sa.select(entries_table)
            .where(*self._filters(action, subject))
            .order_by(entries_table.c.seq.desc())
            .limit(1)
        )
        with self._reading() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else self._to_entry(row)

    def by_key(self, key: str) -> LedgerEntry | None:
        """The entry appended with idempotency key ``key``, or None."""
        with self._reading() as conn:
            return self._select_one(conn, entries_table.c.idempotency_key == key)

    def head(self) -> tuple[int, str]:
        """The checkpoint ``(seq, hash)``; ``(0, GENESIS_HASH)`` for an empty ledger."""
        with self._reading() as conn:
            head = conn.execute(sa.select(head_table.c.seq, head_table.c.hash)).first()
        if head is None:
            raise TamperDetected("ledger head checkpoint is missing: run `alphagate ledger verify`")
        return int(head.seq), str(head.hash)

    def verify(self) -> VerifyReport:
        """Check the whole chain, the checkpoint and every recorded artifact (see module doc)."""
        cache: dict[str, str | None] = {}

        def artifact_check(sha: str) -> str | None:
            if sha not in cache:
                if not self.store.exists(sha):
                    cache[sha] = "file missing from the artifact store"
                elif not self.store.verify(sha):
                    cache[sha] = "file altered (content no longer matches its hash)"
                else:
                    cache[sha] = None
            return cache[sha]

        stmt = sa.select(entries_table).order_by(entries_table.c.seq)
        with self._reading() as conn:
            head = conn.execute(sa.select(head_table.c.seq, head_table.c.hash)).first()
            head_t = None if head is None else (int(head.seq), str(head.hash))
            rows = conn.execution_options(yield_per=2000).execute(stmt)
            return verify_chain((r._mapping for r in rows), head_t, artifact_check)
