"""Witness services: a deciding command's added latency with 3 of them, and one's throughput.

Usage::

    .venv/bin/python bench/bench_witness.py [--commands 100] [--seconds 5]

Three ``alphagate witness serve`` processes on this machine (their own keys, SQLite state),
a policy-like witness set of 3 with quorum 2, and a SQLite ledger.

1. Added latency per deciding command: the command checks the quorum before it acts and
   obtains it after (two hand-overs of the tree head to the 3 witnesses, in parallel, each
   verifying the log signature and a consistency proof, cosigning and committing its state).
   Median and 90th percentile over ``--commands`` commands (one append each), beside the
   peer measured in the same run: the same two hand-overs to one local directory witness
   (the default before witness services). Target: median ≤ 20 ms.
2. One witness's throughput: checkpoints per second for ``--seconds`` seconds, each a new
   tree size with its consistency proof (prepared beforehand), sent back to back over one
   keep-alive connection; beside its floor, the HTTP round trips per second of the same
   service answering a 404 (no signature, no database).

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def _ms(xs: list[float]) -> tuple[float, float]:
    xs = sorted(xs)
    return statistics.median(xs) * 1e3, xs[int(0.9 * (len(xs) - 1))] * 1e3


def added_latency(root: Path, services, key, n: int) -> None:
    from governance.ground.artifacts import ArtifactStore
    from governance.ground.vocabulary import Action
    from governance.log.checkpoint import Verifier
    from governance.log.ledger import Ledger
    from governance.log.quorum import WitnessSet, quorum_checkpoint
    from governance.log.remote import HttpWitness
    from governance.log.witness import DirectoryWitness

    members = tuple(HttpWitness(s.url, Verifier.parse(s.vkey)) for s in services)
    remote = WitnessSet(members, 2, (), "bench")
    local = WitnessSet((), 0, (DirectoryWitness(str(root / "local-witness")),), "bench")
    url = f"sqlite:///{root / 'ledger.db'}"
    os.environ["ALPHAGATE_LOG_ORIGIN"] = key.name
    times = {"3 witness services, quorum 2": [], "1 local directory witness": []}
    with Ledger(url, ArtifactStore(root / "artifacts")) as ledger:
        for wset in (remote, local):  # warm: first checkpoints, connections
            quorum_checkpoint(ledger, wset)
        for i in range(n):
            ledger.append(Action.GATE_PRETRADE, actor="rita", payload={"i": i})
            for label, wset in (("3 witness services, quorum 2", remote),
                                ("1 local directory witness", local)):  # fmt: skip
                t0 = time.perf_counter()
                quorum_checkpoint(ledger, wset)  # before acting
                quorum_checkpoint(ledger, wset)  # after (the entries are the same here)
                times[label].append(time.perf_counter() - t0)
    peer = statistics.median(times["1 local directory witness"])
    print(f"added latency per deciding command (2 hand-overs), {n} commands:")
    for label, xs in times.items():
        med, p90 = _ms(xs)
        print(f"  {label:32s} median {med:6.2f} ms  p90 {p90:6.2f} ms"
              f"  ({statistics.median(xs) / peer:4.2f}x the local witness)")  # fmt: skip
    print("  target: median <= 20 ms with 3 witness services")


def throughput(root: Path, service, key, seconds: float) -> None:
    import httpx

    from governance.ground.artifacts import ArtifactStore
    from governance.ground.vocabulary import Action
    from governance.log.checkpoint import Checkpoint, sign_checkpoint
    from governance.log.ledger import Ledger
    from governance.log.remote import add_checkpoint_body

    with Ledger(f"sqlite:///{root / 'tp.db'}", ArtifactStore(root / "tp-art")) as ledger:
        bodies, old = [], 0
        for i in range(4000):
            ledger.append(Action.GATE_PRETRADE, actor="x", payload={"i": i})
            size, root_hash = ledger.tree_head()
            note = sign_checkpoint(Checkpoint(key.name, size, root_hash), key)
            bodies.append(add_checkpoint_body(note, old, ledger.consistency_proof(old, size)))
            old = size
    client = httpx.Client(trust_env=False)
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds and done < len(bodies):
        r = client.post(f"{service.url}/add-checkpoint", content=bodies[done])
        assert r.status_code == 200, (r.status_code, r.text)
        done += 1
    cps = done / (time.perf_counter() - t0)
    floor_n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < min(seconds, 2.0):
        client.get(f"{service.url}/nothing-here")
        floor_n += 1
    rps = floor_n / (time.perf_counter() - t0)
    print(f"one witness: {cps:7.1f} checkpoints/s ({done} cosigned, SQLite state)")
    print(f"  floor, the same service's 404 round trip: {rps:7.1f}/s"
          f"  (a checkpoint costs {rps / cps:4.1f}x a bare round trip)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--commands", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from helpers_witness import start_witnesses

    from governance.log.checkpoint import NoteKey

    with tempfile.TemporaryDirectory(prefix="bench-witness-") as tmp:
        root = Path(tmp)
        os.environ["XDG_DATA_HOME"] = str(root / "xdg")
        key = NoteKey("alphagate.ledger/bench", Ed25519PrivateKey.generate())
        os.environ["ALPHAGATE_LOG_KEY"] = str(root / "log.key")
        from cryptography.hazmat.primitives import serialization

        (root / "log.key").write_bytes(key.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))  # fmt: skip
        services = start_witnesses(root / "w", 3, key.vkey())
        try:
            added_latency(root, services, key, args.commands)
        finally:
            for s in services:
                s.stop()
        other = NoteKey("alphagate.ledger/bench-throughput", Ed25519PrivateKey.generate())
        (service,) = start_witnesses(root / "tp", 1, other.vkey())
        try:
            throughput(root, service, other, args.seconds)
        finally:
            service.stop()


if __name__ == "__main__":
    main()
