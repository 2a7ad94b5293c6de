"""The chart of a published portfolio: weights by sector before and after, and the trades.

Drawn for each publication next to its readable copies (``portfolios/<strategy>/<date>-
<source>/portfolio.png``). Weights and trades are fractions of the account's value, on
percent axes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from governance.ground.charts import palette, percent_axis, png, pyplot, title

#: Trades shown in the right panel (largest by size); the rest are summed in the caption.
TOP_TRADES = 15


def portfolio_png(
    trades: pd.DataFrame, sectors: pd.Series | None, what: str, label: str | None = None
) -> bytes:
    """PNG of a rebalance: sector weights before/after (left), largest trades (right).

    Parameters
    ----------
    trades : DataFrame
        One row per asset with ``asset``, ``current``, ``target`` and ``change`` (fractions).
    sectors : Series or None
        asset -> sector; without it every asset is in one group ``all``.
    what : str
        The title's subject (``"model portfolio as of 2024-06-28"``).
    label : str, optional
        The strategy or model, added to the title.
    """
    plt = pyplot()
    t = trades.set_index("asset")
    group = (
        sectors.reindex(t.index).fillna("unknown")
        if sectors is not None
        else pd.Series("all", index=t.index)
    )
    by_sector = t[["current", "target"]].groupby(group).sum().sort_values("target")
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 0.32 * max(len(by_sector), 8) + 1.6))
    y = np.arange(len(by_sector))
    before, after = palette(2)
    left.barh(y - 0.2, by_sector["current"], height=0.4, color=before, label="before")
    left.barh(y + 0.2, by_sector["target"], height=0.4, color=after, label="after")
    left.set_yticks(y, by_sector.index)
    left.set_title("Weight by sector", fontsize=10)
    percent_axis(left, "x")
    left.legend(fontsize=8, loc="lower right")
    left.grid(axis="x", alpha=0.3)
    moves = t["change"][t["change"].abs() > 0]
    shown = moves.reindex(moves.abs().sort_values().index[-TOP_TRADES:])
    colours = [after if v > 0 else "#d62728" for v in shown]
    right.barh(range(len(shown)), shown.to_numpy(), color=colours)
    right.set_yticks(range(len(shown)), shown.index)
    rest = len(moves) - len(shown)
    right.set_title(
        "Largest trades (buy +, sell −)" + (f"; +{rest} smaller, see trades.csv" if rest else ""),
        fontsize=10,
    )
    right.axvline(0, color="#888", lw=0.8)
    percent_axis(right, "x", decimals=1)
    right.grid(axis="x", alpha=0.3)
    fig.suptitle(title(what, label), fontsize=11)
    return png(fig)
