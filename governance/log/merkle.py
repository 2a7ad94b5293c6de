"""RFC 6962 / RFC 9162 Merkle tree hashing, inclusion and consistency proofs (pure functions).

Hashes (RFC 6962 §2.1, RFC 9162 §2.1.1)::

    leaf hash  = SHA-256(0x00 || leaf bytes)
    node hash  = SHA-256(0x01 || left || right)
    MTH({})    = SHA-256()                     (the empty tree)
    MTH(D[n])  = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of two < n

A tree of ``n`` leaves is kept as its *compact frontier* (:class:`Frontier`): the roots of the
perfect subtrees that the binary digits of ``n`` cut it into, left to right. Appending a leaf
and computing the root are O(log n) on it.

Proofs are generated from a ``node(level, index)`` callable that returns the hash of the
perfect subtree of ``2**level`` leaves starting at leaf ``index * 2**level`` (the ledger keeps
these in a table). Verification follows RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2
(consistency) exactly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

#: ``node(level, index) -> bytes``: hash of a perfect subtree (see the module docstring).
NodeLookup = Callable[[int, int], bytes]


class ProofError(ValueError):
    """A proof does not verify or asks for sizes the tree does not have."""


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


@dataclass(frozen=True)
class Frontier:
    """The right edge of a tree: ``(level, hash)`` of its perfect subtrees, left to right.

    ``size`` is the number of leaves; levels strictly decrease along ``nodes`` and follow the
    binary digits of ``size``.
    """

    size: int = 0
    nodes: tuple[tuple[int, bytes], ...] = ()

    def append(self, leaf: bytes) -> tuple[Frontier, list[tuple[int, int, bytes]]]:
        """The frontier with ``leaf`` (a leaf hash) appended, and the completed subtrees.

        Returns
        -------
        (Frontier, list of (level, index, hash))
            Every perfect subtree completed by this leaf, the leaf itself first.
        """
        nodes = list(self.nodes)
        done = [(0, self.size, leaf)]
        level, value = 0, leaf
        while nodes and nodes[-1][0] == level:
            _, left = nodes.pop()
            value, level = node_hash(left, value), level + 1
            done.append((level, self.size >> level, value))
        nodes.append((level, value))
        return Frontier(self.size + 1, tuple(nodes)), done

    def root(self) -> bytes:
        """MTH of the ``size`` leaves (``EMPTY_ROOT`` when empty)."""
        if not self.nodes:
            return EMPTY_ROOT
        value = self.nodes[-1][1]
        for _, left in reversed(self.nodes[:-1]):
            value = node_hash(left, value)
        return value

    @classmethod
    def of(cls, size: int, node: NodeLookup) -> Frontier:
        """The frontier of the first ``size`` leaves, read with ``node`` (log n lookups)."""
        nodes, start = [], 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                nodes.append((level, node(level, start >> level)))
                start += 1 << level
        return cls(size, tuple(nodes))

    def to_json(self) -> list[list]:
        return [[level, h.hex()] for level, h in self.nodes]

    @classmethod
    def from_json(cls, size: int, nodes: Sequence[Sequence]) -> Frontier:
        return cls(size, tuple((int(level), bytes.fromhex(h)) for level, h in nodes))


def root_of(leaves: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf hashes (for tests and small trees)."""
    frontier = Frontier()
    for leaf in leaves:
        frontier, _ = frontier.append(leaf)
    return frontier.root()


def _subtree(node: NodeLookup, start: int, end: int) -> bytes:
    """MTH of leaves ``[start, end)``; ``start`` is aligned to the split (RFC 9162 ranges)."""
    n = end - start
    if n & (n - 1) == 0 and start % n == 0:
        return node(n.bit_length() - 1, start // n)
    k = _split(n)
    return node_hash(_subtree(node, start, start + k), _subtree(node, start + k, end))


def _cached(node: NodeLookup) -> NodeLookup:
    return lru_cache(maxsize=None)(node)


def inclusion_proof(index: int, size: int, node: NodeLookup) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 §2.1.3.1: the audit path of leaf ``index``."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    node = _cached(node)
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(_subtree(node, start + k, end))
            end = start + k
        else:
            path.append(_subtree(node, start, start + k))
            start += k
    return path[::-1]


def consistency_proof(old: int, new: int, node: NodeLookup) -> list[bytes]:
    """PROOF(old, D[new]) of RFC 9162 §2.1.4.1 (empty when ``old`` is 0 or equals ``new``)."""
    if not 0 <= old <= new:
        raise ProofError(f"no consistency proof from size {old} to size {new}")
    if old in (0, new):
        return []
    node = _cached(node)
    proof: list[bytes] = []
    start, end, complete = 0, new, True
    m = old
    # SUBPROOF(m, D[start:end], complete), iteratively; m is relative to start.
    while True:
        n = end - start
        if m == n:
            if not complete:
                proof.append(_subtree(node, start, end))
            break
        k = _split(n)
        if m <= k:
            proof.append(_subtree(node, start + k, end))
            end = start + k
        else:
            proof.append(_subtree(node, start, start + k))
            start, m, complete = start + k, m - k, False
    return proof[::-1]


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes):
    """RFC 9162 §2.1.3.2; raise :class:`ProofError` unless ``leaf`` is at ``index`` under ``root``."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    if r != root:
        raise ProofError(f"leaf {index} is not under the root of size {size}")


def verify_consistency(
    old: int, old_root: bytes, new: int, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2; raise :class:`ProofError` unless tree ``old`` is a prefix of ``new``."""
    if old > new:
        raise ProofError(f"tree shrank from size {old} to {new}")
    if old == new:
        if proof:
            raise ProofError("consistency proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError(f"two different roots for size {old} (a fork)")
        return
    if old == 0:
        if proof:
            raise ProofError("consistency proof from the empty tree must be empty")
        return
    proof = list(proof)
    if old & (old - 1) == 0:  # a power of two: the old root is the first node
        proof = [old_root, *proof]
    if not proof:
        raise ProofError("consistency proof is empty")
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != old_root:
        raise ProofError(f"the tree of size {new} does not extend the checkpoint of size {old}")
    if sr != new_root:
        raise ProofError(f"consistency proof does not lead to the root of size {new}")
