"""The paper record: its one writer and its one verifying reader (issue 24).

While a version is in paper (governance/decisions/paper.py), every rebalance books its paper
portfolio and marks the previous booking (flows/paper_stage.py), in two kinds of ledger
entries recorded by the process, each carrying the hashes of the inputs it was computed from:

``paper.booked``  the day's paper portfolio: ``paper/scores.json`` (the version's scores),
                  ``paper/held.json`` (the paper book before the fill), ``paper/target.json``
                  (the optimiser's target, through the pre-trade and stress gates, or the
                  holdings when a gate refused it), ``paper/costs.json`` (half-spread and
                  impact at the booking: the cost model's estimate of the fill).
``paper.marked``  the period from a booking to the next close (:func:`mark_period`):
                  ``paper/returns.json`` (each asset's simple return over the period),
                  ``paper/costs.json`` (the cost inputs at the fill), ``paper/held.json``
                  (the book after the fill), and in the payload the booking's seq, the net
                  and gross return, the realised and estimated cost, turnover, the rank IC
                  of the booked scores against the period's returns.

:func:`read_record` is the evidence graduation reads: it re-hashes every input, recomputes
every mark from its inputs with the same functions, and checks the chain (each mark marks
the latest booking once; each booking starts from the book its predecessor left). A mark
appended without inputs, a figure edited, an artifact rewritten, a booking out of the
chain: ``TamperDetected`` naming the entry (exit 3). What it cannot see: an insider who
fabricates a whole consistent chain of bookings, returns and marks in one go
(docs/governance.md).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from governance.ground.errors import TamperDetected
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from governance.identity.users import SYSTEM_ACTOR
from tasks.model.stats import cross_section_ic
from tasks.portfolio.costs import asset_costs
from tasks.portfolio.paper import mark_day, mark_period

__all__ = ["Booking", "PaperRecord", "read_record", "record_booking", "record_mark"]

#: Recomputed figures agree with the recorded ones to this (both come from the same
#: functions on the same JSON-exact inputs: any difference is an edit, not rounding).
EXACT = 1e-12
FIGURES = ("net_return", "gross_return", "cost", "cost_estimate", "turnover", "rank_ic")


def _vector(s: pd.Series) -> dict:
    values = [None if not math.isfinite(v) else float(v) for v in s.to_numpy(dtype=float)]
    return {"assets": [str(a) for a in s.index], "values": values}  # NaN: null in JSON


def _series(obj: dict) -> pd.Series:
    return pd.Series(obj["values"], index=_index(tuple(obj["assets"])), dtype=float)


@functools.lru_cache(maxsize=64)
def _index(assets: tuple[str, ...]) -> pd.Index:
    """One index per universe: a record reads the same assets in every artifact."""
    return pd.Index(assets)


def _costs(half_spread: float, impact: pd.Series | None, assets: pd.Index) -> dict:
    imp = None if impact is None else [float(v) for v in impact.reindex(assets).fillna(0.0)]
    return {"assets": [str(a) for a in assets], "half_spread": float(half_spread), "impact": imp}


def _cost(trade: np.ndarray, costs: dict) -> float:
    imp = None if costs["impact"] is None else np.asarray(costs["impact"], dtype=float)
    return float(asset_costs(trade, costs["half_spread"], imp).sum())


@dataclass(frozen=True)
class Booking:
    """One paper booking, read back from its entry and verified artifacts."""

    seq: int
    asof: str
    scores: pd.Series
    held: pd.Series
    target: pd.Series
    costs: dict

    @property
    def cost_estimate(self) -> float:
        """The cost model's estimate of the fill at the booking (held -> target)."""
        return _cost((self.target - self.held).to_numpy(), self.costs)


def _figures(booking: Booking, returns: pd.Series, costs: dict) -> tuple[dict, pd.Series]:
    """The mark of ``booking`` over a period with ``returns`` and fill ``costs``."""
    assets = booking.target.index
    r = returns.reindex(assets).to_numpy(dtype=float)
    imp = None if costs["impact"] is None else np.asarray(costs["impact"], dtype=float)
    m = mark_period(booking.held.to_numpy(), booking.target.to_numpy(), r,
                    costs["half_spread"], imp)  # fmt: skip
    s = booking.scores.reindex(assets).to_numpy(dtype=float)
    figures = {
        "net_return": float(m.net),
        "gross_return": float(m.gross),
        "cost": float(m.cost),
        "cost_estimate": booking.cost_estimate,
        "turnover": float(m.turnover),
        "rank_ic": cross_section_ic(s, r),  # None: too few assets priced
    }
    return figures, pd.Series(m.held, index=assets)


