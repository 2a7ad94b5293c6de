"""FIX 4.4 messages with simplefix: orders out, execution reports in.

A FIX file holds one message per line (``\\n`` between messages, SOH inside them), as FIX
logs do, so a reader can name the line of a bad message. simplefix computes BodyLength
(9) and CheckSum (10) when it encodes; :func:`frame_problem` checks both on the way in.

Orders (:func:`order_messages`): one NewOrderSingle (35=D) per order, or, for a basket,
one NewOrderList (35=E, BidType 3 "no bidding process") per account. A market-on-close
order is OrdType 1 with TimeInForce 7 (At the Close: FIX 4.4 retired OrdType 5); a limit
order is OrdType 2 with Price (44), TimeInForce 0 (Day).

Execution reports (:func:`execution_report`, 35=8, ExecType F "trade"): ClOrdID (11),
ExecID (17), Account (1), Symbol (55), Side (54), LastQty (32), LastPx (31), OrderQty
(38), CumQty (14), LeavesQty (151), AvgPx (6), OrdStatus (39: 1 partial, 2 filled).
"""

from __future__ import annotations

import copy
import gc
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from multiprocessing import get_context

import pandas as pd
import simplefix

BEGIN = "FIX.4.4"
SIDE = {"buy": "1", "sell": "2"}
SIDE_OF = {v: k for k, v in SIDE.items()}
SOH = b"\x01"


def _stamp(at: datetime) -> str:
    """A FIX UTCTimestamp with milliseconds (formatted once per file)."""
    probe = simplefix.FixMessage()
    probe.append_utc_timestamp(52, at, precision=3)
    return probe.get(52).decode()


def _envelope(msg_type: str, sender: str, target: str):
    """A message holding the header pairs every message of a file shares (8, 35, 49, 56)."""
    msg = simplefix.FixMessage()
    for tag, value in ((8, BEGIN), (35, msg_type), (49, sender), (56, target)):
        msg.append_pair(tag, value, header=True)
    return msg


def _header(msg_type: str, seq: int, sender: str, target: str, stamp):
    msg = _envelope(msg_type, sender, target)
    msg.append_pair(34, seq, header=True)
    msg.append_pair(52, stamp, header=True)
    return msg


def _ascii(values: pd.Series) -> list[bytes]:
    return [str(v).encode() for v in values.tolist()]


def _kinds(orders: pd.DataFrame) -> list[tuple]:
    """Per order, its OrdType pairs: (40, 59) for market on close, (40, 44, 59) for a
    limit (Price with four decimals)."""
    moc = ((b"40", b"1"), (b"59", b"7"))
    return [
        ((b"40", b"2"), (b"44", b"%.4f" % price), (b"59", b"0")) if kind == "LMT" else moc
        for kind, price in zip(orders["order_type"].tolist(), orders["limit_price"].tolist(),
                               strict=True)
    ]  # fmt: skip


def _rows(orders: pd.DataFrame) -> list[tuple]:
    """Per order ``(ClOrdID, Account, Symbol, Side, OrderQty, OrdType pairs, Currency)``
    as the bytes simplefix stores, converted column by column (simplefix then skips its
    per-value conversions)."""
    return list(
        zip(
            _ascii(orders["order_id"]), _ascii(orders["account"]), _ascii(orders["asset"]),
            [SIDE[s].encode() for s in orders["side"].tolist()],
            [b"%d" % q for q in orders["quantity"].tolist()],
            _kinds(orders), _ascii(orders["currency"]),
            strict=True,
        )
    )  # fmt: skip


def _order_fields(append, row: tuple, stamp: bytes) -> None:
    _, account, asset, side, quantity, kind, currency = row
    append(b"1", account)
    append(b"55", asset)
    append(b"54", side)
    append(b"60", stamp)
    append(b"38", quantity)
    for tag, value in kind:
        append(tag, value)
    append(b"15", currency)


