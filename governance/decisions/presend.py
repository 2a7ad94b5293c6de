"""Pre-send checks of an order set, independent of the optimiser and of the strategy.

Defence in depth (SEC rule 15c3-5): the orders were built from a book the pre-trade gate
passed, but what leaves for the OMS is checked again, on its own terms (shares, money,
prices), against the tier's ``orders:`` section (:class:`OrderLimits`). numpy and pandas
only. One function per check, ``(OrderView, OrderLimits) -> list[OrderBreach]``, run in
:data:`CHECKS` order:

==================  ========================================================================
check               rule
==================  ========================================================================
kill_switch         nothing is sent while the switch governing the strategy is tripped
max_order_notional  each order's notional <= the limit
max_adv_share       each order's notional / the asset's ADV <= the limit (unknown ADV breaches)
price_collar        reference and limit price within ±collar of the last close
restricted          no buy of a restricted asset
duplicate           no order id sent before; no (account, asset, side) sent in the window
daily_gross         the strategy's gross notional sent today + this set <= the credit limit
==================  ========================================================================

A breach names its account; :func:`presend_gate` blocks the whole set when a breach is the
strategy's (``kill_switch``, ``daily_gross``) or when there is one account, and only the
breaching accounts otherwise (many accounts).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from governance.decisions.gates import Decision, GateDecision, fail_closed
from governance.decisions.pretrade import Breach
from governance.ground.errors import Gate
from governance.policy.schema import OrderLimits

#: Checks whose breach is the strategy's, not one account's: they block the whole set.
STRATEGY_CHECKS = ("kill_switch", "daily_gross")


@dataclass(frozen=True)
class OrderBreach(Breach):
    """A :class:`Breach` of one account's order (``account`` empty: the strategy's)."""

    account: str = ""

    def payload(self) -> dict:
        return {**super().payload(), "account": self.account}


@dataclass(frozen=True)
class OrderView:
    """What the checks see.

    Attributes
    ----------
    orders : DataFrame
        ``order_id, account, asset, side, quantity, ref_price, limit_price, notional``.
    last_close : Series
        asset -> last close in the market data at sending.
    adv : Series or None
        asset -> average daily dollar volume (None: unknown for every asset).
    sent : DataFrame
        Orders sent before within the duplicate window: ``order_id, account, asset, side``;
        ``sent_ids``: every order id ever sent by the strategy.
    sent_ids : frozenset
    sent_today : float
        Gross notional the strategy sent today (UTC) before this set.
    tripped : str or None
        Why the kill switch governing the strategy is tripped, None when armed.
    """

    orders: pd.DataFrame
    last_close: pd.Series
    adv: pd.Series | None
    sent: pd.DataFrame
    sent_ids: frozenset
    sent_today: float
    tripped: str | None = None


def _per_order(check: str, view: OrderView, value, limit: float, bad) -> list[OrderBreach]:
    o = view.orders[np.asarray(bad, dtype=bool)]
    vals = np.asarray(value, dtype=float)[np.asarray(bad, dtype=bool)]
    return [
        OrderBreach(check, f"{a}/{s}", float(v), float(limit), account=str(a))
        for a, s, v in zip(o["account"], o["asset"], vals, strict=True)
    ]


def check_kill_switch(view: OrderView, limits: OrderLimits) -> list[OrderBreach]:
    if view.tripped is None:
        return []
    return [OrderBreach("kill_switch", view.tripped, 1.0, 0.0)]


def check_notional(view: OrderView, limits: OrderLimits) -> list[OrderBreach]:
    cap = limits.max_order_notional
    if cap is None:
        return []
    n = view.orders["notional"].to_numpy(dtype=float)
    return _per_order("max_order_notional", view, n, cap, ~(n <= cap))


def check_adv(view: OrderView, limits: OrderLimits) -> list[OrderBreach]:
    cap = limits.max_adv_share
    if cap is None:
        return []
    adv = (
        np.full(len(view.orders), np.nan)
        if view.adv is None
        else view.adv.reindex(view.orders["asset"]).to_numpy(dtype=float)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        share = view.orders["notional"].to_numpy(dtype=float) / adv
    return _per_order("max_adv_share", view, share, cap, ~(share <= cap))  # NaN breaches


def check_collar(view: OrderView, limits: OrderLimits) -> list[OrderBreach]:
    collar = limits.price_collar
    if collar is None:
        return []
    last = view.last_close.reindex(view.orders["asset"]).to_numpy(dtype=float)
    out = []
    for column in ("ref_price", "limit_price"):
        price = view.orders[column].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            gap = np.abs(price / last - 1.0)
        given = np.isfinite(price) if column == "limit_price" else np.ones(len(price), bool)
        out += _per_order("price_collar", view, gap, collar, given & ~(gap <= collar))
    return out


def check_restricted(view: OrderView, limits: OrderLimits) -> list[OrderBreach]:
    o = view.orders
    bad = o["asset"].isin(limits.restricted).to_numpy() & (o["side"] == "buy").to_numpy()
    return _per_order("restricted", view, o["notional"], 0.0, bad)


def check_duplicate(view: OrderView, limits: OrderLimits) -> list[OrderBreach]:
    o = view.orders
    again = o["order_id"].isin(view.sent_ids).to_numpy()
    keys = ["account", "asset", "side"]
    same = np.zeros(len(o), dtype=bool)
    if len(view.sent):
        recent = pd.MultiIndex.from_frame(view.sent[keys].astype(str))
        same = pd.MultiIndex.from_frame(o[keys].astype(str)).isin(recent)
    return _per_order("duplicate", view, np.ones(len(o)), 0.0, again | same)


def check_daily_gross(view: OrderView, limits: OrderLimits) -> list[OrderBreach]:
    cap = limits.max_daily_gross_notional
    total = view.sent_today + float(view.orders["notional"].sum())
    if cap is None or total <= cap:
        return []
    return [OrderBreach("daily_gross", "", total, cap)]


Check = Callable[[OrderView, OrderLimits], list[OrderBreach]]
CHECKS: tuple[Check, ...] = (
    check_kill_switch,
    check_notional,
    check_adv,
    check_collar,
    check_restricted,
    check_duplicate,
    check_daily_gross,
)


def check_orders(view: OrderView, limits: OrderLimits) -> list[OrderBreach]:
    """Every breach of the order set, in :data:`CHECKS` order (empty: it may be sent)."""
    return [b for check in CHECKS for b in check(view, limits)]


def blocked_accounts(breaches: list[OrderBreach], accounts: list[str]) -> list[str]:
    """The accounts whose orders may not leave: all of them for a strategy-wide breach or
    a single account, else those with a breach (in ``accounts`` order)."""
    if not breaches:
        return []
    if len(accounts) <= 1 or any(b.check in STRATEGY_CHECKS for b in breaches):
        return list(accounts)
    hit = {b.account for b in breaches}
    return [a for a in accounts if a in hit]


@fail_closed(Gate.PRESEND)
def presend_gate(view: OrderView, limits: OrderLimits) -> GateDecision:
    """The pre-send gate: halt when every account is blocked; pass (with the breaches as
    reasons and the blocked accounts in the evidence) when only some are."""
    breaches = check_orders(view, limits)
    accounts = [str(a) for a in pd.unique(view.orders["account"])]
    blocked = blocked_accounts(breaches, accounts)
    evidence = {
        "orders": len(view.orders),
        "accounts": len(accounts),
        "blocked_accounts": blocked,
        "breaches": [b.payload() for b in breaches],
    }
    strategy_wide = any(b.check in STRATEGY_CHECKS for b in breaches)
    halt = strategy_wide or (bool(blocked) and len(blocked) == len(accounts))
    decision = Decision.HALT if halt else Decision.PASS
    return GateDecision(Gate.PRESEND, decision, [str(b) for b in breaches], evidence)
