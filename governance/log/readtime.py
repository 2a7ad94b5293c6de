"""What a decision reads is verified when it is read (issue 22, DESIGN.md's third rule).

A full or incremental ``ledger verify`` re-hashes entries once; a row edited in place *after*
that (a trip's payload, a rejection's signer) would otherwise be read as it now stands.
:class:`VerifiedReader` wraps a ledger for one decision: every entry it hands out
(:meth:`entries`, :meth:`last`, :meth:`tail`, ..., and the reads of its
:meth:`~VerifiedReader.transaction`) is checked as it is read:

- its payload hash (over the stored text) and entry hash are recomputed from its fields;
- its leaf is proven, by an RFC 9162 inclusion proof (O(log n) stored nodes), to be in the
  tree whose root the trusted checkpoint names (:func:`trusted_head`). The stored nodes are
  not trusted: a proof built from rewritten nodes does not reach the trusted root.

An entry appended after the trusted checkpoint (within the current command) gets the first
check only. A failure raises :class:`~governance.ground.errors.TamperDetected` naming the
seq: the decision fails closed (exit 3). Every deciding command opens its ledger with
:func:`verified_ledger`, which also records the refusal (``integrity.refused``).

What is kept between reads is never a verified *prefix*: the proofs' nodes and the leaves
proven under the trusted head (:class:`_Proofs`); each read re-hashes its row, and only a
leaf equal to a proven one skips its proof.

:func:`trusted_head` is the one place that says which checkpoint a decision trusts: today
the last fully verified tree head kept outside the workspace
(:func:`governance.log.transparency.load_verified`); a checkpoint cosigned by a quorum of the
adopted policy's witnesses slots in here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from governance.ground.canonical import canonical_json, sha256_bytes
from governance.ground.errors import Gate, TamperDetected
from governance.ground.vocabulary import Action, Subject
from governance.log import merkle
from governance.log.chain import compute_entry_hash
from governance.log.checkpoint import origin_of
from governance.log.db import nodes_of
from governance.log.transparency import load_verified
from governance.log.txn import stored_payload_text


def trusted_head(ledger) -> tuple[int, bytes] | None:
    """``(size, root)`` of the checkpoint decisions trust, or None before any."""
    return load_verified(origin_of(ledger.url))


def entry_problem(entry) -> str | None:
    """Why ``entry``'s stored hashes do not match its stored fields, or None."""
    text = stored_payload_text(entry)
    data = text.encode("utf-8") if text is not None else canonical_json(entry.payload)
    if sha256_bytes(data) != entry.payload_hash:
        return "its payload no longer matches its payload hash (edited in place)"
    fields = {**entry.__dict__, "payload": None}
    if compute_entry_hash(fields) != entry.entry_hash:
        return "its fields no longer match its entry hash (edited in place)"
    return None


#: ``{ledger url: ((size, root), nodes, proven leaves)}``: what the process has proven under
#: the trusted head it last used (dropped when that head moves). A node here was on the path
#: of a proof that reached the trusted root; a ``(seq, leaf)`` here was proven under it.
_PROVEN: dict[str, tuple[tuple[int, bytes], dict, set]] = {}


def forget() -> None:
    """Drop the process's proofs (a fresh process's first decision; for benchmarks)."""
    _PROVEN.clear()


class _Proofs:
    """What decisions have proven: the trusted head (read when first needed, so after the
    command's own incremental check), the stored nodes on the paths of proofs that reached
    its root, and the leaves proven under it, shared by the process while the head stands.

    Sound because nothing here is believed about a row: every read re-hashes the row, and
    only a leaf equal to one proven under the trusted root skips its proof; a node is used
    only inside a proof that is checked against the root again."""

    def __init__(self, ledger, head: tuple[int, bytes] | None):
        self.ledger, self._head, self._loaded = ledger, head, False
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.proven: set[tuple[int, bytes]] = set()

    @property
    def head(self) -> tuple[int, bytes] | None:
        if not self._loaded:
            self._loaded = True
            self._head = self._head if self._head is not None else trusted_head(self.ledger)
            url = getattr(self.ledger, "url", None)
            if self._head is not None and url is not None:
                held = _PROVEN.get(url)
                if held is None or held[0] != self._head:
                    held = _PROVEN[url] = (self._head, {}, set())
                _, self.nodes, self.proven = held
        return self._head


