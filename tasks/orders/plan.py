"""The inputs of an order set, read from the book and the market: what the orders export
builds and what the pre-send checks see; and, after the fills, the holdings they leave.

:func:`plan_orders` reads the strategy's last publication and the shares it holds
(:func:`tasks.portfolio.book.held_shares`), prices it at the book's date and builds the
orders (:func:`tasks.orders.orders.build_orders`) at the portfolio config's
``portfolio_value`` per account, with the cost model's estimate per order.
:func:`holdings_after` turns a reconciliation into ``holdings.json``'s accounts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from governance.ground.errors import InputError
from tasks.data.market import MarketPanel
from tasks.orders.instruments import Instruments
from tasks.orders.orders import OrderSet, OrderType, build_orders
from tasks.portfolio.book import held_shares, latest_publication, read_rebalance
from tasks.portfolio.config import PortfolioConfig
from tasks.portfolio.market import MarketHistory


@dataclass(frozen=True)
class OrderMarket:
    """Prices at the book's date (``ref``), the latest close of the data (``last``), the
    instruments of every asset (``table``, ADV filled from the data), the cost model's
    impact coefficients at the book's date (None without volume)."""

    ref: pd.Series
    last: pd.Series
    table: pd.DataFrame
    impact: pd.Series | None


def order_market(
    panel: MarketPanel, cfg: PortfolioConfig, asof: str, instruments: Instruments
) -> OrderMarket:
    history = MarketHistory(panel, cfg)
    pos = history.position(pd.Timestamp(asof))
    assets = history.assets
    adv = None if history.adv is None else pd.Series(history.adv[pos], index=assets)
    last = panel.close.ffill().iloc[-1].reindex(assets)
    return OrderMarket(
        ref=pd.Series(history.close[pos], index=assets),
        last=last,
        table=instruments.for_assets(assets, adv),
        impact=history.impact(pos),
    )


def plan_orders(
    ledger, store, strategy: str, panel: MarketPanel, cfg: PortfolioConfig, instruments,
    order_type: OrderType = OrderType.MOC, limit_offset: float = 0.0,
) -> tuple[OrderSet, OrderMarket]:  # fmt: skip
    """The order set implementing ``strategy``'s last published book, and its market
    (``order_type`` and ``limit_offset``: :func:`tasks.orders.orders.build_orders`).

    Raises
    ------
    InputError
        Nothing published yet for ``strategy``.
    """
    entry = latest_publication(ledger, strategy)
    if entry is None:
        raise InputError(
            f"orders: strategy {strategy} has no published book: run `alphagate rebalance` first"
        )
    book = read_rebalance(store, entry.payload["artifacts"])
    market = order_market(panel, cfg, book.asof, instruments)
    order_set = build_orders(
        book.holdings(), held_shares(ledger, store, strategy), market.ref, market.table,
        cfg.portfolio_value, asof=book.asof, book={"seq": entry.seq, "hash": entry.entry_hash},
        half_spread=cfg.half_spread_bps * 1e-4, impact=market.impact, order_type=order_type,
        limit_offset=limit_offset,
    )  # fmt: skip
    return order_set, market


def holdings_after(
    positions: pd.DataFrame, marks: pd.Series, value: float, accounts: list[str]
) -> list[dict]:
    """``holdings.json`` accounts from ``account, asset, shares`` marked at ``marks``
    (asset -> price): weights are ``shares * price / value``. Every account in
    ``accounts`` appears (an account whose orders all sold out holds nothing)."""
    out = []
    for account in accounts:
        own = positions[positions["account"] == account]
        shares = dict(zip(own["asset"], own["shares"].astype(np.int64), strict=True))
        prices = {a: float(marks[a]) for a in shares}
        weights = {a: shares[a] * prices[a] / value for a in shares}
        out.append(
            {"account": account, "value": value, "shares": shares, "prices": prices,
             "weights": weights}
        )  # fmt: skip
    return out


def marks(orders: pd.DataFrame, fills: pd.DataFrame, before: dict | None) -> pd.Series:
    """asset -> the price a position is marked at: the last fill's price, else the orders'
    reference price, else the previous holdings' mark."""
    out = {}
    if before:
        for account in before["accounts"]:
            out.update(account["prices"])
    out.update(orders.groupby("asset")["ref_price"].last().to_dict())
    out.update(fills.groupby("asset")["price"].last().to_dict())
    return pd.Series(out, dtype=float)
