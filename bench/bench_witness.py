"""Witness services: a deciding command's added latency with 3 of them, and one's throughput.

Usage::

    .venv/bin/python bench/bench_witness.py [--commands 100] [--seconds 5]
    .venv/bin/python bench/bench_witness.py --against ../other-checkout [--commands 60]

``--against`` measures only the added latency, this checkout's code and another's (a
worktree of main, say) in lockstep, each with its own 3 services, alternating which goes
first: on a loaded machine the two meet the same load, and the ratio is the figure.

Three ``alphagate witness serve`` processes on this machine (their own keys, SQLite state),
a policy-like witness set of 3 with quorum 2, and a SQLite ledger.

1. Added latency per deciding command: the command checks the quorum before it acts and
   obtains it after its entry (two hand-overs of the tree head to the 3 witnesses, in
   parallel, each verifying the log signature and a consistency proof, cosigning and
   committing its state). Each command runs in a fresh process (forked after the imports):
   it opens its connections and knows the witnesses' sizes only from the hint file, as a
   real command does (it starts no thread: governance/log/witness_http.py). Median and
   90th percentile over ``--commands`` commands, with the command's CPU time (the figure
   the machine's load inflates least) and the 3 services' CPU per command (/proc), beside
   the peer measured in the same run: the same two hand-overs to one local directory
   witness (the default before witness services).
   Target: median ≤ 20 ms. The load average is printed before and after.
2. One witness's throughput: checkpoints per second for ``--seconds`` seconds, each a new
   tree size with its consistency proof (prepared beforehand), sent back to back over one
   keep-alive connection; beside its floor, the HTTP round trips per second of the same
   service answering a 404 (no signature, no database).

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: The checkout whose code runs: this one, or another one's for ``--against`` (``--driver``).
TREE = Path(sys.argv[sys.argv.index("--driver") + 1]) if "--driver" in sys.argv else REPO
sys.path.insert(0, str(TREE))
sys.path.insert(0, str(TREE / "tests"))


def _ms(xs: list[float]) -> tuple[float, float]:
    xs = sorted(xs)
    return statistics.median(xs) * 1e3, xs[int(0.9 * (len(xs) - 1))] * 1e3


def _one_command(root: Path, wset, i: int) -> tuple[float, float]:
    """One deciding command's witness work, in a fresh process: the hand-over before it acts
    (the ledger as it stands) and the one after its entry. ``(wall, CPU)`` seconds of this
    process (its threads included), the append excluded."""
    from governance.ground.artifacts import ArtifactStore
    from governance.ground.vocabulary import Action
    from governance.log.ledger import Ledger
    from governance.log.quorum import quorum_checkpoint

    with Ledger(f"sqlite:///{root / 'ledger.db'}", ArtifactStore(root / "artifacts")) as ledger:
        t0, c0 = time.perf_counter(), time.process_time()
        quorum_checkpoint(ledger, wset)  # before acting
        t1, c1 = time.perf_counter(), time.process_time()
        ledger.append(Action.GATE_PRETRADE, actor="rita", payload={"i": i})  # the command's act
        t2, c2 = time.perf_counter(), time.process_time()
        quorum_checkpoint(ledger, wset)  # after: its entry witnessed
        t3, c3 = time.perf_counter(), time.process_time()
        return (t1 - t0) + (t3 - t2), (c1 - c0) + (c3 - c2)


def in_child(fn, *args):
    """``fn(*args)`` in a forked child, as a new command process would run it: no open
    connection, no worker thread, no witness size learned in memory (what a command knows
    is on disk). Returns its result (a literal)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: run, report, leave without the parent's exit handlers
        os.close(read)
        code = 0
        try:
            os.write(write, repr(fn(*args)).encode())
        except BaseException as exc:  # reported by the parent
            os.write(write, f"error {exc!r}".encode())
            code = 1
        os._exit(code)
    os.close(write)
    with os.fdopen(read) as fh:
        text = fh.read()
    os.waitpid(pid, 0)
    if text.startswith("error"):
        raise RuntimeError(text)
    return ast.literal_eval(text)


