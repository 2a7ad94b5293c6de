"""Integrity: the hash-chain rules of the ledger and the workspace-wide check registry.

The chain (pure functions, used by :mod:`governance.ledger` to append and to verify)::

    payload_hash = sha256(payload canonical JSON bytes)
    entry_hash   = sha256(canonical_json({seq, ts, actor, role, action, subject,
                                          payload_hash, prev_hash, idempotency_key}))
    prev_hash    = entry_hash of entry seq - 1, or GENESIS_HASH (64 zeros) for seq 1

:func:`verify_chain` walks stored rows in ``seq`` order and reports the first failure.

The registry: :func:`verify_workspace` runs :meth:`Ledger.verify` (chain, checkpoint,
artifacts) and then each callable in :data:`CHECKS`. Other governance modules add checks
with a one-liner at import time::

    from governance.integrity import register_check

    @register_check
    def approvals_signed(ws, ledger):  # -> VerifyReport | None (None = fine)
        ...

The modules named in :data:`CHECK_MODULES` are imported by :func:`verify_workspace` so that
their checks are registered even when nothing else imported them; a module that does not
exist (yet) is skipped.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from governance.artifacts import check_sha
from governance.canonical import sha256_bytes, sha256_json
from governance.errors import InputError, TamperDetected
from governance.workspace import Workspace

if TYPE_CHECKING:
    from governance.ledger import Ledger

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
    """

    ok: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str | None = None

    def to_json(self) -> dict:
        """Exactly ``{ok, entries, first_bad_seq, reason}`` (the CLI contract)."""
        return {
            "ok": self.ok,
            "entries": self.entries,
            "first_bad_seq": self.first_bad_seq,
            "reason": self.reason,
        }


def compute_entry_hash(fields: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of an entry's :data:`HASHED_FIELDS` (payload by hash).

    ``fields`` may hold more keys (a database row mapping); only the hashed ones count.
    """
    return sha256_json({name: fields[name] for name in HASHED_FIELDS})


ArtifactCheck = Callable[[str], str | None]


def verify_chain(
    rows: Iterable[Mapping[str, Any]],
    head: tuple[int, str] | None,
    artifact_check: ArtifactCheck,
) -> VerifyReport:
    """Check stored rows against their hashes, their links and the head checkpoint.

    Parameters
    ----------
    rows : iterable of mappings
        The ``ledger_entries`` columns, ``payload`` as stored text, ascending ``seq``.
    head : (seq, hash) or None
        The ``ledger_head`` checkpoint; None when its row is missing.
    artifact_check : callable
        ``sha -> None`` when the artifact is intact, else a short problem description.

    Returns
    -------
    VerifyReport
        The first failure in sequence order (entry checks, then the checkpoint);
        ``entries`` counts every row.
    """
    expected, prev, count = 1, GENESIS_HASH, 0
    bad: tuple[int, str] | None = None
    for row in rows:
        count += 1
        if bad is None:
            bad = _entry_problem(row, expected, prev, artifact_check)
            expected, prev = expected + 1, row["entry_hash"]
    if bad is None:
        bad = _head_problem(head, expected - 1, prev)
    if bad is None:
        return VerifyReport(ok=True, entries=count)
    return VerifyReport(ok=False, entries=count, first_bad_seq=bad[0], reason=bad[1])


def _entry_problem(
    row: Mapping[str, Any], expected: int, prev: str, artifact_check: ArtifactCheck
) -> tuple[int, str] | None:
    seq = row["seq"]
    if seq != expected:
        if seq > expected:
            gone = f"{expected}" if seq == expected + 1 else f"{expected}..{seq - 1}"
            return expected, f"entry missing (seq {gone} deleted; next stored is {seq})"
        return expected, f"unexpected sequence number {seq}"
    if sha256_bytes(row["payload"].encode("utf-8")) != row["payload_hash"]:
        return seq, "payload does not match payload_hash (payload edited)"
    if compute_entry_hash(row) != row["entry_hash"]:
        return seq, (
            "entry_hash does not match the entry's fields (seq, ts, actor, role, action, "
            "subject, payload_hash, prev_hash or idempotency_key edited, or entries swapped)"
        )
    if row["prev_hash"] != prev:
        return seq, f"prev_hash does not link to entry {seq - 1} (entries reordered or rewritten)"
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


def _head_problem(
    head: tuple[int, str] | None, last_seq: int, last_hash: str
) -> tuple[int, str] | None:
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


# ------------------------------------------------------------------------------------
# Workspace-wide checks
# ------------------------------------------------------------------------------------

Check = Callable[[Workspace, "Ledger"], VerifyReport | None]

#: Extra checks, run in registration order after the ledger chain verifies.
CHECKS: list[Check] = []

#: Modules whose import registers checks (signatures on approvals, MLflow registry drift).
CHECK_MODULES: tuple[str, ...] = (
    "governance.approvals",
    "governance.registry",
    "governance.findings_accept",
)


def register_check(fn: Check) -> Check:
    """Add ``fn`` to :data:`CHECKS` (once); usable as a decorator."""
    if fn not in CHECKS:
        CHECKS.append(fn)
    return fn


def load_check_modules(names: tuple[str, ...] = CHECK_MODULES) -> list[str]:
    """Import the modules that register checks; return those that exist.

    Only the absence of the module itself is tolerated: an ImportError raised *inside* an
    existing module is a bug and propagates.
    """
    loaded = []
    for name in names:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        loaded.append(name)
    return loaded


def verify_workspace(ws: Workspace, ledger: Ledger | None = None) -> VerifyReport:
    """Verify the ledger of ``ws``, then every registered check; first failure wins.

    Parameters
    ----------
    ws : Workspace
    ledger : Ledger, optional
        An open ledger of ``ws``; opened (and closed) here when omitted.

    Returns
    -------
    VerifyReport
        The ledger's report when it fails, else the first failing check's report, else the
        ledger's (passing) report. A check raising :class:`TamperDetected` fails closed.
    """
    from governance.ledger import Ledger

    own = ledger is None
    ledger = ledger or Ledger.open(ws)
    try:
        report = ledger.verify()
        if not report.ok:
            return report
        load_check_modules()
        for check in list(CHECKS):
            try:
                extra = check(ws, ledger)
            except TamperDetected as exc:
                extra = VerifyReport(False, report.entries, None, "; ".join(exc.reasons))
            if extra is not None and not extra.ok:
                return extra
        return report
    finally:
        if own:
            ledger.dispose()