@contextmanager
def _no_gc():
    """The cyclic garbage collector paused: an encoding allocates hundreds of thousands of
    acyclic tuples and bytes, and each generation-0 pass would walk them for nothing."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _singles(job: tuple) -> list[bytes]:
    """NewOrderSingles of ``rows``, numbered from ``first`` (one worker's share). The four
    header pairs every message shares are appended once to a template; each message starts
    from a copy of its pairs (simplefix has no copy of its own)."""
    rows, first, sender, target, stamp = job
    stamp = stamp.encode()
    template = _envelope("D", sender, target)
    out = []
    with _no_gc():
        for seq, row in enumerate(rows, start=first):
            msg = copy.copy(template)
            msg.pairs = template.pairs.copy()
            append = msg.append_pair
            append(b"34", b"%d" % seq, header=True)
            append(b"52", stamp, header=True)
            append(b"11", row[0])
            append(b"21", b"1")  # HandlInst: automated, no broker intervention
            _order_fields(append, row, stamp)
            out.append(msg.encode())
    return out


def _lists(job: tuple) -> list[bytes]:
    """NewOrderLists, one per account group, numbered from ``first``."""
    groups, first, sender, target, stamp = job
    stamp = stamp.encode()
    out = []
    with _no_gc():
        for seq, (account, group) in enumerate(groups, start=first):
            msg = _header("E", seq, sender, target, stamp)
            append = msg.append_pair
            append(b"66", group[0][0].split(b"-")[0] + b"-" + account)
            append(b"394", b"3")
            append(b"68", b"%d" % len(group))
            append(b"73", b"%d" % len(group))
            for n, row in enumerate(group, start=1):
                append(b"11", row[0])
                append(b"67", b"%d" % n)
                _order_fields(append, row, stamp)
            out.append(msg.encode())
    return out


def order_messages(
    orders: pd.DataFrame,
    *,
    sender: str = "ALPHAGATE",
    target: str = "OMS",
    basket: bool = False,
    at: datetime | None = None,
    workers: int = 1,
) -> bytes:
    """The FIX file of an order set: NewOrderSingle per order, or NewOrderList per account.

    ``orders`` has :data:`tasks.orders.orders.ORDER_COLUMNS`; ``at`` stamps SendingTime
    (52) and TransactTime (60) (default now, UTC; formatted once per file). ``workers`` > 1
    encodes contiguous shares of the messages in that many spawned processes, numbered as
    one file. Every message is built and framed by simplefix (``append_pair``,
    ``encode``); bench/bench_orders.py measures it.
    """
    stamp = _stamp(at or datetime.now(UTC))
    rows = _rows(orders)
    if basket:
        by_account: dict[bytes, list[tuple]] = {}
        for row in rows:
            by_account.setdefault(row[1], []).append(row)
        items, encode = list(by_account.items()), _lists
    else:
        items, encode = rows, _singles
    size = -(-len(items) // max(1, workers)) or 1
    jobs = [(items[i : i + size], i + 1, sender, target, stamp) for i in range(0, len(items), size)]
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(len(jobs), mp_context=get_context("spawn")) as pool:
            parts = list(pool.map(encode, jobs))
    else:
        parts = [encode(job) for job in jobs]
    out = [m for part in parts for m in part]
    return b"\n".join(out) + (b"\n" if out else b"")


def execution_report(
    fill: dict, seq: int, *, sender: str = "BROKER", target: str = "ALPHAGATE", at=None
) -> bytes:
    """One ExecutionReport (35=8) for ``fill``: ``order_id, exec_id, account, asset, side,
    quantity`` (this fill), ``price``, ``order_qty``, ``cum_qty``, ``avg_px``."""
    msg = _header("8", seq, sender, target, _stamp(at or datetime.now(UTC)))
    msg.append_pair(37, fill["order_id"])
    msg.append_pair(11, fill["order_id"])
    msg.append_pair(17, fill["exec_id"])
    msg.append_pair(150, "F")
    done = int(fill["cum_qty"]) >= int(fill["order_qty"])
    msg.append_pair(39, "2" if done else "1")
    msg.append_pair(1, fill["account"])
    msg.append_pair(55, fill["asset"])
    msg.append_pair(54, SIDE[fill["side"]])
    msg.append_pair(38, int(fill["order_qty"]))
    msg.append_pair(32, int(fill["quantity"]))
    msg.append_pair(31, f"{fill['price']:.6f}")
    msg.append_pair(14, int(fill["cum_qty"]))
    msg.append_pair(151, max(0, int(fill["order_qty"]) - int(fill["cum_qty"])))
    msg.append_pair(6, f"{fill['avg_px']:.6f}")
    return msg.encode()


def frame_problem(raw: bytes) -> str | None:
    """What is wrong with one encoded message's framing, or None: it begins with
    ``8=FIX.4.4``, BodyLength (9) counts the bytes after its own field up to the CheckSum
    field, and CheckSum (10) is the byte sum modulo 256 of everything before it."""
    head = f"8={BEGIN}".encode() + SOH + b"9="
    if not raw.startswith(head):
        return f"does not begin with 8={BEGIN}|9="
    end_len = raw.find(SOH, len(head))
    tail = raw.rfind(SOH + b"10=")
    if end_len < 0 or tail < 0 or not raw.endswith(SOH) or len(raw) - tail != 8:
        return "no BodyLength or CheckSum field"
    declared = raw[len(head) : end_len]
    if not declared.isdigit() or int(declared) != tail + 1 - (end_len + 1):
        return f"BodyLength {declared.decode(errors='replace')} is wrong"
    checksum = raw[tail + 4 : -1]
    if not checksum.isdigit() or int(checksum) != sum(raw[: tail + 1]) % 256:
        return f"CheckSum {checksum.decode(errors='replace')} is wrong"
    return None


def parse_message(raw: bytes) -> simplefix.FixMessage | None:
    """simplefix's reading of one framed message (None when it finds no whole message)."""
    parser = simplefix.FixParser()
    parser.append_buffer(raw)
    return parser.get_message()