def added_latency(root: Path, services, key, n: int) -> None:
    from governance.log.checkpoint import Verifier
    from governance.log.quorum import WitnessSet
    from governance.log.remote import HttpWitness
    from governance.log.witness import DirectoryWitness

    members = tuple(HttpWitness(s.url, Verifier.parse(s.vkey)) for s in services)
    sets = {
        "3 witness services, quorum 2": WitnessSet(members, 2, (), "bench"),
        "1 local directory witness": WitnessSet((), 0, (DirectoryWitness(str(root / "lw")),), "b"),
    }
    os.environ["ALPHAGATE_LOG_ORIGIN"] = key.name
    times = {label: [] for label in sets}
    for wset in sets.values():  # warm: the first checkpoints
        in_child(_one_command, root, wset, -1)
    served, floor = 0.0, []
    db = sqlite3.connect(root / "floor.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")  # as the witnesses' state: WAL, synchronous=FULL
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t (i INTEGER)")
    for i in range(n):
        t0 = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t VALUES (?)", (i,))
        db.execute("COMMIT")
        floor.append(time.perf_counter() - t0)
        for label, wset in sets.items():
            before = sum(_cpu(s.proc.pid) for s in services)
            times[label].append(in_child(_one_command, root, wset, i))
            served += sum(_cpu(s.proc.pid) for s in services) - before
    peer = statistics.median(wall for wall, _ in times["1 local directory witness"])
    print(f"added latency per deciding command (a hand-over before it acts, one after its entry;"
          f" each command a fresh process), {n} commands:")  # fmt: skip
    for label, xs in times.items():
        med, p90 = _ms([wall for wall, _ in xs])
        cpu = statistics.median(c for _, c in xs) * 1e3
        print(f"  {label:32s} median {med:6.2f} ms  p90 {p90:6.2f} ms"
              f"  ({med / 1e3 / peer:4.2f}x the local witness)  client CPU {cpu:5.2f} ms")  # fmt: skip
    print(f"  the 3 services' CPU: {served / n * 1e3:5.2f} ms per command"
          f" ({served / (2 * 3 * n) * 1e3:4.2f} ms per request; /proc, 10 ms ticks)")  # fmt: skip
    print(f"  floor: one durable SQLite commit on this disk (each witness makes one before it"
          f" answers a new size) median {statistics.median(floor) * 1e3:5.2f} ms")  # fmt: skip
    print("  target: median <= 20 ms with 3 witness services")


def _cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def throughput(root: Path, service, key, seconds: float) -> None:
    import httpx

    from governance.ground.artifacts import ArtifactStore
    from governance.ground.vocabulary import Action
    from governance.log.checkpoint import Checkpoint, SignedNote, sign_checkpoint
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
    done, t0, c0 = 0, time.perf_counter(), _cpu(service.proc.pid)
    while time.perf_counter() - t0 < seconds and done < len(bodies):
        r = client.post(f"{service.url}/add-checkpoint", content=bodies[done])
        assert r.status_code == 200, (r.status_code, r.text)
        done += 1
    cps, new_cpu = done / (time.perf_counter() - t0), (_cpu(service.proc.pid) - c0) / done
    held = add_checkpoint_body(SignedNote.parse(bodies[done - 1].decode().partition("\n\n")[2]),
                               done, [])  # fmt: skip
    c0 = _cpu(service.proc.pid)
    for _ in range(done):  # the checkpoint it holds, again: the first hand-over of a command
        r = client.post(f"{service.url}/add-checkpoint", content=held)
        assert r.status_code == 200, (r.status_code, r.text)
    held_cpu = (_cpu(service.proc.pid) - c0) / done
    floor_n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < min(seconds, 2.0):
        client.get(f"{service.url}/nothing-here")
        floor_n += 1
    rps = floor_n / (time.perf_counter() - t0)
    print(f"one witness: {cps:7.1f} checkpoints/s ({done} cosigned, SQLite state)")
    print(f"  its CPU per request (/proc): a new checkpoint {new_cpu * 1e3:5.2f} ms,"
          f" the one it holds {held_cpu * 1e3:5.2f} ms ({done} of each)")  # fmt: skip
    print(f"  floor, the same service's 404 round trip: {rps:7.1f}/s"
          f"  (a checkpoint costs {rps / cps:4.1f}x a bare round trip)")  # fmt: skip


