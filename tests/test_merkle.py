"""RFC 6962 Merkle hashing and proofs against the published vectors.

The leaf inputs, node hashes, roots and proofs are the test vectors of transparency-dev/merkle
(``testonly/constants.go``, ``testdata/inclusion/*/happy-path.json``,
``testdata/consistency/*/happy-path.json``), which are those of the RFC 6962 reference
implementation (google/certificate-transparency). Then hypothesis: every generated proof of
every size pair verifies, and a changed leaf or root never does.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from governance.log.merkle import (
    EMPTY_ROOT,
    Frontier,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)

LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243",
                                       "5051525354555657", "606162636465666768696a6b6c6d6e6f")]  # fmt: skip
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
LEVEL0 = ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
          "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
          "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
          "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
          "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
          "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
          "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
          "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"]  # fmt: skip
INCLUSION = [  # (index, size, proof)
    (0, 1, []),
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip
CONSISTENCY = [  # (old, new, proof)
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]  # fmt: skip


def store_of(leaves: list[bytes]) -> dict[tuple[int, int], bytes]:
    """Every perfect subtree hash ``{(level, index): hash}``, built by appending."""
    frontier, nodes = Frontier(), {}
    for leaf in leaves:
        frontier, done = frontier.append(leaf)
        nodes.update({(level, index): h for level, index, h in done})
    return nodes


VECTOR_NODES = store_of([leaf_hash(d) for d in LEAVES])


def lookup(level: int, index: int) -> bytes:
    return VECTOR_NODES[level, index]


def test_leaf_node_and_empty_hashes():
    assert EMPTY_ROOT.hex() == ROOTS[0]
    assert [leaf_hash(d).hex() for d in LEAVES] == LEVEL0
    # transparency-dev/merkle rfc6962_test.go: leaf "L123456", node ("N123", "N456").
    assert leaf_hash(b"L123456").hex() == (
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    )
    assert node_hash(b"N123", b"N456").hex() == (
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )


@pytest.mark.parametrize("size", range(9))
def test_roots_of_every_prefix(size):
    leaves = [leaf_hash(d) for d in LEAVES[:size]]
    assert root_of(leaves).hex() == ROOTS[size]
    assert Frontier.of(size, lookup).root().hex() == ROOTS[size]


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_inclusion_vectors(index, size, proof):
    assert [p.hex() for p in inclusion_proof(index, size, lookup)] == proof
    root = bytes.fromhex(ROOTS[size])
    verify_inclusion(index, size, leaf_hash(LEAVES[index]), [bytes.fromhex(p) for p in proof], root)
    with pytest.raises(ProofError):
        verify_inclusion(index, size, leaf_hash(b"other"), [bytes.fromhex(p) for p in proof], root)


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_consistency_vectors(old, new, proof):
    assert [p.hex() for p in consistency_proof(old, new, lookup)] == proof
    r1, r2 = bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new])
    verify_consistency(old, r1, new, r2, [bytes.fromhex(p) for p in proof])
    with pytest.raises(ProofError):
        verify_consistency(old, r2 if old != new else EMPTY_ROOT, new, r2, proof_of(proof))


def proof_of(hexes: list[str]) -> list[bytes]:
    return [bytes.fromhex(p) for p in hexes]


def test_shrinking_and_forks_are_refused():
    with pytest.raises(ProofError, match="shrank"):
        verify_consistency(5, bytes.fromhex(ROOTS[5]), 4, bytes.fromhex(ROOTS[4]), [])
    with pytest.raises(ProofError, match="fork"):
        verify_consistency(4, bytes.fromhex(ROOTS[4]), 4, bytes.fromhex(ROOTS[3]), [])


@given(st.integers(1, 70), st.data())
def test_generated_proofs_verify_and_tampering_fails(n, data):
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
    nodes = store_of(leaves)

    def node(level, index):
        return nodes[level, index]

    roots = [root_of(leaves[:k]) for k in range(n + 1)]
    index = data.draw(st.integers(0, n - 1))
    verify_inclusion(index, n, leaves[index], inclusion_proof(index, n, node), roots[n])
    with pytest.raises(ProofError):
        verify_inclusion(index, n, leaf_hash(b"x"), inclusion_proof(index, n, node), roots[n])
    old = data.draw(st.integers(0, n))
    proof = consistency_proof(old, n, node)
    verify_consistency(old, roots[old], n, roots[n], proof)
    if 0 < old < n:
        with pytest.raises(ProofError):
            verify_consistency(old, leaf_hash(b"forged"), n, roots[n], proof)
        with pytest.raises(ProofError):
            verify_consistency(old, roots[old], n, leaf_hash(b"forged"), proof)
