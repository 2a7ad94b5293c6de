"""A paper record on a planted market, written through the production writers
(tasks/portfolio/paper_record.py, tasks/portfolio/backtest.py) by the process's context.

The version's scores are the market's planted characteristic (tasks/data/synthetic.py; its
one-day rank IC is stated in tests/test_graduation.py), its book each day the top
quintile of the scores, equally weighted: what is under test here is the paper record and
the graduation gate, not the optimiser (the rebalance flow's paper stage books through the
optimiser and its gates: tests/test_paper_flow.py).
"""

from __future__ import annotations

import itertools
from contextlib import closing

import numpy as np
import pandas as pd

from governance.decisions.context import RunContext
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action, Subject
from governance.identity.users import SYSTEM_ACTOR
from tasks.data.synthetic import SyntheticSpec, generate_market, planted_characteristic
from tasks.portfolio.backtest import (
    MODEL,
    BacktestResult,
    one_day_rank_ic,
    performance_metrics,
    store_backtest,
    store_promise,
)
from tasks.portfolio.paper import mark_day
from tasks.portfolio.paper_record import latest_booking, record_booking, record_mark

HOLDOUT = (700, 900)  # the days validation judged
PAPER_START = 900
HALF_SPREAD = 5e-4  # 5 bp, the demo config's


def market(seed: int, flip: bool):
    """``(close, scores)``: dates × assets of a planted market (flip at the paper start)."""
    spec = SyntheticSpec(n_assets=100, n_days=1000, ic=0.20, seed=seed,
                         flip_day=PAPER_START if flip else None)  # fmt: skip
    long = generate_market(spec)
    close = long.pivot(index="date", columns="asset", values="close").sort_index()
    return close, planted_characteristic(long).reindex(index=close.index, columns=close.columns)


def top_quintile(scores: pd.Series) -> pd.Series:
    s = scores.dropna()
    top = s[s >= s.quantile(0.8)].index
    return pd.Series(1.0 / len(top), index=top).reindex(scores.index).fillna(0.0)


def write_promise(ctx, name: str, version, close: pd.DataFrame, scores: pd.DataFrame):
    """``backtest.completed`` of the holdout: the top-quintile book rebalanced daily (the
    backtest's rule), its daily net return, and the one-day rank IC."""
    days = close.index[HOLDOUT[0] : HOLDOUT[1]]
    rets = close.pct_change(fill_method=None)
    held = np.zeros(close.shape[1])
    net = []
    for prev, day in itertools.pairwise(days):
        m = mark_day(held, top_quintile(scores.loc[prev]).to_numpy(), rets.loc[day].to_numpy(),
                     HALF_SPREAD)  # fmt: skip
        held = m.held
        net.append(float(m.net))
    returns = pd.DataFrame({MODEL: net}, index=days[1:])
    per = pd.DataFrame({MODEL: [0.0]}, index=days[:1])
    result = BacktestResult(
        metrics={MODEL: performance_metrics(returns[MODEL], per[MODEL], per[MODEL])},
        returns=returns, weights=pd.DataFrame(index=days[:1]), turnover=per, costs=per,
        solve_seconds=pd.Series([0.0], index=days[:1]), events=(), plots={},
    )  # fmt: skip
    artifacts = store_backtest(ctx.store, result)
    artifacts.update(store_promise(ctx.store, one_day_rank_ic(scores.loc[days], close)))
    return ctx.record(Action.BACKTEST_COMPLETED, subject=Subject.model(name, version),
                      payload=result.summary(), artifacts=artifacts)  # fmt: skip


def write_paper_days(ws, name: str, version, close, scores, since_seq: int, days: int,
                     start: int = PAPER_START) -> None:  # fmt: skip
    """``days`` marks (and ``days + 1`` bookings) from ``start``, one process run per day."""
    import dataclasses

    ref = ModelRef.parse(name, version)
    with closing(RunContext.open(ws, actor=SYSTEM_ACTOR, run_key="paper")) as run:
        for i in range(start, start + days + 1):
            day = close.index[i]
            ctx = dataclasses.replace(run, run_key=f"paper-{i}")  # one process run a day
            booking = latest_booking(ctx.ledger, ctx.store, ref, since_seq)
            if booking is not None and booking.asof >= str(day.date()):
                continue  # booked on this close already (as flows/paper_stage.py)
            held = pd.Series(0.0, index=close.columns)
            if booking is not None:
                r = close.loc[day] / close.loc[pd.Timestamp(booking.asof)] - 1.0
                record_mark(ctx, ref, booking, str(day.date()), r, HALF_SPREAD, None)
                held = booking.target
            target = top_quintile(scores.loc[day])
            record_booking(ctx, ref, str(day.date()), scores=scores.loc[day],
                           held=held, target=target, half_spread=HALF_SPREAD, impact=None,
                           source="model", reasons=[], model_hash=None)  # fmt: skip


def paper_record(ws, name: str, version, *, seed: int, flip: bool, days: int,
                 start: int = PAPER_START) -> None:  # fmt: skip
    """The holdout promise (once) and the paper days ``start ..= start + days`` of the
    version (in paper already): ``days`` marks when it starts the record."""
    from governance.decisions.paper import entered
    from governance.log.ledger import Ledger

    close, scores = market(seed, flip)
    with Ledger.open(ws) as ledger:
        since = entered(ledger, ModelRef.parse(name, version)).seq
        promised = ledger.last(
            action=Action.BACKTEST_COMPLETED, subject=Subject.model(name, version)
        )
    if promised is None:
        with closing(
            RunContext.open(ws, actor=SYSTEM_ACTOR, run_key=f"bt-{name}-{version}")
        ) as ctx:
            write_promise(ctx, name, version, close, scores)
    write_paper_days(ws, name, version, close, scores, since, days, start)
