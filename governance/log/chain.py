"""The ledger's entry encoding: hash-chain rules and the Merkle leaf of each entry (pure).

Each entry is encoded once, as the RFC 8785 canonical JSON of its :data:`HASHED_FIELDS`
(the payload by its hash), and both integrity mechanisms hash those bytes::

    entry bytes  = canonical_json({seq, ts, actor, role, action, subject,
                                   payload_hash, prev_hash, idempotency_key})
    payload_hash = sha256(payload canonical JSON bytes)
    entry_hash   = sha256(entry bytes)              (the chain: prev_hash links to it)
    leaf hash    = sha256(0x00 || entry bytes)      (RFC 6962 leaf of the Merkle tree)

The Merkle tree (:mod:`governance.log.merkle`) owns integrity: signed checkpoints commit to its
root and witnesses hold them. The chain is kept as the entry encoding: ``prev_hash`` makes a
single edited, deleted or reordered row show at its own sequence number without any proof.

:func:`verify_chain` walks stored rows in ``seq`` order and reports the first failure; it
also returns the leaf hashes so the caller can rebuild the tree in the same pass.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from governance.ground.artifacts import check_sha
from governance.ground.canonical import canonical_json, plain_bytes, sha256_bytes
from governance.ground.errors import InputError
from governance.log.merkle import leaf_hash

_SAFE_INT = 2**53

#: prev_hash of the first entry.
GENESIS_HASH = "0" * 64

#: The fields an entry hash covers, in the canonical JSON object it hashes.
HASHED_FIELDS = (
    "seq",
    "ts",
    "actor",
    "role",
    "action",
    "subject",
    "payload_hash",
    "prev_hash",
    "idempotency_key",
)


@dataclass(frozen=True)
class VerifyReport:
    """Outcome of an integrity check.

    Attributes
    ----------
    ok : bool
        True when nothing failed.
    entries : int
        Number of entries in the ledger.
    first_bad_seq : int or None
        Sequence number of the first entry that failed (``last_seq + 1`` for a truncated
        tail); None when ``ok`` or when the failure concerns no single entry.
    reason : str or None
        What failed, one line; None when ``ok``.
    extra : dict
        More fields for ``--json`` (tree size and root, witnesses checked, mode).
    """

    ok: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str | None = None
    extra: dict = field(default_factory=dict, compare=False)

    def to_json(self) -> dict:
        """``{ok, entries, first_bad_seq, reason}`` (the CLI contract) and the extra fields."""
        return {
            **self.extra,
            "ok": self.ok,
            "entries": self.entries,
            "first_bad_seq": self.first_bad_seq,
            "reason": self.reason,
        }


def entry_bytes(fields: Mapping[str, Any]) -> bytes:
    """RFC 8785 canonical JSON of an entry's :data:`HASHED_FIELDS`; extra keys are ignored.

    The hashed fields are strings, integers and null under ASCII keys, for which
    ``json.dumps(sort_keys=True, ensure_ascii=False)`` writes exactly the RFC 8785 bytes
    (same escapes, same key order; tests/test_canonical.py checks it against ``rfc8785``).
    It is ten times faster, which is what lets ``ledger verify`` re-hash a million entries
    in seconds. Anything else (a float, a lone surrogate) takes the general encoder.
    """
    obj = {name: fields[name] for name in HASHED_FIELDS}
    if all(
        v is None or type(v) is str or (type(v) is int and abs(v) < _SAFE_INT) for v in obj.values()
    ):
        out = plain_bytes(obj)
        if out is not None:
            return out
    return canonical_json(obj)


def compute_entry_hash(fields: Mapping[str, Any]) -> str:
    """Hex SHA-256 of :func:`entry_bytes` (the chain hash)."""
    return sha256_bytes(entry_bytes(fields))


def entry_leaf(fields: Mapping[str, Any]) -> bytes:
    """RFC 6962 leaf hash of an entry: ``SHA-256(0x00 || entry bytes)``."""
    return leaf_hash(entry_bytes(fields))


ArtifactCheck = Callable[[str], str | None]


@dataclass(frozen=True)
class ChainWalk:
    """What :func:`verify_chain` found: the first problem and every intact entry's leaf."""

    count: int
    bad: tuple[int, str] | None
    leaves: list[bytes]
    last_seq: int
    last_hash: str


