"""PNG figures of the risk analytics: contributions, loss by scenario, attribution.

Each function takes the frozen result and returns PNG bytes drawn the one way every
alphagate chart is (:mod:`governance.ground.charts`: Agg backend, no timestamp in the
metadata, so equal inputs give equal bytes).
"""

from __future__ import annotations

import pandas as pd

from governance.ground.charts import percent_axis, png, pyplot
from tasks.risk.attribution import Attribution
from tasks.risk.decomposition import Decomposition
from tasks.risk.stress import StressResult

#: Assets drawn by name in the contributions chart (largest shares of the volatility, in
#: absolute value); the rest are one bar. A hundred names on a 5-inch axis overlapped
#: into an unreadable block, and laying them out took two thirds of a risk report's time.
TOP_ASSETS = 20


def top_shares(assets: pd.DataFrame, top: int = TOP_ASSETS) -> pd.DataFrame:
    """``asset, share`` of the ``top`` largest absolute shares, and one row
    ``"N other assets"`` with the others' summed share (shares still add up to the total);
    sorted by share for a horizontal bar chart."""
    order = assets["share"].abs().sort_values(ascending=False).index
    shown = assets.loc[order[:top], ["asset", "share"]]
    rest = assets.loc[order[top:], "share"]
    if len(rest):
        other = pd.DataFrame({"asset": [f"{len(rest)} other assets"], "share": [rest.sum()]})
        shown = pd.concat([shown, other], ignore_index=True)
    return shown.sort_values("share", kind="stable")


def contributions_png(d: Decomposition, title: str) -> bytes:
    """Share of ex-ante volatility by asset (the largest, then the rest), sector and factor
    (Euler contributions)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 5), layout="constrained")
    assets = top_shares(d.assets)
    by_asset = "by asset" if len(assets) == len(d.assets) else f"by asset (largest {TOP_ASSETS})"
    panels = (
        (axes[0], assets.asset, assets.share, by_asset),
        (axes[1], d.sectors.sector, d.sectors.share, "by sector"),
        (axes[2], d.factors.factor, d.factors.share, "by factor (and specific)"),
    )
    for ax, labels, values, name in panels:
        ax.barh(list(labels), list(values), color="#3b6ea5")
        ax.set_title(name)
        percent_axis(ax, "x", decimals=None)
        ax.axvline(0.0, color="black", linewidth=0.8)
    fig.suptitle(
        f"{title}: annual volatility {d.summary()['annual_volatility']:.1%}, "
        f"factor share {d.factor_share:.0%}"
    )
    return png(fig)


def losses_png(s: StressResult, title: str) -> bytes:
    """Loss and cost to exit by scenario (stacked bars, worst first)."""
    plt = pyplot()
    table = s.scenarios.sort_values("loss")
    fig, ax = plt.subplots(figsize=(10, 0.5 * len(table) + 1.5), layout="constrained")
    ax.barh(table.scenario, table.loss, color="#b5443b", label="loss")
    ax.barh(
        table.scenario, table.cost_to_exit, left=table.loss, color="#e0a458", label="cost to exit"
    )
    percent_axis(ax, "x", decimals=None)
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.legend(loc="lower right")
    ax.set_title(f"{title}: loss by scenario (fraction of value)")
    return png(fig)


def attribution_png(a: Attribution, title: str) -> bytes:
    """Per-period Brinson–Fachler effects and factor contributions to the active return."""
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5), layout="constrained")
    effects = a.sectors.groupby("period")[["allocation", "selection", "interaction"]].sum()
    effects.plot.bar(ax=left, stacked=True)
    left.plot(range(len(a.periods)), a.periods.active.to_numpy(), "ko-", label="active")
    left.set_title("Brinson–Fachler effects by period")
    left.legend()
    factors = a.factors.pivot(index="period", columns="factor", values="contribution")
    factors.plot.bar(ax=right, stacked=True)
    right.set_title("factor contributions to the active return")
    for ax in (left, right):
        percent_axis(ax, "y", decimals=None)
        ax.axhline(0.0, color="black", linewidth=0.8)
    fig.suptitle(title)
    return png(fig)
