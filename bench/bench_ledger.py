"""Ledger append + checkpoint per governance command; ``ledger verify`` of 1,000,000 entries.

Usage::

    .venv/bin/python bench/bench_ledger.py [--commands 200] [--entries 1000000]

1. One governance command's ledger work: one append (a durable SQLite commit, WAL with
   ``synchronous=FULL``: one fsync) and one checkpoint (sign the tree head, consistency proof
   from the witness's size, the directory witness verifies, cosigns and writes its file with
   an fsync). Median and 90th percentile over ``--commands`` commands, each part apart.
2. A ledger of ``--entries`` entries, built by bulk insert of rows made with the ledger's
   own encoding (:mod:`governance.log.chain`, :mod:`governance.log.merkle`) and witnessed once; then
   ``verify_log`` cold (every entry re-hashed, the tree rebuilt, the witness checked) and,
   after 10 more entries and a checkpoint, incremental (only the new entries re-hashed; the
   stored frontier must fold to the last verified root).

Part 1 prints wall time and CPU time (``time.process_time``: this process's user + system)
of each part and of its floor; on a shared machine only the CPU figures and their ratios
hold (the load is printed beside them). Everything lives in a temporary directory
(XDG_DATA_HOME too). Figures are printed, never asserted.
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


def per_command(root: Path, n: int) -> dict:
    """Each command's append and checkpoint, interleaved with its floors on the same rows
    (a plain SQLite commit, two fsyncs) so that a shared machine's load weighs on both."""
    import governance.identity  # noqa: F401  the signed-act rule every command loads
    from governance.ground.artifacts import ArtifactStore
    from governance.ground.vocabulary import Action, Subject
    from governance.log.ledger import Ledger
    from governance.log.transparency import publish
    from governance.log.witness import DirectoryWitness

    witness = [DirectoryWitness(str(root / "witness"))]
    parts = ("append", "checkpoint", "plain", "fsyncs")
    wall: dict[str, list[float]] = {p: [] for p in parts}
    cpu: dict[str, list[float]] = {p: [] for p in parts}

    def timed(part, fn, *args, **kwargs):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn(*args, **kwargs)
        wall[part].append(time.perf_counter() - t0)
        cpu[part].append(time.process_time() - c0)
        return out

    with Ledger(f"sqlite:///{root / 'cmd.db'}", ArtifactStore(root / "a")) as ledger:
        publish(ledger, witness)  # keys created, first checkpoint pinned
        floor = PlainSQLite(root / "cmd.db", root / "plain.db")
        for i in range(n):
            entry = timed("append", ledger.append, Action.KILLSWITCH_TRIPPED, actor="alphagate",
                          role="system", subject=Subject.killswitch(),
                          payload={"reason": f"drill {i}", "trigger": "manual"})  # fmt: skip
            timed("checkpoint", publish, ledger, witness)
            rows = floor.rows_of(entry.seq)
            timed("plain", floor.commit, *rows)
            timed("fsyncs", two_fsyncs, root / "fsync", i)
        floor.close()
    out = {}
    for kind, xs in (("", wall), ("cpu_", cpu)):
        total = [a + c for a, c in zip(xs["append"], xs["checkpoint"], strict=True)]
        out |= {f"{kind}{p}_ms": ms(xs[p]) for p in parts} | {f"{kind}total_ms": ms(total)}
    return out


def ms(xs: list[float]) -> tuple[float, float]:
    """Median and 90th percentile of ``xs`` (seconds) in milliseconds."""
    return round(statistics.median(xs) * 1e3, 2), round(statistics.quantiles(xs, n=10)[-1] * 1e3, 2)


