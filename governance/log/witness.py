"""Witnesses: stores of the ledger's signed checkpoints that its writer cannot reach.

A witness holds, per log origin, the latest checkpoint it cosigned and the log's pinned
public key. It accepts a new checkpoint only when (c2sp.org/tlog-witness):

- it is signed by the pinned log key (pinned on the first checkpoint);
- the proof starts from the size the witness holds (else :class:`WitnessMoved`: retry);
- an RFC 9162 consistency proof shows the new tree extends the held one: never a smaller
  tree, never a different root at the same size, never a fork (else :class:`WitnessRefused`).

It then cosigns (tlog-cosignature/v1) and keeps the cosigned note and a history line.

Local kinds (:func:`governance.log.remote.witnesses_from_env` reads ``ALPHAGATE_WITNESS``;
a witness service over HTTP is :class:`governance.log.remote.HttpWitness`):

``dir:PATH`` or ``PATH``  a directory (``<origin>/checkpoint``, ``log.pub``, ``history``)
``git:PATH``              a git repository, one commit per checkpoint (git CLI)
``sqlite:///F``, ``postgresql+psycopg://...``  a second database (``witness_*`` tables)

The production choice is a bucket with S3 Object Lock in compliance mode (docs/governance.md):
objects that nobody, root included, can overwrite or delete before their retention ends.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from governance.ground.canonical import sha256_bytes
from governance.ground.errors import InputError, TamperDetected
from governance.ground.files import kept_unless_changed, write_atomic
from governance.log.checkpoint import (
    NoteKey,
    SignedNote,
    load_or_create_key,
    origin_slug,
    state_dir,
)
from governance.log.db import make_engine, redacted
from governance.log.merkle import ProofError, verify_consistency


class WitnessRefused(TamperDetected):
    """A witness refused a checkpoint: smaller tree, fork, bad proof or wrong log key."""


class BadLogSignature(WitnessRefused):
    """No signature on the checkpoint verifies with a log key the witness trusts (HTTP 403)."""


class BadProof(WitnessRefused):
    """The consistency proof does not connect the held tree to the new one (HTTP 422)."""


class BadRequest(WitnessRefused):
    """The old size is bigger than the checkpoint's (HTTP 400)."""


class Forked(WitnessRefused):
    """Same size as the held checkpoint, different root (HTTP 409 with the held size)."""

    def __init__(self, message: str, size: int):
        super().__init__(message)
        self.size = size


class WitnessMoved(Exception):
    """The witness holds a different size than the proof starts from (HTTP 409): retry from
    ``size`` (``args[0]``)."""

    def __init__(self, size: int):
        super().__init__(size)
        self.size = size


@dataclass(frozen=True)
class Held:
    """What a witness holds for one origin: the cosigned note and the pinned log key."""

    note: SignedNote
    log_public: bytes


