"""Fills: read them (FIX ExecutionReports or CSV), reconcile them against the orders, and
the holdings they leave.

A fills file is either FIX (its first bytes are ``8=FIX``: one ExecutionReport, 35=8,
per line; :mod:`tasks.orders.fix`) or a CSV with the columns :data:`CSV_COLUMNS`
(``exec_id`` optional: the line number stands in). Every line is checked before anything
is used: a malformed line (bad framing, BodyLength, CheckSum, a missing or unparsable
field, a repeated execution id) raises :class:`InputError` naming the file and the line,
and nothing of the file is imported. Only trades count (ExecType F); other execution
reports (new, cancelled, ...) are read and skipped.

:func:`reconcile` compares the fills with the orders: ``unfilled``, ``partial``,
``filled``, ``overfilled`` per order; fills of unknown order ids and fills whose side,
account or asset differ from their order are findings. Positions move by what was filled
on known orders, on the side it was filled (that is what the account holds).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from governance.ground.errors import InputError
from tasks.orders.fix import SIDE_OF, frame_problem, parse_message

CSV_COLUMNS = ("order_id", "account", "asset", "side", "quantity", "price")
FILL_FIELDS = ["order_id", "exec_id", "account", "asset", "side", "quantity", "price"]
#: read_fills adds ``line``: where each fill was read (``<file>: line <n>``).
#: FIX tags of a fill: ClOrdID, ExecID, Account, Symbol, Side, LastQty, LastPx.
FIX_TAGS = {11: "order_id", 17: "exec_id", 1: "account", 55: "asset", 54: "side", 32: "quantity",
            31: "price"}  # fmt: skip


def _fill(where: str, raw: dict) -> dict:
    """One checked fill from text fields (``where`` names the file and line)."""
    row = {}
    for name in FILL_FIELDS:
        text = (raw.get(name) or "").strip()
        if not text:
            raise InputError(f"{where}: {name} is missing")
        row[name] = text
    side = row["side"].lower()
    if side not in ("buy", "sell"):
        raise InputError(f"{where}: side {row['side']!r} is not buy or sell")
    row["side"] = side
    if not row["quantity"].isdigit() or int(row["quantity"]) <= 0:
        raise InputError(f"{where}: quantity {row['quantity']!r} is not a positive integer")
    row["quantity"] = int(row["quantity"])
    try:
        price = float(row["price"])
    except ValueError:
        price = float("nan")
    if not np.isfinite(price) or price <= 0:
        raise InputError(f"{where}: price {row['price']!r} is not a positive number")
    row["price"] = price
    return row


def _fix_rows(path: Path, data: bytes) -> list[dict]:
    rows = []
    for n, line in enumerate(data.split(b"\n"), start=1):
        raw = line.rstrip(b"\r")
        if not raw.strip():
            continue
        where = f"{path}: line {n}"
        problem = frame_problem(raw)
        msg = parse_message(raw) if problem is None else None
        if problem is None and msg is None:
            problem = "not a whole FIX message"
        if problem:
            raise InputError(f"{where}: {problem}")
        if msg.get(35) != b"8":
            raise InputError(f"{where}: MsgType {msg.get(35)!r} is not an ExecutionReport (8)")
        if msg.get(150) != b"F":
            continue  # not a trade
        fields = {}
        for tag, name in FIX_TAGS.items():
            value = msg.get(tag)
            try:
                fields[name] = None if value is None else value.decode("ascii")
            except UnicodeDecodeError as exc:
                raise InputError(f"{where}: tag {tag} is not ASCII") from exc
        side = fields.get("side")
        fields["side"] = SIDE_OF.get(side or "", side)
        rows.append((where, fields))
    return rows


def _csv_rows(path: Path, data: bytes) -> list[tuple[str, dict]]:
    try:
        frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"{path}: not a FIX file nor a readable CSV ({exc})") from exc
    missing = [c for c in CSV_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
    rows = []
    for n, rec in enumerate(frame.to_dict(orient="records"), start=2):
        rec.setdefault("exec_id", f"line-{n}")
        rows.append((f"{path}: line {n}", rec))
    return rows


def read_fills(path: str | Path) -> pd.DataFrame:
    """Every fill of a FIX or CSV fills file (:data:`FILL_FIELDS` and ``line``), checked
    line by line.

    Raises
    ------
    InputError
        The file is missing or unreadable, or a line is malformed (named), or an execution
        id repeats: nothing is returned, so nothing is half-imported.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    rows = _fix_rows(path, data) if data.lstrip().startswith(b"8=FIX") else _csv_rows(path, data)
    fills, seen = [], {}
    for where, raw in rows:
        row = {**_fill(where, raw), "line": where}
        if row["exec_id"] in seen:
            raise InputError(f"{where}: exec_id {row['exec_id']} repeats {seen[row['exec_id']]}")
        seen[row["exec_id"]] = where.rsplit(": ", 1)[-1]
        fills.append(row)
    frame = pd.DataFrame(fills, columns=[*FILL_FIELDS, "line"])
    return frame.astype({"quantity": np.int64, "price": float})


