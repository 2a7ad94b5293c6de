"""The cost model as a finding (issue 25: "the cost model itself is then a finding").

A book published by model version 3 (through the production writers), its orders sent
(``orders.sent``), filled by the paper broker at an unchanged close, imported through
:func:`tasks.orders.imports.reconcile_import` into a real ledger. The paper broker's fill
price is ``close * (1 + side * rate)`` (tasks/orders/paper.py), so with no price move the
realised cost of each order is exactly the broker's rate: a broker charging a 50 bp
half-spread against the cost model's 5 bp realises 45 bp over the estimate, a breach of
the default 25 bp margin, with no noise to tolerate; the same broker at 5 bp realises the
estimate exactly (excess 0).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from governance.decisions.context import RunContext
from governance.findings.register import Status, load_register
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action, Subject
from governance.policy.schema import OrderLimits
from tasks.orders.cost_finding import CHECK, cost_model_about
from tasks.orders.fills import read_fills
from tasks.orders.imports import reconcile_import
from tasks.orders.instruments import default_instruments
from tasks.orders.orders import build_orders, order_files
from tasks.orders.paper import PaperBroker
from tasks.orders.record import Outbox, send_order_set
from tasks.portfolio.book import (
    MAIN,
    TRADE_COLUMNS,
    AccountBook,
    PortfolioResult,
    publish,
    write_rebalance,
)
from tasks.portfolio.config import PortfolioConfig
from tests.helpers_e2e import SMALL, cli_json  # SMALL names the adopted live test policy
from tests.helpers_identity import enrol_cast

STRATEGY = "cost-book"
VERSION = "3"
PRICES = pd.Series({"A": 20.0, "B": 50.0, "C": 80.0})
WEIGHTS = pd.Series({"A": 0.3, "B": 0.3, "C": 0.4})
CFG = PortfolioConfig(half_spread_bps=5.0, portfolio_value=1e6)
LIMITS = OrderLimits()  # max_cost_excess_bp 25


@pytest.fixture
def ctx(workspace, monkeypatch):
    enrol_cast(workspace, monkeypatch=monkeypatch)
    c = RunContext.open(workspace, actor="alphagate", role="system", flow_run_id="cost")
    yield c
    c.close()


def _publish(ctx, version: str | None):
    trades = pd.DataFrame(
        {"asset": WEIGHTS.index, "current": 0.0, "target": WEIGHTS.to_numpy(),
         "change": WEIGHTS.to_numpy(), "estimated_cost": 0.0}
    )[TRADE_COLUMNS]  # fmt: skip
    source = "model" if version else "fallback"
    result = write_rebalance(
        ctx.store,
        PortfolioResult("2024-01-02", source, (AccountBook(MAIN, WEIGHTS, trades, source),)),
    )
    payload = {"model_name": STRATEGY, "model_version": version, "reasons": []}
    return publish(ctx, result, STRATEGY, payload)


def _send(ctx, book, tmp: Path):
    table = default_instruments().for_assets(PRICES.index)
    order_set = build_orders({MAIN: WEIGHTS}, {}, PRICES, table, CFG.portfolio_value,
                             asof="2024-01-02", book={"seq": book.seq, "hash": book.entry_hash},
                             half_spread=CFG.half_spread_bps * 1e-4)  # fmt: skip
    files = order_files(order_set)
    payload = {"strategy": STRATEGY, "book": order_set.book, "asof": order_set.asof,
               "gross_notional": float(order_set.orders["notional"].sum())}  # fmt: skip
    entry, _ = send_order_set(ctx, STRATEGY, files, payload, Outbox(tmp / "outbox"))
    return order_set.orders, entry


def _import(ctx, orders, tmp: Path, half_spread: float, name: str):
    """The paper broker fills at an unchanged close with ``half_spread``; the FIX file of its
    execution reports is read and imported as `alphagate fills import` does."""
    fills = PaperBroker(half_spread=half_spread).execute(orders, PRICES, value=CFG.portfolio_value)
    path = tmp / name
    path.write_bytes(PaperBroker.reports(fills))
    return reconcile_import(ctx, STRATEGY, read_fills(path), CFG, LIMITS)


def test_a_realised_cost_over_the_margin_raises_a_finding_on_the_books_version(
    ctx, tmp_path, capsys
):
    book = _publish(ctx, VERSION)
    orders, sent = _send(ctx, book, tmp_path)
    _, outcome = _import(ctx, orders, tmp_path, 50e-4, "fills.fix")

    fid = f"F-{STRATEGY}-v{VERSION}-1"
    assert outcome["findings_raised"] == [fid]
    assert outcome["shortfall"]["estimated_bp"] == pytest.approx(5.0)
    assert outcome["shortfall"]["shortfall_bp"] == pytest.approx(50.0)
    reconciled = ctx.ledger.last(action=Action.HOLDINGS_RECONCILED)
    check = reconciled.payload["cost_check"]
    assert check["breach"] and check["finding_version"] == VERSION
    assert check["excess_bp"] == pytest.approx(45.0) and check["limit_bp"] == 25.0
    # the ledger record: finding.raised on the version, by the system, naming its evidence
    (raised,) = ctx.ledger.entries(action=Action.FINDING_RAISED)
    assert raised.subject == Subject.model(STRATEGY, VERSION) and raised.actor == "alphagate"
    assert raised.payload["origin"] == "fills"
    assert (raised.payload["reconciled_seq"], raised.payload["orders_seq"]) == (
        reconciled.seq, sent.seq,
    )  # fmt: skip
    record = load_register(ctx.ledger).get(fid)
    assert (record.check, record.about, record.status) == (
        CHECK, cost_model_about(CFG), Status.OPEN,
    )  # fmt: skip
    assert record.value == pytest.approx(45.0) and record.threshold == 25.0
    assert "realised 50.0 bp against the estimate 5.0 bp" in record.message
    # visible where a risk officer looks: `alphagate findings list`
    code, listed = cli_json(capsys, "findings", "list", "--model", STRATEGY)
    assert code == 0
    rows = listed["findings"] if isinstance(listed, dict) else listed
    assert [(f["id"], f["check"], f["status"]) for f in rows] == [(fid, CHECK, "open")]

    # the next book's breach of the same cost model while the finding stands raises nothing
    later = dataclasses.replace(ctx, run_key="the next rebalance")
    orders2, _ = _send(later, _publish(later, VERSION), tmp_path)
    _, again = _import(later, orders2, tmp_path, 50e-4, "fills-again.fix")
    assert ctx.ledger.last(action=Action.HOLDINGS_RECONCILED).payload["cost_check"]["breach"]
    assert again["findings_raised"] == [] and "stands on" in again["details"][-1]
    assert len(ctx.ledger.entries(action=Action.FINDING_RAISED)) == 1


def test_a_realised_cost_within_the_margin_raises_none(ctx, tmp_path):
    orders, _ = _send(ctx, _publish(ctx, VERSION), tmp_path)
    _, outcome = _import(ctx, orders, tmp_path, 5e-4, "fills.fix")
    assert outcome["shortfall"]["shortfall_bp"] == pytest.approx(5.0)
    assert outcome["findings_raised"] == []
    check = ctx.ledger.last(action=Action.HOLDINGS_RECONCILED).payload["cost_check"]
    assert not check["breach"] and check["excess_bp"] == pytest.approx(0.0, abs=1e-9)
    assert ctx.ledger.entries(action=Action.FINDING_RAISED) == []


def test_a_fallback_book_without_a_champion_has_no_version_to_hold_the_finding(ctx, tmp_path):
    """The breach is still recorded (``cost_check``) and said; no register entry is made up."""
    orders, _ = _send(ctx, _publish(ctx, None), tmp_path)
    _, outcome = _import(ctx, orders, tmp_path, 50e-4, "fills.fix")
    check = ctx.ledger.last(action=Action.HOLDINGS_RECONCILED).payload["cost_check"]
    assert check["breach"] and check["finding_version"] is None
    assert outcome["findings_raised"] == []
    assert f"no model version of {STRATEGY} to hold a finding" in outcome["details"][-1]
    assert ctx.ledger.entries(action=Action.FINDING_RAISED) == []


def test_a_fallback_book_puts_the_finding_on_the_strategys_champion(
    ctx, workspace, tmp_path, capsys
):
    """A real champion (a tiny registered version, validated, approved by vera and rita):
    the fallback book's breach is a finding on it, the version the cost model will price
    next."""
    from governance.decisions.approvals import approve
    from governance.policy.adoption import policy_in_force
    from governance.policy.tiers import tier_at_use
    from tests.helpers_identity import signer, tiny_version

    version, _ = tiny_version(workspace, STRATEGY)
    ledger = ctx.ledger
    force, t = policy_in_force(ledger), tier_at_use(ledger, STRATEGY)
    for user in ("vera", "rita"):
        out = approve(workspace, ledger, ModelRef.parse(STRATEGY, version), signer(workspace, user, ledger),
                      "cost test", tier=t.tier, tier_name=t.name,
                      policy_hash=force.policy_hash)  # fmt: skip
    assert out.promoted is not None
    orders, _ = _send(ctx, _publish(ctx, None), tmp_path)
    _, outcome = _import(ctx, orders, tmp_path, 50e-4, "fills.fix")
    check = ctx.ledger.last(action=Action.HOLDINGS_RECONCILED).payload["cost_check"]
    assert check["breach"] and check["finding_version"] == version
    (fid,) = outcome["findings_raised"]
    record = load_register(ctx.ledger).get(fid)
    assert (record.ref.version_text, record.check, record.status) == (version, CHECK, Status.OPEN)
    # and `alphagate status` shows it beside the version's validation findings
    code, status = cli_json(capsys, "status", "--model", STRATEGY, "--config", SMALL)
    assert code == 0 and status["version"] == version
    assert [(f["id"], f["check"], f["origin"]) for f in status["findings_in_use"]] == [
        (fid, CHECK, "fills")
    ]