def _process(ctx):
    """The context recording as the process (``system``): a paper entry is a computed fact,
    not a person's act; who ran the flow is in its ``run.started`` entry."""
    import dataclasses

    return dataclasses.replace(ctx, actor=SYSTEM_ACTOR, role="system")


def record_booking(ctx, ref: ModelRef, asof: str, *, scores: pd.Series, held: pd.Series,
                   target: pd.Series, half_spread: float, impact: pd.Series | None,
                   source: str, reasons: list[str], model_hash: str | None):  # fmt: skip
    """Record ``paper.booked`` for the version ``ref`` (module doc); ``held`` and ``target``
    on the same assets."""
    assets = target.index
    held = held.reindex(assets).fillna(0.0)
    store = ctx.store
    costs = _costs(half_spread, impact, assets)
    artifacts = {
        "paper/scores.json": store.put_json(_vector(scores.reindex(assets))),
        "paper/held.json": store.put_json(_vector(held)),
        "paper/target.json": store.put_json(_vector(target)),
        "paper/costs.json": store.put_json(costs),
    }
    estimate = _cost((target - held).to_numpy(), costs)
    payload = {"model_name": ref.name, "model_version": ref.version_text, "as_of": asof,
               "source": source, "reasons": reasons, "cost_estimate": estimate,
               "model_artifact_hash": model_hash}  # fmt: skip
    return _process(ctx).record(
        Action.PAPER_BOOKED, subject=ref.subject, payload=payload,
        artifacts=artifacts,
    )  # fmt: skip


def record_mark(ctx, ref: ModelRef, booking: Booking, asof: str, returns: pd.Series,
                half_spread: float, impact: pd.Series | None):  # fmt: skip
    """Mark the version ``ref``'s ``booking`` up to ``asof`` (the fill at ``asof``'s close) and record
    ``paper.marked`` with its inputs (module doc)."""
    store = ctx.store
    assets = booking.target.index
    costs = _costs(half_spread, impact, assets)
    rets = returns.reindex(assets).fillna(0.0)
    figures, after = _figures(booking, rets, costs)
    artifacts = {
        "paper/returns.json": store.put_json(_vector(rets)),
        "paper/costs.json": store.put_json(costs),
        "paper/held.json": store.put_json(_vector(after)),
    }
    payload = {"model_name": ref.name, "model_version": ref.version_text, "as_of": asof,
               "since": booking.asof, "booking_seq": booking.seq, **figures}  # fmt: skip
    return _process(ctx).record(
        Action.PAPER_MARKED, subject=ref.subject, payload=payload,
        artifacts=artifacts,
    )  # fmt: skip


def booking_of(store, entry) -> Booking:
    """A ``paper.booked`` entry's booking (artifacts re-hashed: ``TamperDetected``)."""
    a = entry.payload.get("artifacts") or {}
    need = ("paper/scores.json", "paper/held.json", "paper/target.json", "paper/costs.json")
    if any(k not in a for k in need):
        raise TamperDetected(f"paper record: booking seq {entry.seq} lacks its inputs")
    return Booking(
        entry.seq, str(entry.payload.get("as_of")),
        _series(store.read_json(a["paper/scores.json"])),
        _series(store.read_json(a["paper/held.json"])),
        _series(store.read_json(a["paper/target.json"])),
        store.read_json(a["paper/costs.json"]),
    )  # fmt: skip


@dataclass(frozen=True)
class PaperRecord:
    """The verified paper record of a version: one row per mark (indexed by ``as_of``) with
    :data:`FIGURES`, ``backtest_net`` (the backtest's rule over the same periods: the
    booked target filled at the booking's close, :func:`mark_day`) and ``from_cash`` (the
    period began with the book in cash: its build), the bookings' seqs."""

    marks: pd.DataFrame
    bookings: tuple[int, ...]
    last_seq: int


def latest_booking(ledger, store, ref: ModelRef, since_seq: int) -> Booking | None:
    """The version ``ref``'s latest booking after ``since_seq`` (None: none yet)."""
    found = ledger.entries(action=Action.PAPER_BOOKED, subject=ref.subject, after_seq=since_seq)
    return booking_of(store, found[-1]) if found else None


