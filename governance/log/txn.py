"""Ledger entries and the serialised write transaction (:meth:`governance.log.ledger.Ledger.transaction`).

A :class:`LedgerTransaction` reads and appends on one database connection inside one write
transaction (SQLite ``BEGIN IMMEDIATE``, PostgreSQL ``FOR UPDATE`` on the head row): what
it reads cannot change before its appends commit. Each append inserts the entry, the Merkle
tree nodes it completes (from the compact frontier, O(log n)) and moves the head.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from governance.ground.canonical import sha256_bytes
from governance.ground.errors import InputError, TamperDetected
from governance.log import merkle
from governance.log.bound import admission_problems, binding_problems, replay_tokens
from governance.log.chain import entry_bytes, entry_leaf
from governance.log.db import (
    HEAD_ID,
    driver_rows,
    entries_table,
    frontier_of,
    head_table,
    nodes_table,
    param_mark,
)

#: ``replay_ignores`` value that compares only action and subject (first recording stands).
ANY_PAYLOAD = ("*",)

_ENTRY_COLUMNS = tuple(c.name for c in entries_table.columns)
#: An append's three writes as text with named parameters, run on the DBAPI cursor of the
#: transaction's connection: SQLAlchemy's execution of a Core insert (cache key, compiled
#: lookup, result set-up) cost more CPU than SQLite's own insert (bench/bench_ledger.py).
_WRITES = (
    f"INSERT INTO {entries_table.name} ({', '.join(_ENTRY_COLUMNS)})"
    f" VALUES ({', '.join(':' + c for c in _ENTRY_COLUMNS)})",
    f"INSERT INTO {nodes_table.name} (level, idx, hash) VALUES (:level, :idx, :hash)",
    f"UPDATE {head_table.name} SET seq = :seq, hash = :hash WHERE id = {HEAD_ID}",
)
_PG_WRITES = tuple(re.sub(r":(\w+)", r"%(\1)s", sql) for sql in _WRITES)  # psycopg's style


class IdempotencyConflict(InputError):
    """An idempotency key already names an entry with a different action, subject or payload."""


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

    @property
    def leaf(self) -> bytes:
        """The entry's RFC 6962 leaf hash (leaf index ``seq - 1``)."""
        return entry_leaf(vars(self))  # the hashed fields only: no copy of the payload

    def to_json(self) -> dict:
        """All fields as a JSON-ready dict."""
        return asdict(self)


def utc_timestamp(now: dt.datetime | None = None) -> str:
    """UTC ISO-8601 with microseconds, e.g. ``2026-01-02T03:04:05.123456Z``."""
    now = now or dt.datetime.now(dt.UTC)
    return now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_entry(row) -> LedgerEntry:
    try:
        payload = json.loads(row.payload)
    except ValueError:
        raise TamperDetected(f"ledger entry {row.seq}: payload is not valid JSON") from None
    entry = LedgerEntry(**{**row._mapping, "payload": payload})
    object.__setattr__(entry, "_stored_text", row.payload)  # not a field: not compared, not shown
    return entry


def stored_payload_text(entry: LedgerEntry) -> str | None:
    """The payload text of ``entry`` as read from the database (None when it was not read
    from it): its SHA-256 is the payload hash, with no re-encoding (what ``ledger verify``
    hashes too)."""
    return entry.__dict__.get("_stored_text")


_SELECT = f"SELECT {', '.join(_ENTRY_COLUMNS)} FROM {entries_table.name}"


def _query(conn: Connection, action, subject, after_seq: int | None, last: bool) -> list:
    """Rows (tuples in :data:`_ENTRY_COLUMNS` order) of the entries of ``action`` (one, or a
    tuple of them: one indexed ``IN``) and/or ``subject`` with ``seq > after_seq``, by seq
    (``last``: only the latest). The driver's own SQL on the connection's transaction: a
    Core select built per read cost its cache key and compiled lookup, more CPU than the
    indexed read itself (bench/bench_use_checks.py)."""
    m, where, params = param_mark(conn), [], []
    if after_seq is not None:
        where.append(f"seq > {m}")
        params.append(int(after_seq))
    if isinstance(action, tuple):
        if not action:  # no action named: nothing matches
            return []
        where.append(f"action IN ({', '.join([m] * len(action))})")
        params += [str(a) for a in action]
    elif action is not None:
        where.append(f"action = {m}")
        params.append(str(action))
    if subject is not None:
        where.append(f"subject = {m}")
        params.append(str(subject))
    sql = _SELECT + (f" WHERE {' AND '.join(where)}" if where else "")
    sql += " ORDER BY seq DESC LIMIT 1" if last else " ORDER BY seq"
    return driver_rows(conn, sql, tuple(params))


def _entry_of(values: tuple) -> LedgerEntry:
    """:func:`to_entry` of a row read as a tuple in :data:`_ENTRY_COLUMNS` order."""
    row = dict(zip(_ENTRY_COLUMNS, values, strict=True))
    text = row["payload"]
    try:
        row["payload"] = json.loads(text)
    except ValueError:
        raise TamperDetected(f"ledger entry {row['seq']}: payload is not valid JSON") from None
    entry = LedgerEntry(**row)
    object.__setattr__(entry, "_stored_text", text)  # as to_entry
    return entry


def select_entries(conn: Connection, action, subject, after_seq: int) -> list[LedgerEntry]:
    return [_entry_of(r) for r in _query(conn, action, subject, after_seq, last=False)]


def select_last(conn: Connection, action, subject) -> LedgerEntry | None:
    rows = _query(conn, action, subject, None, last=True)
    return _entry_of(rows[0]) if rows else None