class PlainSQLite:
    """The floor of an append: the same rows (the entry, the tree nodes it completes, the
    head) written by plain ``sqlite3`` into a copy of the ledger's schema, in one ``BEGIN
    IMMEDIATE`` ... ``COMMIT``, WAL with SQLite's default ``synchronous=FULL`` (the
    ledger's settings)."""

    def __init__(self, source: Path, target: Path):
        import sqlite3

        from governance.log.db import HEAD_ID, entries_table, head_table, nodes_table

        self.src = sqlite3.connect(source)
        self.entries, self.nodes = entries_table.name, nodes_table.name
        schema = [sql for (sql,) in self.src.execute(
            "SELECT sql FROM sqlite_master WHERE type IN ('table', 'index') AND sql IS NOT NULL")]  # fmt: skip
        self.dst = sqlite3.connect(target, isolation_level=None)
        self.dst.execute("PRAGMA journal_mode=WAL")
        for sql in schema:
            self.dst.execute(sql)
        self.dst.execute(f"INSERT INTO {head_table.name} (id, seq, hash) VALUES (?, 0, '')",
                         (HEAD_ID,))  # fmt: skip
        self.update_head = f"UPDATE {head_table.name} SET seq = ?, hash = ? WHERE id = {HEAD_ID}"

    def rows_of(self, seq: int) -> tuple:
        """The rows the ledger wrote for entry ``seq``: ``(seq, columns, row, nodes)``."""
        cur = self.src.execute(f"SELECT * FROM {self.entries} WHERE seq = ?", (seq,))
        columns = [d[0] for d in cur.description]
        row = cur.fetchone()
        # the nodes entry ``seq`` completed: (level, idx) completes at leaf (idx + 1) 2^level
        nodes = [n for n in self.src.execute(f"SELECT level, idx, hash FROM {self.nodes}"
                 " WHERE ((idx + 1) << level) = ?", (seq,))]  # fmt: skip
        return seq, columns, row, nodes

    def commit(self, seq: int, columns: list, row: tuple, nodes: list) -> None:
        """Commit the rows of :meth:`rows_of` (one ``BEGIN IMMEDIATE`` ... ``COMMIT``)."""
        insert = (f"INSERT INTO {self.entries} ({', '.join(columns)})"
                  f" VALUES ({', '.join('?' * len(columns))})")  # fmt: skip
        self.dst.execute("BEGIN IMMEDIATE")
        self.dst.execute(insert, row)
        self.dst.executemany(f"INSERT INTO {self.nodes} (level, idx, hash) VALUES (?, ?, ?)", nodes)
        self.dst.execute(self.update_head, (seq, row[columns.index("entry_hash")]))
        self.dst.execute("COMMIT")

    def close(self) -> None:
        self.src.close()
        self.dst.close()


