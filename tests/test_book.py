"""The rebalance artifacts: one writer and one reader, for one account and for many, and
the books of two strategies in one workspace kept apart."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from governance.decisions.context import RunContext
from tasks.portfolio.book import (
    MAIN,
    TRADE_COLUMNS,
    AccountBook,
    PortfolioResult,
    book_history,
    current_holdings,
    latest_book,
    publish,
    read_rebalance,
    trade_list,
    write_rebalance,
)
from tests.helpers_identity import enrol_cast


def _book(name: str, weights: dict, current: dict | None = None, source="model") -> AccountBook:
    w = pd.Series(weights, dtype=float)
    cur = None if current is None else pd.Series(current, dtype=float)
    return AccountBook(name, w, trade_list(cur, w, 5e-4), source, (), {"status": "optimal"})


@pytest.fixture
def ctx(workspace):
    # a sandbox workspace: its publications stand as written (governance/audit/books.py
    # judges a governed workspace's model books against the champion and the tier's
    # limits; these tests are about the one writer and the one reader)
    enrol_cast(workspace, sandbox=True)
    c = RunContext.open(workspace, actor="alphagate", role="system", flow_run_id="book")
    yield c
    c.close()


def test_one_account_round_trips_through_the_one_reader(ctx):
    result = write_rebalance(
        ctx.store, PortfolioResult("2024-01-31", "model", (_book(MAIN, {"a": 0.6, "b": 0.4}),))
    )
    back = read_rebalance(ctx.store, result.artifacts)
    assert not back.many and back.asof == "2024-01-31" and back.source == "model"
    assert back.weights.to_dict() == {"a": 0.6, "b": 0.4}
    assert list(back.trades.columns) == TRADE_COLUMNS
    assert back.stats == {"status": "optimal"}
    csv = ctx.store.read_bytes(result.artifacts["weights.csv"]).decode()
    assert csv.splitlines()[0] == "asset,weight"


def test_many_accounts_round_trip_and_their_average_is_the_book(ctx):
    books = (
        _book("growth", {"a": 1.0}),
        _book("esg", {"b": 1.0}, current={"a": 0.5, "b": 0.5}),
        _book("odd", {"a": 0.5, "b": 0.5}, source="hold"),
    )
    result = write_rebalance(ctx.store, PortfolioResult("2024-01-31", "model", books))
    back = read_rebalance(ctx.store, result.artifacts)
    assert back.many and [a.account for a in back.accounts] == ["growth", "esg", "odd"]
    assert back.holdings()["esg"].to_dict() == {"b": 1.0}
    assert [a["source"] for a in back.summary()] == ["model", "model", "hold"]
    assert set(back.trades["account"]) == {"growth", "esg", "odd"}
    assert back.weights.loc[("odd", "a")] == 0.5
    csv = ctx.store.read_bytes(result.artifacts["weights.csv"]).decode()
    assert csv.splitlines()[0] == "account,asset,weight"
    publish(ctx, result, "multi", {})
    history = book_history(ctx.ledger, ctx.store, "multi")
    assert history.loc[pd.Timestamp("2024-01-31")].to_dict() == pytest.approx({"a": 0.5, "b": 0.5})


def test_two_strategies_never_see_each_others_holdings(ctx):
    first = write_rebalance(
        ctx.store, PortfolioResult("2024-01-31", "model", (_book(MAIN, {"a": 1.0}),))
    )
    other = write_rebalance(
        ctx.store, PortfolioResult("2024-02-29", "model", (_book(MAIN, {"z": 1.0}),))
    )
    publish(ctx, first, "demo", {})
    publish(dataclasses.replace(ctx, run_key="other-run"), other, "synthetic", {})
    assert current_holdings(ctx.ledger, ctx.store, "demo")[MAIN].to_dict() == {"a": 1.0}
    assert current_holdings(ctx.ledger, ctx.store, "synthetic")[MAIN].to_dict() == {"z": 1.0}
    assert latest_book(ctx.ledger, ctx.store, "nobody") is None
    assert list(book_history(ctx.ledger, ctx.store, "demo").columns) == ["a"]