class VerifiedReader:
    """A ledger whose reads are verified when read (see the module docstring).

    Everything else (``head``, ``store``, ``append`` ...) is the wrapped ledger's;
    :meth:`transaction` yields a transaction whose reads are verified too. Every entry is
    re-hashed from its fields at every read; what one reader remembers is only which leaves
    it has proven under the trusted root (an entry whose leaf is unchanged needs no second
    proof) and the stored nodes those proofs used.
    """

    def __init__(
        self, ledger, head: tuple[int, bytes] | None = None, *, memo: bool = False, _proofs=None
    ):
        self._ledger = ledger
        self._proofs = _proofs or _Proofs(ledger, head)
        # ``memo``: a decision that only reads (drive_decision) reads each query once
        self._memo: dict[tuple, list] | None = {} if memo else None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ledger, name)

    def __reduce__(self):  # to a worker process: the ledger re-opened there, proofs anew
        return (VerifiedReader, (self._ledger,))

    def __enter__(self) -> VerifiedReader:
        return self

    def __exit__(self, *exc) -> None:
        self._ledger.dispose()

    @property
    def unwrapped(self):
        """The wrapped ledger (or transaction)."""
        return self._ledger

    @contextmanager
    def transaction(self) -> Iterator[VerifiedReader]:
        """The wrapped ledger's write transaction, its reads verified as this reader's."""
        with self._ledger.transaction() as tx:
            yield VerifiedReader(tx, _proofs=self._proofs)

    def entries(self, action=None, subject=None, after_seq: int = 0) -> list:
        key = (action, subject, after_seq)
        if self._memo is not None and key in self._memo:
            return list(self._memo[key])
        found = self._checked(self._ledger.entries(action, subject, after_seq))
        if self._memo is not None:
            self._memo[key] = list(found)
        return found

    def last(self, action=None, subject=None):
        found = self._ledger.last(action, subject)
        return None if found is None else self._checked([found])[0]

    def tail(self, n: int) -> list:
        return self._checked(self._ledger.tail(n))

    def entries_between(self, first: int, last: int) -> list:
        return self._checked(self._ledger.entries_between(first, last))

    def by_key(self, key: str):
        found = self._ledger.by_key(key)
        return None if found is None else self._checked([found])[0]

    def _checked(self, entries: list) -> list:
        for e in entries:
            why = entry_problem(e)
            if why:
                raise TamperDetected(f"ledger entry {e.seq} ({e.action}): {why}")
        head = self._proofs.head
        size = head[0] if head else 0
        todo = [e for e in entries if e.seq <= size and (e.seq, e.leaf) not in self._proofs.proven]
        if todo:
            self._prove(todo)
        return entries

    def _prove(self, entries: list) -> None:
        proofs = self._proofs
        size, root = proofs.head
        wanted: set[tuple[int, int]] = set()

        def record(level: int, index: int) -> bytes:  # which stored nodes the proofs need
            wanted.add((level, index))
            return bytes(32)

        for e in entries:
            merkle.inclusion_proof(e.seq - 1, size, record)
        read = read_nodes(proofs.ledger, wanted - proofs.nodes.keys())
        nodes = {**proofs.nodes, **read}  # shared only once every proof has reached the root

        def node(level: int, index: int) -> bytes:
            if (level, index) not in nodes:
                raise TamperDetected(f"ledger tree node ({level}, {index}) is missing")
            return nodes[(level, index)]

        for e in entries:
            try:
                proof = merkle.inclusion_proof(e.seq - 1, size, node)
                merkle.verify_inclusion(e.seq - 1, size, e.leaf, proof, root)
            except (merkle.ProofError, TamperDetected):
                raise TamperDetected(
                    f"ledger entry {e.seq} ({e.action}) is not the entry the verified"
                    f" checkpoint of {size} entries holds (edited after verification)"
                ) from None
        proofs.nodes.update(read)
        proofs.proven.update((e.seq, e.leaf) for e in entries)


@contextmanager
def verified_ledger(ws, action: str, *, view: bool = False) -> Iterator[VerifiedReader]:
    """The ledger of ``ws`` for one deciding command (``action``, e.g. ``"approve"``), every
    read verified (:class:`VerifiedReader`). An entry that fails its check ends the command
    (:class:`TamperDetected`, exit 3) before it acts: nothing it would have appended after
    the read is written, and the refusal is recorded as ``integrity.refused``.

    ``view``: a command that only reads and shows (``status``, ``models``, ``killswitch
    status``, ``findings list``) reads each query once, verified, and shows what it read, as
    :func:`~governance.decisions.model_use.model_may_drive` decides on one read of each
    (``status`` folds the users and the adoptions dozens of times). A deciding command
    re-reads every time."""
    from governance.log.ledger import Ledger

    with Ledger.open(ws) as ledger:
        reader = VerifiedReader(ledger, memo=view)
        try:
            yield reader
        except TamperDetected as exc:
            record_refusal(ledger, action, exc.reasons, exc.gate)
            raise


def record_refusal(ledger, action: str, reasons: list[str], gate=Gate.INTEGRITY) -> None:
    """Record ``integrity.refused`` for ``action`` when ``reasons`` (a
    :class:`TamperDetected`'s) name an entry a verified read refused; the one writer of that
    record for read-time refusals (:func:`verified_ledger`, and the flow runs and
    ``validate``, whose run context reads through a :class:`VerifiedReader`)."""
    if any(r.startswith("ledger entry ") for r in reasons):
        problem = f"{gate}: " + "; ".join(reasons)
        ledger.append(
            Action.INTEGRITY_REFUSED, actor="alphagate", role="system",
            subject=Subject.LEDGER, payload={"action": action, "problem": problem},
        )  # fmt: skip


def read_nodes(ledger, wanted) -> dict[tuple[int, int], bytes]:
    """The stored tree nodes ``wanted`` (``{(level, index)}``) in one statement
    (:func:`governance.log.db.nodes_of`)."""
    if not wanted:
        return {}
    with ledger.snapshot() as conn:
        return nodes_of(conn, wanted)