@contextlib.contextmanager
def log_and_witnesses(root: Path, n: int = 3):
    """A log key (``ALPHAGATE_LOG_KEY``, outside any workspace) and ``n`` witness services
    trusting it: ``(services, key)``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from helpers_witness import start_witnesses

    from governance.log.checkpoint import NoteKey

    os.environ["XDG_DATA_HOME"] = str(root / "xdg")
    key = NoteKey("alphagate.ledger/bench", Ed25519PrivateKey.generate())
    os.environ["ALPHAGATE_LOG_KEY"] = str(root / "log.key")
    os.environ["ALPHAGATE_LOG_ORIGIN"] = key.name
    (root / "log.key").write_bytes(key.private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))  # fmt: skip
    services = start_witnesses(root / "w", n, key.vkey())
    try:
        yield services, key
    finally:
        for s in services:
            s.stop()


def driver() -> None:
    """``--driver TREE``: one side of ``--against``, the code of checkout TREE: 3 services
    and one command per ``go I`` line on stdin, answered ``[wall, CPU, services' CPU]``."""
    from governance.log.checkpoint import Verifier
    from governance.log.quorum import WitnessSet
    from governance.log.remote import HttpWitness

    with tempfile.TemporaryDirectory(prefix="bench-witness-") as tmp:
        root = Path(tmp)
        with log_and_witnesses(root) as (services, _key):
            members = tuple(HttpWitness(s.url, Verifier.parse(s.vkey)) for s in services)
            wset = WitnessSet(members, 2, (), "bench")
            in_child(_one_command, root, wset, -1)
            print("ready", flush=True)
            for line in sys.stdin:
                before = sum(_cpu(s.proc.pid) for s in services)
                wall, cpu = in_child(_one_command, root, wset, int(line.split()[1]))
                served = sum(_cpu(s.proc.pid) for s in services) - before
                print(json.dumps([wall, cpu, served]), flush=True)


def against(other: Path, n: int) -> None:
    """``--against TREE``: this checkout's commands and TREE's in lockstep (alternating which
    goes first), each with its own 3 services, so both meet the same load."""
    sides = {"this": REPO, "other": other.resolve()}
    procs = {
        name: subprocess.Popen([sys.executable, __file__, "--driver", str(tree)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for name, tree in sides.items()
    }  # fmt: skip
    for proc in procs.values():
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("a driver did not start")
    got = {name: [] for name in procs}
    for i in range(n):
        for name in sorted(procs, reverse=bool(i % 2)):
            procs[name].stdin.write(f"go {i}\n")
            procs[name].stdin.flush()
            got[name].append(json.loads(procs[name].stdout.readline()))
    for proc in procs.values():
        proc.stdin.close()
        proc.wait()
    print(f"added latency per deciding command, 3 witness services, {n} commands in lockstep:")
    for name, tree in sides.items():
        wall = sorted(x[0] * 1e3 for x in got[name])
        cpu = sorted(x[1] * 1e3 for x in got[name])
        served = statistics.mean(x[2] for x in got[name]) * 1e3
        print(f"  {name:5s} {tree!s:28s} median {statistics.median(wall):7.2f} ms"
              f"  p25 {wall[len(wall) // 4]:7.2f} ms  client CPU median"
              f" {statistics.median(cpu):6.2f} ms  services' CPU {served:6.2f} ms per command")  # fmt: skip
    ratio = statistics.median(x[0] for x in got["this"]) / statistics.median(
        x[0] for x in got["other"]
    )
    print(f"  this / other, median wall: {ratio:4.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--commands", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--against", type=Path, metavar="TREE",
                        help="latency only, in lockstep with another checkout's code")  # fmt: skip
    parser.add_argument("--driver", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.driver:
        return driver()
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    if args.against:
        against(args.against, args.commands)
        print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
        return None
    with tempfile.TemporaryDirectory(prefix="bench-witness-") as tmp:
        root = Path(tmp)
        with log_and_witnesses(root) as (services, key):
            added_latency(root, services, key, args.commands)
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from helpers_witness import start_witnesses

        from governance.log.checkpoint import NoteKey

        other = NoteKey("alphagate.ledger/bench-throughput", Ed25519PrivateKey.generate())
        (service,) = start_witnesses(root / "tp", 1, other.vkey())
        try:
            throughput(root, service, other, args.seconds)
        finally:
            service.stop()
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return None


if __name__ == "__main__":
    main()
