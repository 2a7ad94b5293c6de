"""``alphagate history`` on a large ledger (issue 24: target <= 1 s on 1,000,000 entries).

Usage::

    .venv/bin/python bench/bench_history.py [--entries 1000000]

A ledger of ``--entries`` filler entries is bulk-built with the ledger's own encoding
(``bench_ledger.build``), then a strategy's life is appended through ``Ledger.append``:
promotions, monthly monitoring runs and a trip, spread through the log. Timed: the history
at a moment (``history(ledger, strategy, at)``) and the whole timeline, each beside its floor
measured in the same run: the indexed reads the answer cannot avoid (the strategy's actions
by the action/subject indexes) plus one inclusion proof per cited entry. Printed, never
asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

STRATEGY = "bench-strategy"


def _life(ledger) -> str:
    """Append the strategy's events; return the ts of a moment in the middle."""
    from governance.ground.vocabulary import Action, Subject

    middle = None
    for month in range(24):
        if month % 8 == 0:
            ledger.append(Action.MODEL_PROMOTED, actor="alphagate", role="system",
                          subject=Subject.model(STRATEGY, month // 8 + 1),
                          payload={"model_name": STRATEGY, "model_version": month // 8 + 1,
                                   "approvals": []})  # fmt: skip
        ledger.append(Action.MONITORING_COMPLETED, actor="alphagate", role="system",
                          subject=Subject.model(STRATEGY, month // 8 + 1),
                          payload={"model_name": STRATEGY, "model_version": month // 8 + 1,
                                   "as_of": f"2026-{month % 12 + 1:02d}-28", "status": "ok",
                                   "breaches": []})  # fmt: skip
        if month == 12:
            e = ledger.append(Action.KILLSWITCH_TRIPPED, actor="alphagate", role="system",
                          subject=Subject.killswitch(STRATEGY), payload={"reason": "bench"})  # fmt: skip
            middle = e.ts
    return middle


def _floor(ledger, size: int) -> float:
    from governance.ground.vocabulary import Action, Subject

    actions = (Action.MODEL_PROMOTED, Action.MONITORING_COMPLETED, Action.MODEL_RETIRED,
               Action.POLICY_ADOPTED, Action.POLICY_ADOPTION_SIGNED)  # fmt: skip
    t0 = time.perf_counter()
    cited = []
    for action in actions:
        cited += [e.seq for e in ledger.entries(action=action)]
    for subject in (Subject.killswitch(), Subject.killswitch(STRATEGY)):
        cited += [e.seq for e in ledger.entries(subject=subject)]
    for seq in cited:
        ledger.inclusion_proof(seq, size)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=1_000_000)
    args = ap.parse_args()
    from bench_ledger import build

    from governance.evidence.history import history, verify_history
    from governance.ground.artifacts import ArtifactStore
    from governance.log.ledger import Ledger

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["XDG_DATA_HOME"] = str(root / "xdg")
        url = f"sqlite:///{root / 'big.db'}"
        Ledger(url, ArtifactStore(root / "a")).dispose()
        built = build(url, args.entries)
        with Ledger(url, ArtifactStore(root / "a")) as ledger:
            middle = _life(ledger)
            size = ledger.tree_head()[0]
            floor = min(_floor(ledger, size) for _ in range(3))
            at, whole = [], []
            for _ in range(3):
                t0 = time.perf_counter()
                doc = history(ledger, STRATEGY, middle)
                at.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                everything = history(ledger, STRATEGY)
                whole.append(time.perf_counter() - t0)
        assert doc["standing"]["killswitch"]["state"] == "tripped"
        verify_history(everything)
    print(
        f"history on {size:,} entries (built in {built:.0f} s): "
        f"--at {min(at):.3f} s ({min(at) / floor:.2f}x floor), "
        f"whole timeline of {len(everything['timeline'])} events {min(whole):.3f} s "
        f"({min(whole) / floor:.2f}x floor); floor (indexed reads + one proof per cited "
        f"entry) {floor:.3f} s; target <= 1 s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
