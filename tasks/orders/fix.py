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

from concurrent.futures import ProcessPoolExecutor
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


def _header(msg_type: str, seq: int, sender: str, target: str, stamp: str):
    msg = simplefix.FixMessage()
    msg.append_pair(8, BEGIN, header=True)
    msg.append_pair(35, msg_type, header=True)
    msg.append_pair(49, sender, header=True)
    msg.append_pair(56, target, header=True)
    msg.append_pair(34, seq, header=True)
    msg.append_pair(52, stamp, header=True)
    return msg


def _order_fields(msg, o: dict, stamp: str) -> None:
    msg.append_pair(1, o["account"])
    msg.append_pair(55, o["asset"])
    msg.append_pair(54, SIDE[o["side"]])
    msg.append_pair(60, stamp)
    msg.append_pair(38, int(o["quantity"]))
    if o["order_type"] == "LMT":
        msg.append_pair(40, "2")
        msg.append_pair(44, f"{o['limit_price']:.4f}")
        msg.append_pair(59, "0")
    else:
        msg.append_pair(40, "1")
        msg.append_pair(59, "7")
    msg.append_pair(15, o["currency"])


def _singles(job: tuple) -> list[bytes]:
    """NewOrderSingles of ``rows``, numbered from ``first`` (one worker's share)."""
    rows, first, sender, target, stamp = job
    out = []
    for seq, o in enumerate(rows, start=first):
        msg = _header("D", seq, sender, target, stamp)
        msg.append_pair(11, o["order_id"])
        msg.append_pair(21, "1")  # HandlInst: automated, no broker intervention
        _order_fields(msg, o, stamp)
        out.append(msg.encode())
    return out


def _lists(job: tuple) -> list[bytes]:
    """NewOrderLists, one per account group, numbered from ``first``."""
    groups, first, sender, target, stamp = job
    out = []
    for seq, (account, group) in enumerate(groups, start=first):
        msg = _header("E", seq, sender, target, stamp)
        msg.append_pair(66, f"{group[0]['order_id'].split('-')[0]}-{account}")
        msg.append_pair(394, "3")
        msg.append_pair(68, len(group))
        msg.append_pair(73, len(group))
        for n, o in enumerate(group, start=1):
            msg.append_pair(11, o["order_id"])
            msg.append_pair(67, n)
            _order_fields(msg, o, stamp)
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
    (52) and TransactTime (60) (default now, UTC). ``workers`` > 1 encodes contiguous
    shares of the messages in that many spawned processes (simplefix encodes in Python:
    about 70 us a message), numbered as one file.
    """
    stamp = _stamp(at or datetime.now(UTC))
    columns = ["order_id", "account", "asset", "side", "quantity", "order_type",
               "limit_price", "currency"]  # fmt: skip
    rows = [
        dict(zip(columns, r, strict=True)) for r in zip(*(orders[c] for c in columns), strict=True)
    ]
    if basket:
        by_account: dict[str, list[dict]] = {}
        for o in rows:
            by_account.setdefault(o["account"], []).append(o)
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