def two_fsyncs(folder: Path, i: int) -> None:
    """The floor of a governance command: two durable writes (the ledger's commit, the
    witness's checkpoint file), each a small write and an ``fsync``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("a", "b"):
        with open(folder / name, "ab") as f:
            f.write(f"{i}\n".encode())
            f.flush()
            os.fsync(f.fileno())


def build(url: str, n: int) -> float:
    """Bulk-insert ``n`` entries (and their tree nodes and head) in one transaction."""
    import sqlalchemy as sa

    from governance.ground.canonical import canonical_json, sha256_bytes
    from governance.ground.vocabulary import Action, Subject
    from governance.log.chain import GENESIS_HASH, entry_bytes
    from governance.log.db import entries_table, head_table, make_engine, nodes_table
    from governance.log.merkle import Frontier, leaf_hash

    t0 = time.perf_counter()
    engine = make_engine(url)
    frontier, prev, rows, nodes = Frontier(), GENESIS_HASH, [], []
    with engine.begin() as conn:
        for seq in range(1, n + 1):
            payload = canonical_json({"i": seq, "decision": "pass"}).decode()
            fields = {"seq": seq, "ts": f"2026-01-01T00:00:00.{seq % 1000000:06d}Z",
                      "actor": "alphagate", "role": "system",
                      "action": Action.GATE_DATA_QUALITY.value,
                      "subject": Subject.data(f"{seq % 97:016x}"),
                      "payload_hash": sha256_bytes(payload.encode()),
                      "prev_hash": prev, "idempotency_key": None}  # fmt: skip
            data = entry_bytes(fields)
            prev = sha256_bytes(data)
            rows.append({**fields, "payload": payload, "entry_hash": prev})
            frontier, done = frontier.append(leaf_hash(data))
            nodes.extend({"level": lv, "idx": ix, "hash": h.hex()} for lv, ix, h in done)
            if len(rows) >= 50_000:
                conn.execute(entries_table.insert(), rows)
                conn.execute(nodes_table.insert(), nodes)
                rows, nodes = [], []
        if rows:
            conn.execute(entries_table.insert(), rows)
            conn.execute(nodes_table.insert(), nodes)
        conn.execute(head_table.update().values(seq=n, hash=prev))
        conn.execute(sa.text("SELECT 1"))
    engine.dispose()
    return time.perf_counter() - t0


def verify_million(root: Path, n: int) -> dict:
    from governance.audit.integrity import verify_log
    from governance.ground.artifacts import ArtifactStore
    from governance.ground.vocabulary import Action
    from governance.log.ledger import Ledger
    from governance.log.transparency import publish

    url = f"sqlite:///{root / 'big.db'}"
    Ledger(url, ArtifactStore(root / "a")).dispose()  # tables
    built = build(url, n)
    with Ledger(url, ArtifactStore(root / "a")) as ledger:
        publish(ledger)
        t0 = time.perf_counter()
        cold = verify_log(ledger)
        t1 = time.perf_counter()
        for i in range(10):
            ledger.append(Action.GATE_PRETRADE, actor="a", payload={"i": i})
        publish(ledger)
        t2 = time.perf_counter()
        warm = verify_log(ledger, incremental=True)
        t3 = time.perf_counter()
    assert cold.ok and warm.ok, (cold, warm)
    return {"entries": n, "build_s": round(built, 1), "cold_s": round(t1 - t0, 2),
            "incremental_s": round(t3 - t2, 3), "incremental_rehashed": warm.to_json()["rehashed"]}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commands", type=int, default=200)
    ap.add_argument("--entries", type=int, default=1_000_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["XDG_DATA_HOME"] = str(root / "xdg")
        os.environ["ALPHAGATE_WITNESS"] = str(root / "witness")
        cmd = per_command(root, args.commands)
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        w = {k: v for k, v in cmd.items() if not k.startswith("cpu_")}
        c = {k.removeprefix("cpu_"): v for k, v in cmd.items() if k.startswith("cpu_")}
        print(f"per governance command (median / p90 over {args.commands}; wall, then CPU:"
              f" time.process_time; load {load}):")  # fmt: skip
        for part in ("append", "checkpoint", "total", "plain", "fsyncs"):
            print(f"  {part:<10} wall {w[part + '_ms'][0]:6.2f} / {w[part + '_ms'][1]:6.2f} ms"
                  f"   CPU {c[part + '_ms'][0]:6.2f} / {c[part + '_ms'][1]:6.2f} ms")  # fmt: skip
        for part, floor, what in (("append", "plain", "append vs a plain SQLite commit of the"
                                   " same rows"), ("total", "fsyncs", "command (append +"
                                   " checkpoint) vs its floor of two fsyncs")):  # fmt: skip
            print(f"  {what}: wall {w[part + '_ms'][0] / w[floor + '_ms'][0]:.2f}x,"
                  f" CPU {c[part + '_ms'][0] / c[floor + '_ms'][0]:.2f}x (target <= 1.2)",
                  flush=True)  # fmt: skip
        big = verify_million(root, args.entries)
        print(f"ledger of {big['entries']:,} entries: built in {big['build_s']} s;"
              f" verify cold {big['cold_s']} s, incremental {big['incremental_s']} s"
              f" ({big['incremental_rehashed']} entries re-hashed)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
