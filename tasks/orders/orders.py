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
from governance.ground.errors import InputError
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


#: The command line's names of the order types (``orders export --order-type``).
ORDER_TYPE_NAMES = {"moc": OrderType.MOC, "limit": OrderType.LMT}


def order_kind(order_type: str, limit_offset_bp: float | str | None) -> tuple[OrderType, float]:
    """``(OrderType, limit offset in basis points of the reference price)`` from the command
    line's ``--order-type`` (``moc`` or ``limit``) and ``--limit-offset-bp`` (a limit's
    distance from the reference price in basis points, 0 <= offset < 10,000; default 0: the
    limit is the last close).

    Raises
    ------
    InputError
        An unknown order type, an offset that is not a number in range, or an offset for a
        market-on-close order (one line naming the flag).
    """
    kind = ORDER_TYPE_NAMES.get(str(order_type).strip().lower())
    if kind is None:
        raise InputError(
            f"orders export: --order-type {order_type!r} is not one of "
            f"{', '.join(ORDER_TYPE_NAMES)}"
        )
    if limit_offset_bp is None:
        return kind, 0.0
    if kind is not OrderType.LMT:
        raise InputError("orders export: --limit-offset-bp applies to --order-type limit only")
    try:
        bp = float(limit_offset_bp)
    except (TypeError, ValueError):
        bp = float("nan")
    if not 0.0 <= bp < BP:
        raise InputError(
            f"orders export: --limit-offset-bp {limit_offset_bp!r} is not a number of basis "
            f"points in [0, {BP:,.0f})"
        )
    return kind, bp


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


def _long(by_account: dict[str, pd.Series], column: str, accounts: list[str]) -> pd.DataFrame:
    """``account, asset, <column>`` rows of the accounts' Series (in ``accounts``)."""
    parts = [by_account[a] for a in accounts if a in by_account and len(by_account[a])]
    names = [a for a in accounts if a in by_account and len(by_account[a])]
    if not parts:
        return pd.DataFrame(columns=["account", "asset", column])
    sizes = [len(p) for p in parts]
    return pd.DataFrame(
        {
            "account": np.repeat(np.asarray(names, dtype=object), sizes),
            "asset": np.concatenate([p.index.astype(str).to_numpy(dtype=object) for p in parts]),
            column: np.concatenate([p.to_numpy() for p in parts]),
        }
    )


def _residuals(frame: pd.DataFrame, accounts: list[str], values: np.ndarray) -> list[dict]:
    """Per account: the weight and money left by rounding, the assets with no price (and a
    target) and the untradable assets kept away from their target."""
    err = frame.groupby("account", sort=False)["error"].sum()
    unpriced = frame[frame["unpriced"]].groupby("account", sort=False)["asset"].agg(list)
    untradable = frame[frame["untradable"]].groupby("account", sort=False)["asset"].agg(list)
    return [
        {
            "account": a,
            "value": float(v),
            "error_weight": float(err.get(a, 0.0)),
            "error_value": float(err.get(a, 0.0) * v),
            "unpriced": list(unpriced.get(a, [])),
            "untradable": list(untradable.get(a, [])),
        }
        for a, v in zip(accounts, values, strict=True)
    ]


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
    accounts = list(targets)
    values = np.array([value[a] if isinstance(value, dict) else value for a in accounts], float)
    frame = _long(targets, "weight", accounts).merge(
        _long({a: held[a] for a in accounts if a in held}, "held", accounts),
        on=["account", "asset"], how="outer",
    )  # fmt: skip
    frame = frame[frame["asset"].isin(instruments.index)]
    rank = {a: i for i, a in enumerate(accounts)}
    frame = frame.assign(rank=frame["account"].map(rank)).sort_values(["rank", "asset"])
    v = values[frame["rank"].to_numpy(dtype=np.int64)]
    w = frame["weight"].fillna(0.0).to_numpy(dtype=float)
    have = frame["held"].fillna(0).to_numpy(dtype=np.int64)
    table = instruments.reindex(frame["asset"])
    price = prices.reindex(frame["asset"]).to_numpy(dtype=float)
    lots = table["lot_size"].to_numpy(dtype=np.int64)
    priced = np.isfinite(price) & (price > 0)
    movable = priced & table["tradable"].to_numpy(dtype=bool)
    goal = np.where(priced, w * v / np.where(priced, price, 1.0), 0.0)
    want = np.where(movable, round_to_lots(goal, lots), have)
    delta = want - have
    err = np.abs(w - np.where(priced, want * np.nan_to_num(price) / v, 0.0))
    frame = frame.assign(
        error=np.where(priced, err, 0.0), unpriced=~priced & (w != 0),
        untradable=priced & ~movable & (want != goal),
    )  # fmt: skip
    moving = delta != 0
    side = np.where(delta > 0, Side.BUY.value, Side.SELL.value)[moving]
    ref = price[moving]
    quantity = np.abs(delta)[moving]
    bump = np.where(side == Side.BUY.value, 1 + limit_offset, 1 - limit_offset)
    notional = quantity * ref
    assets = frame["asset"].to_numpy()[moving]
    coef = None if impact is None else impact.reindex(assets).fillna(0.0).to_numpy()
    prefix = str(book["hash"])[:10]
    orders = pd.DataFrame(
        {
            "order_id": [f"{prefix}-{n}" for n in range(int(moving.sum()))],
            "account": frame["account"].to_numpy()[moving],
            "asset": assets,
            "side": side,
            "quantity": quantity.astype(np.int64),
            "lot_size": lots[moving],
            "order_type": order_type.value,
            "ref_price": ref,
            "limit_price": np.round(ref * bump, 4) if order_type is OrderType.LMT else np.nan,
            "currency": table["currency"].to_numpy()[moving],
            "notional": notional,
            "target_weight": w[moving],
            "estimated_bp": BP * cost_rate(notional, v[moving], half_spread, coef),
        }
    )[ORDER_COLUMNS]
    after = pd.DataFrame(
        {"account": frame["account"].to_numpy(), "asset": frame["asset"].to_numpy(),
         "shares": want}
    )[want != 0].reset_index(drop=True)  # fmt: skip
    residuals = _residuals(frame, accounts, values)
    return OrderSet(asof, dict(book), orders, after, residuals)


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
