"""The pre-send checks (governance/decisions/presend.py), each breached alone.

A clean order set passes every check; each test changes one thing so that exactly one
check breaches, and asserts the block (the gate halts: one account), the named check,
and the ``gate.presend`` ledger entry that records it. With many accounts a breach blocks
only its account, unless it is the strategy's (kill switch, daily credit limit).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from governance.decisions.context import RunContext
from governance.decisions.gates import decide_gate
from governance.decisions.presend import OrderView, presend_gate
from governance.ground.vocabulary import Action, Subject
from governance.policy.schema import OrderLimits

LIMITS = OrderLimits(
    max_order_notional=1e6,
    max_adv_share=0.05,
    price_collar=0.10,
    restricted=["R"],
    duplicate_window_minutes=60,
    max_daily_gross_notional=5e6,
)
NO_SENT = pd.DataFrame(columns=["order_id", "account", "asset", "side"])


def _orders(accounts=("main",)) -> pd.DataFrame:
    rows = []
    for a in accounts:
        rows += [
            {"order_id": f"b-{a}-A", "account": a, "asset": "A", "side": "buy", "quantity": 1000,
             "ref_price": 100.0, "limit_price": np.nan},
            {"order_id": f"b-{a}-R", "account": a, "asset": "R", "side": "sell",
             "quantity": 500, "ref_price": 50.0, "limit_price": 49.0},
        ]  # fmt: skip
    frame = pd.DataFrame(rows)
    frame["notional"] = frame["quantity"] * frame["ref_price"]
    return frame


def _view(**change) -> OrderView:
    base = OrderView(
        orders=_orders(),
        last_close=pd.Series({"A": 101.0, "R": 50.5}),
        adv=pd.Series({"A": 1e8, "R": 1e8}),
        sent=NO_SENT,
        sent_ids=frozenset(),
        sent_today=0.0,
    )
    return dataclasses.replace(base, **change)


def _with(orders: pd.DataFrame, **cells) -> pd.DataFrame:
    out = orders.copy()
    for column, value in cells.items():
        out.loc[0, column] = value
    out["notional"] = out["quantity"] * out["ref_price"]
    return out


BREACHES = {
    "kill_switch": lambda: _view(tripped="tripped by rita: drill"),
    "max_order_notional": lambda: _view(orders=_with(_orders(), quantity=20_000)),
    "max_adv_share": lambda: _view(adv=pd.Series({"A": 1e6, "R": 1e8})),
    "price_collar": lambda: _view(last_close=pd.Series({"A": 80.0, "R": 50.5})),
    "restricted": lambda: _view(orders=_with(_orders(), asset="R", ref_price=50.0)),
    "duplicate": lambda: _view(sent_ids=frozenset({"b-main-A"})),
    "daily_gross": lambda: _view(sent_today=4.99e6),
}


@pytest.fixture
def ctx(workspace):
    c = RunContext.open(workspace, actor="alphagate", role="system", flow_run_id="presend")
    yield c
    c.close()


def test_a_clean_order_set_passes_every_check():
    decision = presend_gate(_view(), LIMITS)
    assert decision.passed and decision.reasons == ()


@pytest.mark.parametrize("check", list(BREACHES))
def test_each_check_breached_alone_blocks_names_itself_and_is_recorded(ctx, check):
    view = BREACHES[check]()
    decision = presend_gate(view, LIMITS)
    assert decision.halted
    named = [b["check"] for b in decision.evidence["breaches"]]
    assert set(named) == {check}
    at = dataclasses.replace(ctx, run_key=check)
    entry = decide_gate(at, decision, Subject.book("demo"), stops_run=False)
    assert entry.action == Action.GATE_PRESEND
    assert entry.payload["decision"] == "halt"
    assert {b["check"] for b in entry.payload["evidence"]["breaches"]} == {check}
    assert entry.payload["evidence"]["blocked_accounts"] == ["main"]


def test_an_unknown_adv_breaches_the_adv_limit():
    decision = presend_gate(_view(adv=None), LIMITS)
    assert decision.halted and {b["check"] for b in decision.evidence["breaches"]} == {
        "max_adv_share"
    }


def test_a_limit_price_outside_the_collar_breaches_it():
    orders = _orders()
    orders.loc[1, "limit_price"] = 40.0  # 21 % under the last close of 50.5
    decision = presend_gate(_view(orders=orders), LIMITS)
    assert [(b["check"], b["subject"]) for b in decision.evidence["breaches"]] == [
        ("price_collar", "main/R")
    ]


def test_the_same_account_asset_and_side_within_the_window_is_a_duplicate():
    sent = pd.DataFrame([{"order_id": "old-1", "account": "main", "asset": "R", "side": "sell"}])
    decision = presend_gate(_view(sent=sent), LIMITS)
    assert [(b["check"], b["subject"]) for b in decision.evidence["breaches"]] == [
        ("duplicate", "main/R")
    ]


def test_with_many_accounts_a_breach_blocks_only_its_account():
    orders = _orders(("a1", "a2", "a3"))
    orders.loc[orders["order_id"] == "b-a2-A", "quantity"] = 20_000
    orders["notional"] = orders["quantity"] * orders["ref_price"]
    decision = presend_gate(_view(orders=orders), LIMITS.model_copy(
        update={"max_daily_gross_notional": None}))  # fmt: skip
    assert decision.passed
    assert decision.evidence["blocked_accounts"] == ["a2"]
    assert decision.reasons == ("max_order_notional a2/A: 2e+06 breaches limit 1e+06",)


def test_with_many_accounts_a_strategy_breach_blocks_them_all():
    decision = presend_gate(_view(orders=_orders(("a1", "a2")), tripped="drill"), LIMITS)
    assert decision.halted and decision.evidence["blocked_accounts"] == ["a1", "a2"]


def test_an_error_while_checking_blocks():
    decision = presend_gate(_view(orders=_orders().drop(columns="notional")), LIMITS)
    assert decision.halted and "error while evaluating gate presend" in decision.reasons[0]
