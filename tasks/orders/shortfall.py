"""Cost analysis: implementation shortfall against the cost model's pre-trade estimate.

The shortfall of an order is what the fills cost against the decision price ``P0`` (the
reference price the order was built at, the last close of the book's date):

.. math:: \\mathrm{IS} = s\\,(\\bar P - P_0)\\,q \\qquad \\mathrm{IS_{bp}} = 10^4\\, s\\,(\\bar P - P_0)/P_0

with side ``s`` (+1 buy, -1 sell), filled quantity ``q`` and average fill price
``\\bar P`` (Perold 1988, without the opportunity cost of the unfilled part). The
estimate is the optimiser's cost model (:func:`tasks.portfolio.costs.asset_costs`) per
unit of notional: :func:`tasks.portfolio.costs.cost_rate`. Per rebalance, both are notional-weighted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tasks.orders.orders import BP, sign


def fill_summary(fills: pd.DataFrame) -> pd.DataFrame:
    """Per order id: ``filled`` (shares) and ``avg_price`` (quantity-weighted)."""
    if not len(fills):
        return pd.DataFrame(columns=["filled", "avg_price"], index=pd.Index([], name="order_id"))
    value = fills["quantity"] * fills["price"]
    grouped = pd.DataFrame({"q": fills["quantity"], "v": value, "id": fills["order_id"]})
    agg = grouped.groupby("id", sort=False)[["q", "v"]].sum()
    return pd.DataFrame(
        {"filled": agg["q"].astype(np.int64), "avg_price": agg["v"] / agg["q"]},
        index=agg.index.rename("order_id"),
    )


def shortfall(orders: pd.DataFrame, fills: pd.DataFrame) -> pd.DataFrame:
    """Per order with a fill: ``order_id, account, asset, side, filled, decision_price,
    avg_price, shortfall`` (money), ``shortfall_bp`` and ``estimated_bp``.

    ``orders`` carries ``estimated_bp`` (the cost model at export); fills of unknown
    order ids are left out (reconciliation reports them).
    """
    done = fill_summary(fills)
    rows = orders.merge(done, left_on="order_id", right_index=True, how="inner")
    rows = rows[rows["filled"] > 0]
    s = sign(rows["side"])
    move = rows["avg_price"].to_numpy() - rows["ref_price"].to_numpy()
    return pd.DataFrame(
        {
            "order_id": rows["order_id"].to_numpy(),
            "account": rows["account"].to_numpy(),
            "asset": rows["asset"].to_numpy(),
            "side": rows["side"].to_numpy(),
            "filled": rows["filled"].to_numpy(),
            "decision_price": rows["ref_price"].to_numpy(),
            "avg_price": rows["avg_price"].to_numpy(),
            "shortfall": s * move * rows["filled"].to_numpy(),
            "shortfall_bp": BP * s * move / rows["ref_price"].to_numpy(),
            "estimated_bp": rows["estimated_bp"].to_numpy(),
        }
    )


def rebalance_shortfall(per_order: pd.DataFrame) -> dict:
    """Notional-weighted (at the decision price) shortfall and estimate of a rebalance, bp."""
    notional = (per_order["filled"] * per_order["decision_price"]).to_numpy(dtype=float)
    total = float(notional.sum())
    if total <= 0:
        return {"orders": 0, "notional": 0.0, "shortfall_bp": None, "estimated_bp": None}
    return {
        "orders": len(per_order),
        "notional": total,
        "shortfall": float(per_order["shortfall"].sum()),
        "shortfall_bp": float(per_order["shortfall"].sum() / total * BP),
        "estimated_bp": float((per_order["estimated_bp"] * notional).sum() / total),
    }
