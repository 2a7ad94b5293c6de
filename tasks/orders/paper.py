"""The paper broker: fills an order set at the next day's close, plus the cost model.

Used by the tests, the demo and the lifecycle's paper stage. API::

    broker = PaperBroker(half_spread=5e-4, participation=0.10)
    fills = broker.execute(
        orders,                 # DataFrame, tasks.orders.orders.ORDER_COLUMNS
        next_close,             # Series asset -> close of the day after the book's date
        next_volume=volume,     # Series asset -> shares traded that day (None: no cap)
        impact=impact,          # Series asset -> the cost model's impact coefficient at
                                # `value` (MarketHistory.impact), None: spread only
        value=1e8,              # account value (float, or dict account -> value)
    )
    fix_bytes = broker.reports(fills)   # ExecutionReports (35=8), one per fill, a FIX file
                                        # that `alphagate fills import` reads

``fills`` has :data:`FILL_COLUMNS`: one row per order that filled, at most the ordered
quantity. The price of a fill is ``close * (1 + side * rate)`` with ``rate`` the cost
model's cost per unit of notional for the filled notional at the reference price
(:func:`tasks.portfolio.costs.cost_rate`: half-spread plus the 3/2-power impact), so
the broker's realised cost is the cost model's estimate plus the next day's price move.
Partial fills: an asset's orders together take at most ``participation`` of the next
day's volume; each gets its pro-rata share rounded down to its lot. A limit order fills
only when the fill price is within its limit; an asset with no next close does not fill.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tasks.orders.fix import execution_report
from tasks.orders.orders import Side, sign
from tasks.portfolio.costs import cost_rate

FILL_COLUMNS = [
    "order_id", "exec_id", "account", "asset", "side", "quantity", "price",
    "order_qty", "cum_qty", "avg_px",
]  # fmt: skip


@dataclass(frozen=True)
class PaperBroker:
    """Fills at the next close plus the cost model (module docstring).

    Parameters
    ----------
    half_spread : float
        Fraction of price (the portfolio config's ``half_spread_bps / 1e4``).
    participation : float
        Largest share of the next day's volume an asset's orders may take together
        (Almgren & Chriss practice: 10 % of volume).
    """

    half_spread: float
    participation: float = 0.10

    def execute(
        self,
        orders: pd.DataFrame,
        next_close: pd.Series,
        *,
        next_volume: pd.Series | None = None,
        impact: pd.Series | None = None,
        value: float | dict[str, float] = 1e8,
    ) -> pd.DataFrame:
        """The fills of ``orders`` on the next day (:data:`FILL_COLUMNS`)."""
        if not len(orders):
            return pd.DataFrame(columns=FILL_COLUMNS)
        assets = orders["asset"]
        qty = orders["quantity"].to_numpy(dtype=np.int64)
        lots = orders["lot_size"].to_numpy(dtype=np.int64)
        close = next_close.reindex(assets).to_numpy(dtype=float)
        fill = np.where(np.isfinite(close) & (close > 0), qty, 0)
        if next_volume is not None:
            cap = self.participation * next_volume.reindex(assets).fillna(0.0).to_numpy()
            total = pd.Series(fill, index=assets).groupby(level=0).transform("sum").to_numpy()
            with np.errstate(divide="ignore", invalid="ignore"):
                share = np.where(total > cap, cap / total, 1.0)
            fill = np.minimum(fill, (np.floor(fill * share / lots) * lots).astype(np.int64))
        ref = orders["ref_price"].to_numpy(dtype=float)
        accounts = orders["account"]
        v = (
            accounts.map(value).to_numpy(dtype=float)
            if isinstance(value, dict)
            else np.full(len(orders), float(value))
        )
        coef = None if impact is None else impact.reindex(assets).fillna(0.0).to_numpy()
        rate = cost_rate(fill * ref, v, self.half_spread, coef)
        s = sign(orders["side"])
        price = close * (1.0 + s * rate)
        limit = orders["limit_price"].to_numpy(dtype=float)
        outside = np.isfinite(limit) & (s * (price - limit) > 0)
        fill = np.where(outside, 0, fill)
        ok = fill > 0
        ids = orders["order_id"].to_numpy()
        return pd.DataFrame(
            {
                "order_id": ids[ok],
                "exec_id": [f"P-{i}" for i in ids[ok]],
                "account": accounts.to_numpy()[ok],
                "asset": assets.to_numpy()[ok],
                "side": orders["side"].to_numpy()[ok],
                "quantity": fill[ok],
                "price": price[ok],
                "order_qty": qty[ok],
                "cum_qty": fill[ok],
                "avg_px": price[ok],
            }
        )[FILL_COLUMNS].reset_index(drop=True)

    @staticmethod
    def reports(fills: pd.DataFrame) -> bytes:
        """The fills as a FIX file of ExecutionReports (one per line)."""
        msgs = [execution_report(f, n) for n, f in enumerate(fills.to_dict("records"), 1)]
        return b"\n".join(msgs) + (b"\n" if msgs else b"")


__all__ = ["FILL_COLUMNS", "PaperBroker", "Side"]