class Witness:
    """Common acceptance logic; subclasses store (:meth:`_load`, :meth:`_store`, :meth:`_lock`)."""

    kind = "witness"
    #: A local witness pins the log key on the first checkpoint; a service trusts the log
    #: keys its operator configured instead (several per origin during a rotation).
    pins_log_key = True

    def __init__(self, location: str, key: NoteKey | None = None):
        self.location = location
        self._own_key = key
        self.name = (
            key.name
            if key is not None
            else f"alphagate-witness/{self.kind}/{sha256_bytes(location.encode())[:12]}"
        )

    @property
    def label(self) -> str:
        """How messages name this witness."""
        return f"{self.kind}:{self.location}"

    @property
    def key(self) -> NoteKey:
        if self._own_key is not None:
            return self._own_key
        return load_or_create_key(self._key_path(), self.name)

    def latest(self, origin: str) -> Held | None:
        """The checkpoint held for ``origin`` (None before the first)."""
        return self._load(origin)

    def add(self, note: SignedNote, old_size: int, proof: Sequence[bytes], log_public: bytes):
        """Check ``note`` against the held checkpoint, cosign and store it; return the note.

        The rules of c2sp.org/tlog-witness, in its order: old size not above the new size,
        a valid log signature, old size equal to the size held, a consistency proof from
        the held tree (equal sizes: equal roots). Checking and storing are one locked step.

        Raises
        ------
        BadRequest, BadLogSignature, BadProof (:class:`WitnessRefused`)
            Old size above the checkpoint's; wrong log key or signature; invalid proof.
        Forked (a :class:`WitnessRefused`)
            The size held, with a different root.
        WitnessMoved
            ``old_size`` is not the size held (another checkpoint landed first).
        """
        cp = note.checkpoint
        if old_size > cp.size:
            raise BadRequest(
                f"witness {self.label}: old size {old_size} above the checkpoint's {cp.size}"
                " (the tree shrank)"
            )
        if not note.verify(cp.origin, log_public):
            raise BadLogSignature(f"witness {self.label}: checkpoint not signed by the log key")
        with self._lock(cp.origin):
            held = self._load(cp.origin)
            if held is not None and self.pins_log_key and held.log_public != log_public:
                raise BadLogSignature(
                    f"witness {self.label}: checkpoint signed by a different log key than"
                    " the one it pinned"
                )
            held_size = 0 if held is None else held.note.checkpoint.size
            if old_size != held_size:
                raise WitnessMoved(held_size)
            if held is not None:
                prev = held.note.checkpoint
                if cp.size == prev.size:
                    if cp.root != prev.root:
                        raise Forked(
                            f"witness {self.label} refused a checkpoint of {cp.size} entries: two"
                            f" different roots for size {cp.size} (a fork; it holds"
                            f" {describe(self, held)})",
                            held_size,
                        )
                    return held.note
                try:
                    verify_consistency(prev.size, prev.root, cp.size, cp.root, proof)
                except ProofError as exc:
                    raise BadProof(
                        f"witness {self.label} refused a checkpoint of {cp.size} entries: {exc}"
                        f" (it holds {prev.size}, signed at {_when(self, held)})"
                    ) from None
            me = self.key
            cosigned = note.with_line(me.cosign(note.body, int(time.time())))
            self._store(cp.origin, cosigned, log_public)
        return cosigned

    def cosigned_at(self, held: Held) -> int | None:
        """UNIX time of this witness's valid cosignature on ``held``, else None."""
        return held.note.cosigned_at(self.name, self.key.public)

    # -- storage, per kind ------------------------------------------------------------

    def _key_path(self) -> Path:
        raise NotImplementedError

    def _load(self, origin: str) -> Held | None:
        raise NotImplementedError

    def _store(self, origin: str, note: SignedNote, log_public: bytes) -> None:
        raise NotImplementedError

    @contextmanager
    def _lock(self, origin: str) -> Iterator[None]:
        raise NotImplementedError


def _when(witness: Witness, held: Held) -> str:
    ts = witness.cosigned_at(held)
    if ts is None:
        return "an unverifiable time (cosignature invalid)"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def describe(witness: Witness, held: Held) -> str:
    """``"a checkpoint of N entries signed at T"`` for messages."""
    return f"a checkpoint of {held.note.checkpoint.size} entries signed at {_when(witness, held)}"


class DirectoryWitness(Witness):
    """Checkpoints in a directory: ``<origin>/checkpoint``, ``log.pub``, ``history``."""

    kind = "dir"

    def __init__(self, location: str):
        super().__init__(str(Path(location).expanduser().resolve()))
        self.root = Path(self.location)

    def _key_path(self) -> Path:
        return self.root / "witness.key"

    def _folder(self, origin: str) -> Path:
        return self.root / origin_slug(origin)

    def _load(self, origin: str) -> Held | None:
        folder = self._folder(origin)  # parsed again only when a file changed on disk
        return kept_unless_changed((folder / "checkpoint", folder / "log.pub"), self._read)

    def _read(self, checkpoint: Path, pub: Path) -> Held | None:
        try:
            text = checkpoint.read_text(encoding="utf-8")
            public = bytes.fromhex(pub.read_text().strip())
        except FileNotFoundError:
            return None
        except ValueError:
            raise TamperDetected(f"witness {self.label}: log.pub is not a hex key") from None
        return Held(SignedNote.parse(text), public)

    def _store(self, origin: str, note: SignedNote, log_public: bytes) -> None:
        folder = self._folder(origin)
        if not (folder / "log.pub").exists():  # pinned once; add() refuses any other key
            write_atomic(folder / "log.pub", log_public.hex() + "\n")
        cp = note.checkpoint
        # a history line per checkpoint (for people), then its one durable write (fsync)
        with open(folder / "history", "a", encoding="utf-8") as fh:
            fh.write(f"{int(time.time())} {cp.size} {cp.root.hex()}\n")
        write_atomic(folder / "checkpoint", note.text())

    @contextmanager
    def _lock(self, origin: str) -> Iterator[None]:
        folder = self._folder(origin)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


