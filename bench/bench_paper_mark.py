"""The paper book's daily mark of many accounts (issue 24: 1,000 accounts of 100 assets).

Usage::

    .venv/bin/python bench/bench_paper_mark.py [--accounts 1000] [--assets 100] [--days 252]

Marks ``--days`` days of ``--accounts`` paper books (a rebalance every 21 days, drift in
between) with :func:`tasks.portfolio.paper.mark_day`, beside its floor measured in the same
run: the drift of the book alone (the state update any mark must make: gross return and
the drifted weights), so the ratio is the price of the trades' costs; then the same with
:func:`tasks.portfolio.paper.mark_period` (the paper broker's fill at the next close).

With ``--record N`` it also writes a paper record of ``N`` days of one book through the
production writers (tasks/portfolio/paper_record.py, a temporary workspace) and times the
graduation's verifying read (every input re-hashed, every mark recomputed, the chain
checked) beside its floor measured in the same run: reading the same entries and
artifacts without the checks. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--assets", type=int, default=100)
    ap.add_argument("--days", type=int, default=252)
    ap.add_argument("--record", type=int, default=126, help="paper days to record (0: none)")
    args = ap.parse_args()
    from tasks.portfolio.paper import mark_day, mark_period

    rng = np.random.default_rng(0)
    a, n = args.accounts, args.assets
    returns = rng.normal(0.0003, 0.015, (args.days, n))
    targets = rng.dirichlet(np.ones(n), (args.days // 21 + 1, a))
    spread, impact = rng.uniform(2e-4, 1e-3, n), rng.uniform(0.0, 0.05, n)
    held = targets[0]
    t0 = time.perf_counter()
    for day in range(args.days):
        target = targets[day // 21] if day % 21 == 0 else held
        held = mark_day(held, target, returns[day], spread, impact).held
    marked = time.perf_counter() - t0
    t0 = time.perf_counter()
    book = targets[0]
    for day in range(args.days):
        r = returns[day]
        book = book * (1.0 + r) / (1.0 + book @ r)[:, None]
    floor = time.perf_counter() - t0
    print(
        f"paper mark of {a:,} accounts x {n} assets: {marked / args.days * 1e3:.2f} ms a day "
        f"({marked / floor:.1f}x the drift of the book alone, "
        f"{floor / args.days * 1e3:.3f} ms a day)"
    )
    # The paper stage books every day: a trade every day, filled at the close (mark_day)
    # or at the next close (mark_period, the paper broker's rule).
    timed = {}
    for fn in (mark_day, mark_period):
        held = targets[0]
        t0 = time.perf_counter()
        for day in range(args.days):
            held = fn(held, targets[day // 21], returns[day], spread, impact).held
        timed[fn.__name__] = time.perf_counter() - t0
    print(
        f"  a booking every day: mark_period (next-close fills)"
        f" {timed['mark_period'] / args.days * 1e3:.2f} ms a day,"
        f" {timed['mark_period'] / timed['mark_day']:.2f}x mark_day's"
        f" {timed['mark_day'] / args.days * 1e3:.2f} ms"
    )
    if args.record:
        _record(args.record, n)
    return 0


def _record(days: int, n: int) -> None:
    """Write ``days`` paper days of one book; time the verifying read against a plain read."""
    import dataclasses
    import os
    import tempfile
    from contextlib import closing

    import pandas as pd

    from governance.decisions.context import RunContext
    from governance.ground.artifacts import ArtifactStore
    from governance.ground.refs import ModelRef
    from governance.ground.vocabulary import Action, Subject
    from governance.ground.workspace import Workspace
    from governance.identity.users import SYSTEM_ACTOR
    from governance.log.ledger import Ledger
    from tasks.portfolio.paper_record import latest_booking, read_record, record_booking
    from tasks.portfolio.paper_record import record_mark as write_mark

    rng = np.random.default_rng(1)
    assets = pd.Index([f"A{i:03d}" for i in range(n)])
    home = Path(tempfile.mkdtemp(prefix="bench-paper-"))
    os.environ["ALPHAGATE_WITNESS"] = str(home / "witness")
    ws = Workspace(home / "home").ensure()
    day0 = pd.Timestamp("2026-01-02")
    t0 = time.perf_counter()
    with closing(RunContext.open(ws, actor=SYSTEM_ACTOR, run_key="bench")) as run:
        for i in range(days + 1):
            ctx = dataclasses.replace(run, run_key=f"bench-{i}")
            day = str((day0 + pd.offsets.BDay(i)).date())
            booking = latest_booking(ctx.ledger, ctx.store, ModelRef("bench", 1), 0)
            held = pd.Series(0.0, index=assets)
            if booking is not None:
                r = pd.Series(rng.normal(0.0003, 0.015, n), index=assets)
                write_mark(ctx, ModelRef("bench", 1), booking, day, r, 5e-4, None)
                held = booking.target
            target = pd.Series(rng.dirichlet(np.ones(n)), index=assets)
            scores = pd.Series(rng.normal(size=n), index=assets)
            record_booking(ctx, ModelRef("bench", 1), day, scores=scores, held=held, target=target,
                           half_spread=5e-4, impact=None, source="model", reasons=[],
                           model_hash=None)  # fmt: skip
    written = time.perf_counter() - t0
    with Ledger.open(ws) as ledger:
        store = ArtifactStore.of(ws)
        t0 = time.perf_counter()
        record = read_record(ledger, store, ModelRef("bench", 1), 0)
        verified = time.perf_counter() - t0
        t0 = time.perf_counter()
        subject = Subject.model("bench", 1)
        for action in (Action.PAPER_BOOKED, Action.PAPER_MARKED):
            for e in ledger.entries(action=action, subject=subject):
                for sha in e.payload["artifacts"].values():
                    store.read_json(sha)
        plain = time.perf_counter() - t0
    print(
        f"paper record of {days} days x {n} assets: written {written / days * 1e3:.1f} ms a day"
        f" (booking + mark, ledger and store); graduation's verifying read of"
        f" {len(record.marks)} marks {verified:.3f} s ({verified / plain:.2f}x a plain read of"
        f" the same entries and artifacts, {plain:.3f} s)"
    )


if __name__ == "__main__":
    raise SystemExit(main())