def latest_mark(ledger, ref: ModelRef, since_seq: int):
    """The version ``ref``'s latest ``paper.marked`` entry after ``since_seq`` (None: none)."""
    found = ledger.entries(action=Action.PAPER_MARKED, subject=ref.subject, after_seq=since_seq)
    return found[-1] if found else None


def read_record(ledger, store, ref: ModelRef, since_seq: int) -> PaperRecord:
    """The version ``ref``'s paper record after ``since_seq`` (the ``model.paper`` entry), every mark
    recomputed from its verified inputs (module doc).

    Raises
    ------
    TamperDetected
        An entry not recorded by the process, an input missing or rewritten, a figure that
        does not recompute, a mark or booking out of the chain; the message names its seq.
    """
    subject = ref.subject
    entries = sorted(
        ledger.entries(action=Action.PAPER_BOOKED, subject=subject, after_seq=since_seq)
        + ledger.entries(action=Action.PAPER_MARKED, subject=subject, after_seq=since_seq),
        key=lambda e: e.seq,
    )
    book: pd.Series | None = None  # what the paper book holds (None: cash, nothing booked)
    current: Booking | None = None
    marked = True
    rows, bookings, bt_held = [], [], None
    for e in entries:
        if e.actor != SYSTEM_ACTOR:
            raise TamperDetected(f"paper record: seq {e.seq} was not recorded by the process")
        if e.action == Action.PAPER_BOOKED:
            b = booking_of(store, e)
            start = book if book is not None else pd.Series(0.0, index=b.target.index)
            if not np.allclose(b.held.reindex(start.index).to_numpy(), start.to_numpy(),
                               atol=EXACT, rtol=0.0):  # fmt: skip
                raise TamperDetected(
                    f"paper record: booking seq {e.seq} does not start from the marked book"
                )
            current, marked = b, False
            bookings.append(e.seq)
            continue
        p = e.payload
        if current is None or marked or p.get("booking_seq") != current.seq:
            raise TamperDetected(
                f"paper record: mark seq {e.seq} ({p.get('as_of')}) marks no open booking"
            )
        if str(p.get("as_of")) <= current.asof:
            raise TamperDetected(f"paper record: mark seq {e.seq} is not after its booking")
        a = p.get("artifacts") or {}
        need = ("paper/returns.json", "paper/costs.json", "paper/held.json")
        if any(k not in a for k in need):
            raise TamperDetected(f"paper record: mark seq {e.seq} lacks its inputs")
        returns = _series(store.read_json(a["paper/returns.json"]))
        figures, after = _figures(current, returns, store.read_json(a["paper/costs.json"]))
        recorded = _series(store.read_json(a["paper/held.json"])).reindex(after.index)
        bad = [
            k for k, v in figures.items()
            if not _same(v, p.get(k))
        ] + ([] if np.allclose(recorded, after, atol=EXACT, rtol=0.0) else ["held"])  # fmt: skip
        if bad:
            raise TamperDetected(
                f"paper record: mark seq {e.seq} ({p['as_of']}) does not recompute from its"
                f" inputs: {', '.join(bad)}"
            )
        # the backtest's rule over the same period: the target filled at the booking's close
        assets = current.target.index
        held0 = np.zeros(len(assets)) if bt_held is None else bt_held.reindex(assets).fillna(0.0)
        imp = current.costs["impact"]
        bt = mark_day(np.asarray(held0, dtype=float), current.target.to_numpy(),
                      returns.reindex(assets).to_numpy(), current.costs["half_spread"],
                      None if imp is None else np.asarray(imp, dtype=float))  # fmt: skip
        bt_held = pd.Series(bt.held, index=assets)
        from_cash = bool(np.all(current.held.to_numpy() == 0.0))
        rows.append({"as_of": str(p["as_of"]), "seq": e.seq, **figures,
                     "backtest_net": float(bt.net), "from_cash": from_cash})  # fmt: skip
        book, marked = after, True
    marks = pd.DataFrame(rows, columns=["as_of", "seq", *FIGURES, "backtest_net", "from_cash"])
    last = entries[-1].seq if entries else since_seq
    return PaperRecord(marks.set_index("as_of"), tuple(bookings), last)


def _same(a: float | None, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return isinstance(b, (int, float)) and abs(a - b) <= EXACT
