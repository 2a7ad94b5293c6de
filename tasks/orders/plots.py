"""The cost analysis chart: realised shortfall against the cost model's estimate."""

from __future__ import annotations

import numpy as np
import pandas as pd

from governance.ground.charts import png, pyplot, title


def shortfall_png(per_order: pd.DataFrame, summary: dict, strategy: str) -> bytes:
    """Each order's realised shortfall (bp of the decision price) against its estimate,
    marker area by notional, the line where they are equal, and the rebalance's
    notional-weighted figures in the title. ``per_order`` is
    :func:`tasks.orders.shortfall.shortfall`'s frame."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    notional = (per_order["filled"] * per_order["decision_price"]).to_numpy(dtype=float)
    size = 10 + 190 * notional / notional.max() if len(notional) and notional.max() > 0 else 20
    ax.scatter(per_order["estimated_bp"], per_order["shortfall_bp"], s=size, alpha=0.5)
    both = np.concatenate([per_order["estimated_bp"], per_order["shortfall_bp"]])
    lo, hi = (float(both.min()), float(both.max())) if len(both) else (0.0, 1.0)
    ax.plot([lo, hi], [lo, hi], color="grey", linewidth=1, label="realised = estimate")
    ax.axhline(0.0, color="black", linewidth=0.5)
    ax.set_xlabel("estimated cost, bp (cost model)")
    ax.set_ylabel("implementation shortfall, bp")
    ax.legend(loc="upper left")
    head = "implementation shortfall vs estimate"
    if summary.get("shortfall_bp") is not None:
        head += f": {summary['shortfall_bp']:.1f} bp vs {summary['estimated_bp']:.1f} bp"
    ax.set_title(title(head, strategy), fontsize=9)
    return png(fig)