class LedgerTransaction:
    """Reads and appends inside one serialised write transaction (:meth:`Ledger.transaction`).

    What a caller reads here cannot change before its appends commit: no other writer can
    append in between, so a decision taken on :meth:`last` or :meth:`entries` is
    compare-and-append.
    """

    def __init__(
        self,
        conn: Connection,
        head: tuple[int, str],
        payload_text: Callable[..., str],
        frontier: merkle.Frontier | None = None,
    ):
        self._conn, self._payload_text = conn, payload_text
        self._seq, self._hash = head
        self._frontier = frontier  # the tree's frontier at ``head``, when the caller knows it
        self._cursor = None  # the DBAPI cursor of the writes, opened by the first append

    def tree_state(self) -> tuple[tuple[int, str], merkle.Frontier | None]:
        """The head ``(seq, hash)`` after this transaction's appends and the tree's frontier
        there (None if nothing needed it)."""
        return (self._seq, self._hash), self._frontier

    @property
    def size(self) -> int:
        """Entries in the ledger, including this transaction's appends."""
        return self._seq

    def last(self, action: str | None = None, subject: str | None = None) -> LedgerEntry | None:
        """The most recent entry (of one action and/or subject), or None."""
        return select_last(self._conn, action, subject)

    def entries(
        self,
        action: str | tuple[str, ...] | None = None,
        subject: str | None = None,
        after_seq: int = 0,
    ) -> list[LedgerEntry]:
        """Entries with ``seq > after_seq``, optionally of one action (or a tuple of actions)
        and/or subject, by seq."""
        return select_entries(self._conn, action, subject, after_seq)

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
        """Append one entry (see :meth:`Ledger.append`); it commits with the transaction."""
        body = self._payload_text(payload, artifacts)
        payload_hash = sha256_bytes(body.encode("utf-8"))
        if idempotency_key is not None:
            existing = self._by_key(idempotency_key)
            if existing is not None:
                _check_replay(existing, action, subject, body, replay_ignores)
                return existing
        parsed = json.loads(body)  # one parse: the checks read it, the entry returns it
        self._refuse_unbound(str(action), str(actor), str(role), str(subject), parsed)
        seq, ts = self._seq + 1, utc_timestamp()
        fields = dict(
            seq=seq,
            ts=ts,
            actor=str(actor),
            role=str(role),
            action=str(action),
            subject=str(subject),
            payload_hash=payload_hash,
            prev_hash=self._hash,
            idempotency_key=idempotency_key,
        )
        data = entry_bytes(fields)  # encoded once: the chain hash and the tree leaf
        entry_hash = sha256_bytes(data)
        if self._frontier is None:
            self._frontier = frontier_of(self._conn, self._seq)
        frontier, done = self._frontier.append(merkle.leaf_hash(data))
        insert_entry, insert_node, move_head = self._writes()
        cur = self._cursor
        cur.execute(insert_entry, {"payload": body, "entry_hash": entry_hash, **fields})
        cur.executemany(insert_node, [{"level": lv, "idx": ix, "hash": h.hex()}
                                      for lv, ix, h in done])  # fmt: skip
        cur.execute(move_head, {"seq": seq, "hash": entry_hash})
        self._frontier, self._seq, self._hash = frontier, seq, entry_hash
        return LedgerEntry(payload=parsed, entry_hash=entry_hash, **fields)

    def _writes(self) -> tuple[str, str, str]:
        """The append's statements for this connection's driver, and its DBAPI cursor (in
        the transaction SQLAlchemy began: the writes commit or roll back with it)."""
        if self._cursor is None:
            self._cursor = self._conn.connection.cursor()
        return _PG_WRITES if self._conn.dialect.name == "postgresql" else _WRITES

    def _refuse_unbound(self, action: str, actor: str, role: str, subject: str, payload) -> None:
        """A signed entry that disagrees with its document, or whose signature or document
        id is already recorded, or an entry of a signed action that is not a valid signed act,
        is refused (governance/log/bound.py)."""
        problems = binding_problems(action, actor, role, subject, payload)
        problems = problems or admission_problems(self, action, actor, role, subject, payload)
        c = entries_table.c
        for token in replay_tokens(payload) if not problems else ():
            raw = token.split(":", 1)[1]
            row = self._conn.execute(
                sa.select(c.seq).where(
                    c.action == action, c.subject == subject, c.payload.contains(raw)
                )
            ).first()
            if row is not None:
                problems.append(f"its signed document is already recorded at seq {row.seq}")
                break
        if problems:
            raise TamperDetected(f"ledger: {action} by {actor} refused: " + "; ".join(problems))

    def _by_key(self, key: str) -> LedgerEntry | None:
        row = self._conn.execute(
            sa.select(entries_table).where(entries_table.c.idempotency_key == key)
        ).first()
        return None if row is None else to_entry(row)


def _check_replay(existing: LedgerEntry, action, subject, body: str, ignores) -> None:
    """Refuse a different entry under an existing idempotency key."""
    new = json.loads(body)
    same = (
        existing.action == action
        and existing.subject == subject
        and (
            ignores == ANY_PAYLOAD
            or {k: v for k, v in existing.payload.items() if k not in ignores}
            == {k: v for k, v in new.items() if k not in ignores}
        )
    )
    if not same:
        raise IdempotencyConflict(
            f"idempotency key {existing.idempotency_key!r}: already names entry {existing.seq}"
            f" ({existing.action}) with a different action, subject or payload"
        )
