"""Verification of one ledger: entries, head row, stored Merkle tree, artifacts.

:func:`verify_ledger` streams the entries once (:func:`governance.log.chain.walk_chain`), rebuilds
the Merkle tree from their leaves and compares it with the stored tree, and can report the
recomputed root at any sizes the caller names (the sizes of witnessed checkpoints), so that
:mod:`governance.audit.integrity` checks each witness against the entries themselves.

Incremental (``since=(size, root)`` of a checkpoint verified before): the stored frontier at
that size must fold to that root, and only the entries after it are re-hashed.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

import sqlalchemy as sa

from governance.ground.errors import TamperDetected
from governance.log import merkle
from governance.log.chain import GENESIS_HASH, VerifyReport, head_problem, walk_chain
from governance.log.db import entries_table, frontier_of, head_table


@dataclass(frozen=True)
class TreeCheck:
    """Outcome of :func:`verify_ledger`.

    ``roots`` maps each asked size that the verified entries reach to the root recomputed
    from them; ``size``/``root`` describe the whole verified tree.
    """

    report: VerifyReport
    size: int
    root: bytes
    roots: dict[int, bytes] = field(default_factory=dict)
    start: int = 0


def verify_ledger(
    ledger,
    sizes: Collection[int] = (),
    since: tuple[int, bytes] | None = None,
    *,
    check_artifacts: bool = True,
) -> TreeCheck:
    """Check a :class:`~governance.log.ledger.Ledger` (see the module docstring)."""
    cache: dict[str, str | None] = {}

    def artifact_check(sha: str) -> str | None:
        if sha not in cache:
            if not ledger.store.exists(sha):
                cache[sha] = "file missing from the artifact store"
            elif not ledger.store.verify(sha):
                cache[sha] = "file altered (content no longer matches its hash)"
            else:
                cache[sha] = None
        return cache[sha]

    wanted = set(sizes)
    with ledger.snapshot() as conn:
        head_row = conn.execute(sa.select(head_table.c.seq, head_table.c.hash)).first()
        head = None if head_row is None else (int(head_row.seq), str(head_row.hash))
        start, prev, frontier = 0, GENESIS_HASH, merkle.Frontier()
        if since is not None and since[0] > 0 and head is not None and head[0] >= since[0]:
            start = since[0]
            try:
                frontier = frontier_of(conn, start)
            except TamperDetected as exc:
                return _failed(start, exc.reasons[0], start)
            if frontier.root() != since[1]:
                return _failed(
                    start, f"stored tree at size {start} no longer has the verified root", start
                )
            last = conn.execute(
                sa.select(entries_table.c.entry_hash).where(entries_table.c.seq == start)
            ).first()
            if last is None:
                return _failed(start, f"entry {start} (verified before) is missing", start)
            prev = last.entry_hash
        stmt = (
            sa.select(entries_table)
            .where(entries_table.c.seq > start)
            .order_by(entries_table.c.seq)
        )
        rows = (r._mapping for r in conn.execution_options(yield_per=5000).execute(stmt))
        walk = walk_chain(
            rows, artifact_check if check_artifacts else None, start_seq=start + 1, prev=prev
        )
        roots = {}
        if start in wanted:
            roots[start] = frontier.root()
        for leaf in walk.leaves:
            frontier, _ = frontier.append(leaf)
            if frontier.size in wanted:
                roots[frontier.size] = frontier.root()
        count = start + walk.count
        bad = walk.bad or head_problem(head, walk.last_seq, walk.last_hash)
        if bad is None:
            try:
                stored = frontier_of(conn, frontier.size).root()
            except TamperDetected as exc:
                stored, bad = None, (frontier.size, exc.reasons[0])
            if bad is None and stored != frontier.root():
                bad = (None, "stored Merkle tree does not match the entries (tree rewritten)")
    root = frontier.root()
    if bad is None:
        report = VerifyReport(ok=True, entries=count)
    else:
        report = VerifyReport(False, count, bad[0], bad[1])
    return TreeCheck(report, frontier.size, root, roots, start)


def _failed(seq: int | None, reason: str, count: int) -> TreeCheck:
    return TreeCheck(VerifyReport(False, count, seq, reason), 0, merkle.EMPTY_ROOT)
