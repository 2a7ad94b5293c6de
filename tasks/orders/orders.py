"""An order set: a published book's target weights turned into orders in shares.

For each account and asset, the target position is ``w * V / P`` shares (weight ``w``,
account value ``V``, reference price ``P``: the last close at the book's date), rounded
to the nearest multiple of the asset's lot size. The order is the difference from the
shares held. Rounding leaves a residual: the held value after the orders fill differs
from the target value by at most half a lot per asset (``lot_size * P / 2``), and
:attr:`OrderSet.residuals` reports it in weight and in money. An asset without a price
or not tradable gets no order; its residual says so.

Orders are market-on-close (``MOC``) or limit (``LMT``, the limit ``P * (1 ± offset)``,
buy above, sell below). Order ids are ``<prefix>-<n>``, the prefix taken from the book's
ledger hash: exporting the same book twice gives the same ids (the pre-send duplicate
check sees that).

============== ==============================================================================
name           content
============== ==============================================================================
orders.parquet :data:`ORDER_COLUMNS`, one row per order
orders.csv     the same, readable (what most OMS imports take)
residuals.json ``{"asof", "book", "accounts": [{account, value, error_weight, error_value,
               unpriced, untradable}]}``
============== ==============================================================================
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import pandas as pd

from governance.ground.canonical import canonical_json, to_jsonable
from tasks.model.dataset import frame_to_parquet
from tasks.portfolio.costs import cost_rate

ORDER_COLUMNS = [
    "order_id", "account", "asset", "side", "quantity", "lot_size", "order_type",
    "ref_price", "limit_price", "currency", "notional", "target_weight", "estimated_bp",
]  # fmt: skip
BP = 1e4
FILES = ("orders.parquet", "orders.csv", "residuals.json")


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    MOC = "MOC"  # market on close: fills at the close, the reference price is the last close
    LMT = "LMT"


def sign(side: pd.Series) -> np.ndarray:
    """+1 for a buy, -1 for a sell."""
    return np.where(side.to_numpy() == Side.BUY, 1.0, -1.0)


def round_to_lots(shares: np.ndarray, lots: np.ndarray) -> np.ndarray:
    """The multiple of ``lots`` nearest to ``shares`` (elementwise, int64; a tie rounds
    to even)."""
    return (np.round(np.asarray(shares, dtype=float) / lots) * lots).astype(np.int64)


@dataclass(frozen=True)
class OrderSet:
    """The orders of one book.

    Attributes
    ----------
    asof : str
        The book's date (its prices are the reference prices).
    book : dict
        ``{"seq", "hash"}`` of the ``portfolio.published`` entry implemented.
    orders : DataFrame
        :data:`ORDER_COLUMNS`; ``quantity`` is a positive int64, ``notional`` is
        ``quantity * ref_price``; ``estimated_bp`` the cost model's estimate of its
        cost per unit of notional, in bp (:func:`tasks.portfolio.costs.cost_rate`).
    after : DataFrame
        ``account, asset, shares``: the positions once every order fills.
    residuals : list of dict
        Per account: ``value``, ``error_weight`` (sum |target - rounded| weight),
        ``error_value`` (the same in money), ``unpriced``, ``untradable`` (assets).
    """

    asof: str
    book: dict
    orders: pd.DataFrame
    after: pd.DataFrame
    residuals: list[dict] = field(default_factory=list)

    def accounts(self) -> list[str]:
        return list(dict.fromkeys(self.orders["account"]))


def _account_orders(account, target, held, prices, table, value, order_type, offset, cost):
    assets = target.index.union(held.index).intersection(table.index)
    w = target.reindex(assets).fillna(0.0).to_numpy(dtype=float)
    have = held.reindex(assets).fillna(0).to_numpy(dtype=np.int64)
    price = prices.reindex(assets).to_numpy(dtype=float)
    lots = table.loc[assets, "lot_size"].to_numpy(dtype=np.int64)
    priced = np.isfinite(price) & (price > 0)
    movable = priced & table.loc[assets, "tradable"].to_numpy(dtype=bool)
    goal = np.where(priced, w * value / np.where(priced, price, 1.0), 0.0)
    want = np.where(movable, round_to_lots(goal, lots), have)
    delta = want - have
    rows = pd.DataFrame(
        {
            "account": account,
            "asset": assets.astype(str),
            "side": np.where(delta > 0, Side.BUY.value, Side.SELL.value),
            "quantity": np.abs(delta),
            "lot_size": lots,
            "order_type": order_type.value,
            "ref_price": price,
            "currency": table.loc[assets, "currency"].to_numpy(),
            "target_weight": w,
        }
    )[delta != 0]
    bump = np.where(rows["side"] == Side.BUY, 1 + offset, 1 - offset)
    rows["limit_price"] = (
        np.round(rows["ref_price"] * bump, 4) if order_type is OrderType.LMT else np.nan
    )
    rows["notional"] = rows["quantity"] * rows["ref_price"]
    half_spread, impact = cost
    coef = None if impact is None else impact.reindex(rows["asset"]).fillna(0.0).to_numpy()
    rows["estimated_bp"] = BP * cost_rate(rows["notional"], value, half_spread, coef)
    err = np.abs(w - np.where(priced, want * np.nan_to_num(price) / value, 0.0))
    residual = {
        "account": account,
        "value": float(value),
        "error_weight": float(err[priced].sum()),
        "error_value": float(err[priced].sum() * value),
        "unpriced": [str(a) for a in assets[~priced & (w != 0)]],
        "untradable": [str(a) for a in assets[priced & ~movable & (want != goal)]],
    }
    after = pd.DataFrame({"account": account, "asset": assets.astype(str), "shares": want})
    return rows, after[after["shares"] != 0], residual


def build_orders(
    targets: dict[str, pd.Series],
    held: dict[str, pd.Series],
    prices: pd.Series,
    instruments: pd.DataFrame,
    value: float | dict[str, float],
    *,
    asof: str,
    book: dict,
    order_type: OrderType = OrderType.MOC,
    limit_offset: float = 0.0,
    half_spread: float = 0.0,
    impact: pd.Series | None = None,
) -> OrderSet:
    """Orders that move each account from ``held`` shares to its target weights.

    Parameters
    ----------
    targets : dict
        account -> target weights by asset (the published book's holdings).
    held : dict
        account -> shares held now by asset (int); a missing account holds nothing.
    prices : Series
        Reference price by asset (last close at ``asof``); NaN: no order.
    instruments : DataFrame
        :meth:`tasks.orders.instruments.Instruments.for_assets` of every asset involved.
    value : float or dict
        Account value in the price currency (one for all, or per account).
    asof, book
        The book's date and its ledger entry ``{"seq", "hash"}`` (ids derive from it).
    order_type, limit_offset
        ``MOC``, or ``LMT`` with the limit ``offset`` away from the reference price.
    half_spread, impact
        The cost model (fraction of price; impact coefficients by asset at the account
        value, None: none) for each order's ``estimated_bp``.
    """
    prefix = str(book["hash"])[:10]
    frames, after, residuals = [], [], []
    for account, target in targets.items():
        v = value[account] if isinstance(value, dict) else value
        own = held.get(account, pd.Series(dtype=np.int64))
        rows, pos, res = _account_orders(
            account,
            target,
            own,
            prices,
            instruments,
            v,
            order_type,
            limit_offset,
            (half_spread, impact),
        )
        frames.append(rows)
        after.append(pos)
        residuals.append(res)
    orders = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    orders = orders.reindex(columns=ORDER_COLUMNS)
    orders["order_id"] = [f"{prefix}-{i}" for i in range(len(orders))]
    orders["quantity"] = orders["quantity"].astype(np.int64)
    orders["lot_size"] = orders["lot_size"].astype(np.int64)
    positions = pd.concat(after, ignore_index=True) if after else pd.DataFrame()
    return OrderSet(asof, dict(book), orders, positions, residuals)


def restrict(order_set: OrderSet, blocked: list[str]) -> OrderSet:
    """``order_set`` without the orders, positions and residuals of ``blocked`` accounts."""
    if not blocked:
        return order_set
    keep = ~order_set.orders["account"].isin(blocked)
    after = order_set.after[~order_set.after["account"].isin(blocked)]
    residuals = [r for r in order_set.residuals if r["account"] not in blocked]
    orders = order_set.orders[keep].reset_index(drop=True)
    return OrderSet(order_set.asof, order_set.book, orders, after, residuals)


def order_files(order_set: OrderSet) -> dict[str, bytes]:
    """The artifact files of an order set (module docstring), as bytes."""
    head = {"asof": order_set.asof, "book": order_set.book}
    return {
        "orders.parquet": frame_to_parquet(order_set.orders),
        "orders.csv": order_set.orders.to_csv(index=False, float_format="%.10g").encode(),
        "residuals.json": canonical_json({**head, "accounts": to_jsonable(order_set.residuals)}),
    }


def read_frame(store, sha: str) -> pd.DataFrame:
    """A stored Parquet artifact (hash verified by the store)."""
    return pd.read_parquet(io.BytesIO(store.read_bytes(sha)))


def read_orders(store, artifacts: dict[str, str]) -> pd.DataFrame:
    """The orders an order set stored."""
    return read_frame(store, artifacts["orders.parquet"])
