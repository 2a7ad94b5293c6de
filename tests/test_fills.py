"""Fills files (FIX ExecutionReports and CSV), their strict reading, and reconciliation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.ground.errors import InputError
from tasks.orders.fills import positions_after, read_fills, reconcile
from tasks.orders.instruments import default_instruments
from tasks.orders.orders import build_orders
from tasks.orders.paper import PaperBroker

BOOK = {"seq": 3, "hash": "feedfacecafebeef" * 4}


@pytest.fixture(scope="module")
def order_set():
    w = pd.Series({"A": 0.3, "B": 0.3, "C": 0.4})
    prices = pd.Series({"A": 10.0, "B": 25.0, "C": 40.0, "D": 9.0})
    table = default_instruments().for_assets(prices.index)
    held = {"main": pd.Series({"A": 5000, "D": 300})}  # sell 2,000 A and all D; buy B, C
    return build_orders({"main": w}, held, prices, table, 1e5, asof="d", book=BOOK)


@pytest.fixture(scope="module")
def fix_file(order_set, tmp_path_factory):
    close = pd.Series({"A": 10.1, "B": 24.9, "C": 40.2, "D": 9.1})
    fills = PaperBroker(half_spread=5e-4).execute(order_set.orders, close)
    path = tmp_path_factory.mktemp("fills") / "fills.fix"
    path.write_bytes(PaperBroker.reports(fills))
    return path, fills


def test_execution_reports_read_back_as_the_broker_wrote_them(fix_file):
    path, fills = fix_file
    got = read_fills(path)
    assert got["order_id"].tolist() == fills["order_id"].tolist()
    assert got["quantity"].tolist() == fills["quantity"].tolist()
    np.testing.assert_allclose(got["price"], fills["price"], rtol=1e-6)  # 6 decimals in 31=


def test_a_csv_of_fills_reads_the_same(fix_file, tmp_path):
    _, fills = fix_file
    path = tmp_path / "fills.csv"
    fills[["order_id", "exec_id", "account", "asset", "side", "quantity", "price"]].to_csv(
        path, index=False
    )
    got = read_fills(path)
    assert got["exec_id"].tolist() == fills["exec_id"].tolist()


def test_a_bad_checksum_names_its_line(fix_file, tmp_path):
    path, _ = fix_file
    lines = path.read_bytes().splitlines()
    lines[1] = lines[1][:-4] + b"000\x01" if not lines[1].endswith(b"=000\x01") else lines[1]
    bad = tmp_path / "bad.fix"
    bad.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(InputError, match=r"bad\.fix: line 2: CheckSum"):
        read_fills(bad)


@pytest.mark.parametrize(
    "row, message",
    [
        ("o1,e1,main,A,buy,ten,10.0", "line 3: quantity 'ten'"),
        ("o1,e1,main,A,hold,10,10.0", "line 3: side 'hold'"),
        ("o1,e1,main,A,buy,10,-1", "line 3: price '-1'"),
        ("o1,,main,A,buy,10,1", "line 3: exec_id is missing"),
        ("o1,e0,main,A,buy,10,1", "line 3: exec_id e0 repeats line 2"),
    ],
)
def test_a_malformed_csv_line_is_named(tmp_path, row, message):
    path = tmp_path / "f.csv"
    path.write_text(
        "order_id,exec_id,account,asset,side,quantity,price\no0,e0,main,A,buy,5,10\n" + row + "\n"
    )
    with pytest.raises(InputError, match=message):
        read_fills(path)


@settings(deadline=None)
@given(st.data())
def test_a_fuzzed_fix_file_is_read_whole_or_refused_naming_a_line(fix_file, tmp_path_factory, data):
    """Any byte of the file changed to any value is refused naming a line: the checksum
    covers every byte before it, its own three digits must match, and a changed line break
    joins or splits messages (their framing fails). The one change that reads the same is a
    line break turned into a carriage return (CRLF files are read too)."""
    path, _ = fix_file
    raw = bytearray(path.read_bytes())
    at = data.draw(st.integers(0, len(raw) - 1))
    before = raw[at]
    value = data.draw(st.integers(0, 255).filter(lambda v: v != before))
    raw[at] = value
    bad = tmp_path_factory.mktemp("fuzz") / "fuzz.fix"
    bad.write_bytes(bytes(raw))
    try:
        got = read_fills(bad)
    except InputError as exc:
        assert "fuzz.fix: line " in str(exc) or "fuzz.fix: not a FIX file" in str(exc)
    else:
        assert (before, value) == (ord("\n"), ord("\r")) and len(got) == len(fix_file[1])


def test_reconciliation_names_each_kind_of_break(order_set):
    o = order_set.orders.set_index("asset")["order_id"]
    fills = pd.DataFrame({
        "order_id": [o["A"], o["B"], o["B"], "nope", o["D"]],
        "exec_id": ["e1", "e2", "e3", "e4", "e5"],
        "account": ["main"] * 5,
        "asset": ["A", "B", "B", "Z", "D"],
        "side": ["sell", "buy", "buy", "buy", "buy"],
        "quantity": [100, 600, 700, 5, 300],
        "price": [10.0, 25.0, 25.0, 1.0, 9.0],
    })  # fmt: skip
    sides = order_set.orders.set_index("asset")["side"]
    assert sides["A"] == "sell" and sides["D"] == "sell" and sides["B"] == "buy"
    rec = reconcile(order_set.orders, fills)
    checks = {(f["check"], f["order_id"]) for f in rec.findings}
    assert ("unknown_order", "nope") in checks
    assert ("wrong_side", o["D"]) in checks
    assert ("overfilled", o["B"]) in checks  # 1,300 of 1,200
    assert ("unfilled", o["C"]) in checks
    assert ("partial", o["A"]) in checks  # 100 of 2,000
    assert {c for c, _ in checks} == {"unknown_order", "wrong_side", "overfilled", "unfilled",
                                      "partial"}  # fmt: skip
    held = pd.DataFrame({"account": "main", "asset": ["A", "D"], "shares": [5000, 300]})
    after = positions_after(held, rec.applied).set_index("asset")["shares"]
    # A sold 100; B bought 1,300; D bought 300 (the wrong side, as executed); Z unknown.
    assert after.to_dict() == {"A": 4900, "B": 1300, "D": 600}