class GitWitness(DirectoryWitness):
    """A directory witness inside a git repository: one commit per checkpoint.

    The witness key lives in ``.git/`` (never committed). Push the repository to a remote
    with protected branches for the history to leave this machine.
    """

    kind = "git"

    def _key_path(self) -> Path:
        return self.root / ".git" / "alphagate-witness.key"

    def _git(self, *args: str) -> None:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
        cmd = ["git", "-C", str(self.root), "-c", "user.name=alphagate witness",
               "-c", "user.email=witness@alphagate.invalid", "-c", "commit.gpgsign=false", *args]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            raise InputError(f"witness {self.label}: git {args[0]} failed: {done.stderr.strip()}")

    @contextmanager
    def _lock(self, origin: str) -> Iterator[None]:
        if not (self.root / ".git").is_dir():
            self.root.mkdir(parents=True, exist_ok=True)
            self._git("init", "-q")
        with super()._lock(origin):
            yield

    def _store(self, origin: str, note: SignedNote, log_public: bytes) -> None:
        super()._store(origin, note, log_public)
        slug = origin_slug(origin)
        self._git("add", "--", f"{slug}/checkpoint", f"{slug}/log.pub", f"{slug}/history")
        self._git("commit", "-q", "-m", f"checkpoint {origin} {note.checkpoint.size}")


_SQL = sa.MetaData()
_state = sa.Table(
    "witness_state",
    _SQL,
    sa.Column("origin", sa.Text, primary_key=True),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("log_public", sa.String(64), nullable=False),
)
_history = sa.Table(
    "witness_history",
    _SQL,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("origin", sa.Text, nullable=False, index=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
)


class SqlWitness(Witness):
    """Checkpoints in a second database (SQLite file or PostgreSQL), rows locked per update.
    Its key file lives beside the state directory (``witness-keys/``), not in the database."""

    kind = "sql"

    def __init__(self, location: str, key: NoteKey | None = None):
        super().__init__(redacted(location), key)
        self._url = location
        self._engine = None
        self._raw = self._conn = self._locked = None  # _raw: its own DBAPI connection, kept

    @property
    def engine(self):
        if self._engine is None:
            self._engine = make_engine(self._url)
            with self._engine.begin() as conn:
                _SQL.create_all(conn)
        return self._engine

    def _key_path(self) -> Path:
        return state_dir() / "witness-keys" / f"{origin_slug(self.name)}.key"

    def _load(self, origin: str) -> Held | None:
        if self._conn is not None:  # inside _lock: the row it read and locked
            row = self._locked
        else:
            with self.engine.connect() as c:
                row = c.execution_options(ledger_read=True).execute(_HELD, {"o": origin}).first()
        if row is None:
            return None
        return Held(SignedNote.parse(row[0]), bytes.fromhex(row[1]))

    @contextmanager
    def _lock(self, origin: str) -> Iterator[None]:
        """One transaction (SQLite ``BEGIN IMMEDIATE``, PostgreSQL a row lock) on the witness's
        own connection, through its driver (SQLAlchemy's work per statement cost more CPU
        than SQLite's, bench/bench_witness.py); one whose rollback fails is dropped."""
        raw, self._raw = self._raw or self.engine.raw_connection(), None
        sql = _DRIVER_SQL[raw.dbapi_connection.__class__.__module__.startswith("sqlite3")]
        cur = raw.cursor()
        try:
            if sql["begin"]:
                cur.execute(sql["begin"])
            cur.execute(sql["held"], (origin,))
            self._locked, self._conn = cur.fetchone(), (cur, sql)
            yield
            raw.commit()
        except BaseException:
            try:
                raw.rollback()
                self._raw = raw
            except Exception:
                raw.invalidate()
            raise
        finally:
            self._conn = self._locked = None
        self._raw = raw

    def _store(self, origin: str, note: SignedNote, log_public: bytes) -> None:
        cur, sql = self._conn
        text = note.text()
        cur.execute(sql["update"], (text, log_public.hex(), origin))
        if cur.rowcount == 0:
            cur.execute(sql["insert"], (origin, text, log_public.hex()))
        cur.execute(sql["history"], (origin, note.checkpoint.size, text))


_HELD = sa.text("SELECT note, log_public FROM witness_state WHERE origin = :o")


def _driver_sql(lite: bool) -> dict[str, str]:
    """A checkpoint's statements in the driver's own parameter style (sqlite3's or psycopg's)."""
    p, lock = ("?", "") if lite else ("%s", " FOR UPDATE")
    return {
        "begin": "BEGIN IMMEDIATE" if lite else "",  # psycopg begins on the first statement
        "held": f"SELECT note, log_public FROM witness_state WHERE origin = {p}{lock}",
        "update": f"UPDATE witness_state SET note = {p}, log_public = {p} WHERE origin = {p}",
        "insert": f"INSERT INTO witness_state (origin, note, log_public) VALUES ({p}, {p}, {p})",
        "history": f"INSERT INTO witness_history (origin, size, note) VALUES ({p}, {p}, {p})",
    }


_DRIVER_SQL = {True: _driver_sql(True), False: _driver_sql(False)}