def walk_chain(
    rows: Iterable[Mapping[str, Any]],
    artifact_check: ArtifactCheck | None,
    *,
    start_seq: int = 1,
    prev: str = GENESIS_HASH,
) -> ChainWalk:
    """Check rows (ascending ``seq`` from ``start_seq``) and collect their leaf hashes.

    Leaves are collected up to the first bad entry (exclusive); ``count`` counts every row.
    ``artifact_check`` None skips artifact checks.
    """
    expected, count, leaves = start_seq, 0, []
    bad: tuple[int, str] | None = None
    for row in rows:
        count += 1
        if bad is None:
            data = entry_bytes(row)
            bad = _entry_problem(row, data, expected, prev, artifact_check)
            if bad is None:
                leaves.append(leaf_hash(data))
            expected, prev = expected + 1, row["entry_hash"]
    return ChainWalk(count, bad, leaves, expected - 1, prev)


def verify_chain(
    rows: Iterable[Mapping[str, Any]],
    head: tuple[int, str] | None,
    artifact_check: ArtifactCheck,
) -> VerifyReport:
    """Check stored rows against their hashes, their links and the head row.

    Parameters
    ----------
    rows : iterable of mappings
        The ``ledger_entries`` columns, ``payload`` as stored text, ascending ``seq``.
    head : (seq, hash) or None
        The ``ledger_head`` row; None when it is missing.
    artifact_check : callable
        ``sha -> None`` when the artifact is intact, else a short problem description.
    """
    walk = walk_chain(rows, artifact_check)
    bad = walk.bad or head_problem(head, walk.last_seq, walk.last_hash)
    if bad is None:
        return VerifyReport(ok=True, entries=walk.count)
    return VerifyReport(ok=False, entries=walk.count, first_bad_seq=bad[0], reason=bad[1])


def _entry_problem(
    row: Mapping[str, Any],
    data: bytes,
    expected: int,
    prev: str,
    artifact_check: ArtifactCheck | None,
) -> tuple[int, str] | None:
    seq = row["seq"]
    if seq != expected:
        if seq > expected:
            gone = f"{expected}" if seq == expected + 1 else f"{expected}..{seq - 1}"
            return expected, f"entry missing (seq {gone} deleted; next stored is {seq})"
        return expected, f"unexpected sequence number {seq}"
    if sha256_bytes(row["payload"].encode("utf-8")) != row["payload_hash"]:
        return seq, "payload does not match payload_hash (payload edited)"
    if sha256_bytes(data) != row["entry_hash"]:
        return seq, (
            "entry_hash does not match the entry's fields (seq, ts, actor, role, action, "
            "subject, payload_hash, prev_hash or idempotency_key edited, or entries swapped)"
        )
    if row["prev_hash"] != prev:
        return seq, f"prev_hash does not link to entry {seq - 1} (entries reordered or rewritten)"
    if artifact_check is None or '"artifacts"' not in row["payload"]:
        return None
    try:
        problem = _artifact_problem(json.loads(row["payload"]), artifact_check)
    except ValueError:
        problem = "payload is not valid JSON"
    return (seq, problem) if problem else None


def _artifact_problem(payload: Any, check: ArtifactCheck) -> str | None:
    """First problem with the artifacts a stored payload names, or None."""
    if not isinstance(payload, dict):
        return "payload is not a JSON object"
    arts = payload.get("artifacts")
    if arts is None:
        return None
    if not isinstance(arts, dict):
        return "payload field 'artifacts' is not a mapping of name to SHA-256"
    for name, sha in sorted(arts.items()):
        try:
            check_sha(sha)
        except InputError:
            return f"artifact {name!r}: recorded hash {sha!r} is not a SHA-256"
        problem = check(sha)
        if problem:
            return f"artifact {name!r} ({sha[:12]}): {problem}"
    return None


def head_problem(
    head: tuple[int, str] | None, last_seq: int, last_hash: str
) -> tuple[int, str] | None:
    """The head row against the last stored entry, or None when they agree."""
    if head is None:
        return last_seq + 1, "head checkpoint missing (truncation cannot be ruled out)"
    head_seq, head_hash = head
    if head_seq > last_seq:
        return (
            last_seq + 1,
            f"ledger truncated: head checkpoint is at seq {head_seq}, last entry is {last_seq}",
        )
    if head_seq < last_seq:
        return head_seq + 1, f"entry appended behind the head checkpoint (seq {head_seq})"
    if head_hash != last_hash:
        return max(last_seq, 1), "head checkpoint hash does not match the last entry"
    return None