@dataclass(frozen=True)
class Reconciliation:
    """Fills against orders.

    Attributes
    ----------
    orders : DataFrame
        ``order_id, account, asset, side, quantity, filled, avg_price, status``.
    findings : list of dict
        ``{"check", "order_id", "exec_id", "detail"}``: ``unknown_order``, ``wrong_side``,
        ``wrong_account``, ``wrong_asset``, ``overfilled``, ``unfilled``, ``partial``.
    applied : DataFrame
        The fills that move positions (known order ids), with their order's account and
        asset.
    """

    orders: pd.DataFrame
    findings: list[dict] = field(default_factory=list)
    applied: pd.DataFrame = field(default_factory=pd.DataFrame)

    def counts(self) -> dict[str, int]:
        return self.orders["status"].value_counts().to_dict() if len(self.orders) else {}


def reconcile(orders: pd.DataFrame, fills: pd.DataFrame) -> Reconciliation:
    """Reconcile ``fills`` (all fills so far of this order set) against ``orders``."""
    known = orders.set_index("order_id")
    findings = []
    mine = fills["order_id"].isin(known.index).to_numpy()
    for f in fills[~mine].to_dict("records"):
        findings.append(
            {"check": "unknown_order", "order_id": f["order_id"], "exec_id": f["exec_id"],
             "detail": f"{f['side']} {f['quantity']} {f['asset']} for {f['account']}"}
        )  # fmt: skip
    applied = fills[mine].reset_index(drop=True)
    ref = known.loc[applied["order_id"]]
    for name in ("side", "account", "asset"):
        bad = applied[name].to_numpy() != ref[name].to_numpy()
        for f, want in zip(applied[bad].to_dict("records"), ref[name][bad], strict=True):
            findings.append(
                {"check": f"wrong_{name}", "order_id": f["order_id"], "exec_id": f["exec_id"],
                 "detail": f"order {name} {want}, fill {name} {f[name]}"}
            )  # fmt: skip
    applied = applied.assign(account=ref["account"].to_numpy(), asset=ref["asset"].to_numpy())
    q = applied["quantity"].to_numpy()
    agg = pd.DataFrame({"id": applied["order_id"], "q": q, "v": q * applied["price"]})
    agg = agg.groupby("id")[["q", "v"]].sum()
    out = orders[["order_id", "account", "asset", "side", "quantity"]].copy()
    out["filled"] = out["order_id"].map(agg["q"]).fillna(0).astype(np.int64)
    out["avg_price"] = out["order_id"].map(agg["v"] / agg["q"])
    out["status"] = np.select(
        [out["filled"] == 0, out["filled"] < out["quantity"], out["filled"] == out["quantity"]],
        ["unfilled", "partial", "filled"],
        "overfilled",
    )
    for o in out[out["status"] != "filled"].to_dict("records"):
        findings.append(
            {"check": o["status"], "order_id": o["order_id"], "exec_id": "",
             "detail": f"{o['filled']} of {o['quantity']} {o['asset']} for {o['account']}"}
        )  # fmt: skip
    return Reconciliation(out.reset_index(drop=True), findings, applied)


def positions_after(held: pd.DataFrame, applied: pd.DataFrame) -> pd.DataFrame:
    """``account, asset, shares`` once ``applied`` fills are added to ``held``."""
    signed = np.where(applied["side"] == "buy", 1, -1) * applied["quantity"].to_numpy()
    moves = pd.DataFrame(
        {"account": applied["account"], "asset": applied["asset"], "shares": signed}
    )
    both = pd.concat([held[["account", "asset", "shares"]], moves], ignore_index=True)
    total = both.groupby(["account", "asset"], sort=True)["shares"].sum().reset_index()
    total["shares"] = total["shares"].astype(np.int64)
    return total[total["shares"] != 0].reset_index(drop=True)
