"""Orders in shares and lots, FIX 4.4 out, the paper broker, cost analysis (issue 25).

Pure functions on hand-made inputs; the flows, the pre-send gate and the fills import
through the CLI are in tests/test_orders_flow.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import simplefix
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.orders.fix import SIDE, frame_problem, order_messages
from tasks.orders.instruments import default_instruments
from tasks.orders.orders import OrderType, build_orders
from tasks.orders.paper import PaperBroker
from tasks.orders.shortfall import rebalance_shortfall, shortfall
from tasks.portfolio.costs import cost_rate

BOOK = {"seq": 7, "hash": "0123456789abcdef" * 4}


def _instruments(assets, lots=None, tradable=None):
    table = default_instruments().for_assets(pd.Index(assets))
    if lots is not None:
        table["lot_size"] = np.asarray(lots, dtype=np.int64)
    if tradable is not None:
        table["tradable"] = tradable
    return table


def _orders(weights, prices, lots=None, held=None, value=1e6, **kw):
    assets = list(weights.index)
    return build_orders(
        {"main": weights}, {"main": held} if held is not None else {}, prices,
        _instruments(assets, lots), value, asof="2020-01-02", book=BOOK, **kw,
    )  # fmt: skip


@settings(deadline=None)  # pandas' first call on a shared machine can take a second
@given(
    st.lists(
        st.tuples(
            st.floats(0.0, 0.3),  # weight
            st.floats(0.5, 2000.0),  # price
            st.sampled_from([1, 10, 100, 1000]),  # lot size
            st.integers(-5000, 5000),  # shares held
        ),
        min_size=1,
        max_size=30,
    ),
    st.floats(1e4, 1e9),
)
def test_holdings_value_error_within_half_a_lot_per_asset(rows, value):
    """After the orders fill, each asset's held value differs from its target value by
    at most half a lot at the reference price (rounding to the nearest lot), and the orders
    are exactly the move from the held shares to those positions."""
    assets = [f"A{i}" for i in range(len(rows))]
    w, p, lots, held = (pd.Series([r[k] for r in rows], index=assets) for k in range(4))
    os_ = _orders(w, p, lots=lots.to_numpy(), held=held, value=value)
    after = os_.after.set_index("asset")["shares"].reindex(assets).fillna(0)
    error = (after * p - w * value).abs()
    assert (error <= lots * p / 2 * (1 + 1e-12) + 1e-6).all()
    assert (after % lots == 0).all()
    signed = os_.orders.set_index("asset").apply(
        lambda o: o["quantity"] * (1 if o["side"] == "buy" else -1), axis=1
    )
    move = (after - held).loc[lambda s: s != 0]
    pd.testing.assert_series_equal(signed.reindex(move.index), move, check_names=False,
                                   check_dtype=False)  # fmt: skip
    assert (os_.orders["quantity"] > 0).all()


def test_untradable_and_unpriced_assets_get_no_order_and_are_reported():
    w = pd.Series({"A": 0.5, "B": 0.3, "C": 0.2})
    p = pd.Series({"A": 10.0, "B": 20.0, "C": np.nan})
    table = _instruments(["A", "B", "C"], tradable=[True, False, True])
    os_ = build_orders({"main": w}, {}, p, table, 1e4, asof="d", book=BOOK)
    assert list(os_.orders["asset"]) == ["A"]
    assert os_.orders["quantity"].tolist() == [500]
    res = os_.residuals[0]
    assert res["untradable"] == ["B"] and res["unpriced"] == ["C"]
    assert res["error_weight"] == pytest.approx(0.3)  # B's target is not reached


def test_limit_orders_carry_a_limit_beyond_the_reference_price():
    w = pd.Series({"A": 0.5, "B": 0.0})
    os_ = _orders(w, pd.Series({"A": 10.0, "B": 20.0}), held=pd.Series({"B": 100}),
                  order_type=OrderType.LMT, limit_offset=0.01)  # fmt: skip
    limits = os_.orders.set_index("asset")["limit_price"]
    assert limits["A"] == pytest.approx(10.1) and limits["B"] == pytest.approx(19.8)


def _body_length_and_checksum_hold(raw: bytes) -> bool:
    """FIX 4.4 framing recomputed here, independently of the code under test: BodyLength
    counts the bytes from after ``9=n|`` up to and including the SOH before ``10=``;
    CheckSum is the sum of every byte before ``10=`` modulo 256, three digits."""
    fields = raw.split(b"\x01")[:-1]
    assert fields[0] == b"8=FIX.4.4" and fields[1].startswith(b"9=")
    assert fields[-1].startswith(b"10=")
    start = len(fields[0]) + len(fields[1]) + 2
    end = len(raw) - len(fields[-1]) - 1
    return int(fields[1][2:]) == end - start and fields[-1][3:] == b"%03d" % (sum(raw[:end]) % 256)


@pytest.mark.parametrize("basket", [False, True])
def test_fix_orders_parse_back_with_simplefix_and_frame_correctly(basket):
    w = pd.Series({"A": 0.4, "B": 0.3, "C": 0.3})
    p = pd.Series({"A": 10.0, "B": 20.0, "C": 33.3})
    os_ = _orders(w, p, order_type=OrderType.LMT, limit_offset=0.02)
    data = order_messages(os_.orders, basket=basket)
    lines = data.splitlines()
    assert len(lines) == (1 if basket else 3)
    parser = simplefix.FixParser()
    parser.append_buffer(data.replace(b"\n", b""))
    msgs = []
    while (m := parser.get_message()) is not None:
        msgs.append(m)
    assert len(msgs) == len(lines)
    assert all(_body_length_and_checksum_hold(line) for line in lines)
    assert all(frame_problem(line) is None for line in lines)
    if basket:
        (m,) = msgs
        assert m.get(35) == b"E" and m.get(68) == b"3" and m.get(73) == b"3"
        got = [(m.get(11, n).decode(), m.get(54, n), m.get(38, n)) for n in (1, 2, 3)]
    else:
        assert {m.get(35) for m in msgs} == {b"D"}
        got = [(m.get(11).decode(), m.get(54), m.get(38)) for m in msgs]
    want = [(o.order_id, SIDE[o.side].encode(), str(o.quantity).encode())
            for o in os_.orders.itertuples()]  # fmt: skip
    assert got == want


def test_a_flipped_byte_breaks_the_checksum_or_the_length():
    os_ = _orders(pd.Series({"A": 1.0}), pd.Series({"A": 10.0}))
    line = order_messages(os_.orders).splitlines()[0]
    at = line.index(b"55=A") + 3
    assert "CheckSum" in frame_problem(line[:at] + b"B" + line[at + 1 :])
    assert "BodyLength" in frame_problem(line[:at] + b"AA" + line[at + 1 :])


def test_shortfall_is_fill_minus_decision_price_on_a_hand_computed_case():
    """Buy 100 decided at 50.00, filled 60 @ 50.10 and 40 @ 50.20: average 50.14, shortfall
    0.14 x 100 = 14.00, 0.14 / 50 = 28 bp. Sell 200 decided at 20.00, filled @ 19.90:
    0.10 x 200 = 20.00, 50 bp. Per rebalance (notional 5,000 + 4,000): 34 / 9,000 = 37.78 bp."""
    orders = pd.DataFrame({
        "order_id": ["o1", "o2"], "account": "main", "asset": ["X", "Y"],
        "side": ["buy", "sell"], "quantity": [100, 200], "ref_price": [50.0, 20.0],
        "estimated_bp": [5.0, 5.0],
    })  # fmt: skip
    fills = pd.DataFrame({
        "order_id": ["o1", "o1", "o2"], "quantity": [60, 40, 200],
        "price": [50.10, 50.20, 19.90],
    })  # fmt: skip
    per = shortfall(orders, fills).set_index("order_id")
    assert per.loc["o1", "avg_price"] == pytest.approx(50.14, abs=1e-12)
    assert per.loc["o1", "shortfall"] == pytest.approx(14.0, abs=1e-9)
    assert per.loc["o1", "shortfall_bp"] == pytest.approx(28.0, abs=1e-9)
    assert per.loc["o2", "shortfall"] == pytest.approx(20.0, abs=1e-9)
    assert per.loc["o2", "shortfall_bp"] == pytest.approx(50.0, abs=1e-9)
    total = rebalance_shortfall(per.reset_index())
    assert total["shortfall_bp"] == pytest.approx(34.0 / 9000.0 * 1e4, abs=1e-9)


def test_paper_broker_fills_partially_over_its_share_of_volume_and_respects_limits():
    orders = pd.DataFrame({
        "order_id": ["a", "b", "c", "d"], "account": ["x", "y", "x", "x"],
        "asset": ["A", "A", "B", "C"], "side": ["buy", "sell", "buy", "buy"],
        "quantity": [3000, 1000, 50, 10], "lot_size": [100, 100, 1, 1],
        "ref_price": [10.0, 10.0, 20.0, 5.0], "limit_price": [np.nan, np.nan, np.nan, 5.0],
    })  # fmt: skip
    broker = PaperBroker(half_spread=5e-4, participation=0.1)
    fills = broker.execute(
        orders, pd.Series({"A": 11.0, "B": 21.0, "C": 5.0}),
        next_volume=pd.Series({"A": 20_000.0, "B": 1e6, "C": 1e6}),
    ).set_index("order_id")  # fmt: skip
    # A: 4,000 ordered, 2,000 allowed (10 % of 20,000): half each, in lots of 100.
    assert fills.loc["a", "quantity"] == 1500 and fills.loc["b", "quantity"] == 500
    assert fills.loc["c", "quantity"] == 50
    assert "d" not in fills.index  # 5.0 * (1 + 5 bp) is above the 5.00 limit
    assert fills.loc["a", "price"] == pytest.approx(11.0 * (1 + 5e-4))
    assert fills.loc["b", "price"] == pytest.approx(11.0 * (1 - 5e-4))


def test_paper_broker_cost_equals_the_cost_model_estimate_in_expectation():
    """Realised cost (bp of the decision price) against the cost model's estimate.

    The next close is ``P0 (1 + e)`` with ``e ~ N(0, 0.02)``, so an order's realised cost is
    ``1e4 (s e + r (1 + e))`` bp for side ``s`` and cost rate ``r``: its mean is the
    estimate ``1e4 r``, its standard deviation about ``1e4 x 0.02 = 200`` bp. Over
    n = 200,000 orders the mean difference has standard error 200 / sqrt(n) = 0.45 bp;
    the test allows 4 standard errors (1.8 bp). The estimate averages about 20 bp (5 bp
    spread plus impact), so a broker that dropped the impact or the spread fails it."""
    rng = np.random.default_rng(25)
    n = 200_000
    assets = [f"A{i}" for i in range(n)]
    ref = rng.uniform(5, 500, n)
    qty = rng.integers(1, 20, n) * 100
    orders = pd.DataFrame({
        "order_id": [f"o{i}" for i in range(n)], "account": "main", "asset": assets,
        "side": rng.choice(["buy", "sell"], n), "quantity": qty, "lot_size": 100,
        "ref_price": ref, "limit_price": np.nan,
    })  # fmt: skip
    value = 1e7
    impact = pd.Series(rng.uniform(0.01, 0.05, n), index=assets)
    closes = pd.Series(ref * (1 + rng.normal(0, 0.02, n)), index=assets)
    fills = PaperBroker(half_spread=5e-4).execute(orders, closes, impact=impact, value=value)
    orders["estimated_bp"] = 1e4 * cost_rate(qty * ref, value, 5e-4, impact.to_numpy())
    per = shortfall(orders, fills)
    assert len(per) == n
    assert per["estimated_bp"].mean() > 15
    gap = per["shortfall_bp"].mean() - per["estimated_bp"].mean()
    se = per["shortfall_bp"].sub(per["estimated_bp"]).std() / np.sqrt(n)
    assert se < 0.5
    assert abs(gap) < 4 * 0.45


def test_fix_encoded_in_two_processes_is_the_same_file():
    """The many-accounts path splits the encoding over processes: the file is identical,
    one sequence of MsgSeqNum from 1."""
    from datetime import UTC, datetime

    prices = pd.Series({f"A{i}": 10.0 + i for i in range(7)})
    targets = {f"acct{k}": pd.Series(1 / 7, index=prices.index) for k in range(3)}
    table = _instruments(list(prices.index))
    os_ = build_orders(targets, {}, prices, table, 1e5, asof="d", book=BOOK)
    at = datetime(2024, 1, 2, 15, 59, tzinfo=UTC)
    one = order_messages(os_.orders, at=at)
    two = order_messages(os_.orders, at=at, workers=2)
    assert one == two and len(one.splitlines()) == 21
    assert [simplefix_seq(line) for line in two.splitlines()] == list(range(1, 22))


def simplefix_seq(line: bytes) -> int:
    parser = simplefix.FixParser()
    parser.append_buffer(line)
    return int(parser.get_message().get(34))


def test_an_instruments_file_sets_lots_flags_and_adv(tmp_path):
    from tasks.orders.instruments import load_instruments

    path = tmp_path / "instruments.csv"
    path.write_text("asset,lot_size,tradable,adv\nA,100,true,5e6\nB,1,false,\n")
    table = load_instruments(path).for_assets(pd.Index(["A", "B", "C"]),
                                              pd.Series({"B": 7e6, "C": 9e6}))  # fmt: skip
    assert table["lot_size"].to_dict() == {"A": 100, "B": 1, "C": 1}
    assert table["tradable"].to_dict() == {"A": True, "B": False, "C": True}
    assert table["adv"].to_dict() == {"A": 5e6, "B": 7e6, "C": 9e6}  # the file's, else data's
    assert (table["currency"] == "USD").all()


@pytest.mark.parametrize(
    "text, message",
    [
        ("asset,lot\nA,1\n", "line 1: columns must be asset, lot_size"),
        ("asset,lot_size\nA,0\n", "line 2: lot_size '0' is not a positive integer"),
        ("asset,lot_size\nA,1\nB,1.5\n", "line 3: lot_size '1.5'"),
        ("asset,lot_size,tradable\nA,1,maybe\n", "line 2: tradable 'maybe' is not true or false"),
        ("asset,lot_size,adv\nA,1,-3\n", "line 2: adv '-3' is not a positive number"),
        ("asset,lot_size\nA,1\nA,10\n", "line 3: asset A is listed twice"),
    ],
)
def test_a_bad_instruments_file_names_the_line(tmp_path, text, message):
    from governance.ground.errors import InputError
    from tasks.orders.instruments import load_instruments

    path = tmp_path / "instruments.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        load_instruments(path)


@pytest.mark.parametrize(
    ("order_type", "offset", "want"),
    [("moc", None, ("MOC", 0.0)), ("MOC", None, ("MOC", 0.0)), ("limit", None, ("LMT", 0.0)),
     ("limit", "25", ("LMT", 25.0)), (" Limit ", 0, ("LMT", 0.0))],
)  # fmt: skip
def test_order_kind_reads_the_command_lines_order_type_and_offset(order_type, offset, want):
    from tasks.orders.orders import order_kind

    assert order_kind(order_type, offset) == want


@pytest.mark.parametrize(
    ("order_type", "offset"),
    [("stop", None), ("", None), ("limit", "x"), ("limit", "-1"), ("limit", "inf"),
     ("limit", "nan"), ("limit", "1e4"), ("moc", "5")],
)  # fmt: skip
def test_order_kind_refuses_bad_values_naming_the_flag(order_type, offset):
    from governance.ground.errors import InputError
    from tasks.orders.orders import order_kind

    with pytest.raises(InputError, match=r"^orders export: --(order-type|limit-offset-bp)"):
        order_kind(order_type, offset)
