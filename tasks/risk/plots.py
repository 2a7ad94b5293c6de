"""PNG figures of the risk analytics: contributions, loss by scenario, attribution.

Each function takes the frozen result and returns PNG bytes (matplotlib, Agg backend,
no timestamp in the metadata so equal inputs give equal bytes).
"""

from __future__ import annotations

import io

from tasks.risk.attribution import Attribution
from tasks.risk.decomposition import Decomposition
from tasks.risk.stress import StressResult


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    _pyplot().close(fig)
    return buf.getvalue()


def contributions_png(d: Decomposition, title: str) -> bytes:
    """Share of ex-ante volatility by asset, sector and factor (Euler contributions)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 5), layout="constrained")
    assets = d.assets.sort_values("share")
    panels = (
        (axes[0], assets.asset, assets.share, "by asset"),
        (axes[1], d.sectors.sector, d.sectors.share, "by sector"),
        (axes[2], d.factors.factor, d.factors.share, "by factor (and specific)"),
    )
    for ax, labels, values, name in panels:
        ax.barh(list(labels), list(values), color="#3b6ea5")
        ax.set_title(name)
        ax.xaxis.set_major_formatter(lambda v, _p: f"{v:.0%}")
        ax.axvline(0.0, color="black", linewidth=0.8)
    fig.suptitle(
        f"{title}: annual volatility {d.summary()['annual_volatility']:.1%}, "
        f"factor share {d.factor_share:.0%}"
    )
    return _png(fig)


def losses_png(s: StressResult, title: str) -> bytes:
    """Loss and cost to exit by scenario (stacked bars, worst first)."""
    plt = _pyplot()
    table = s.scenarios.sort_values("loss")
    fig, ax = plt.subplots(figsize=(10, 0.5 * len(table) + 1.5), layout="constrained")
    ax.barh(table.scenario, table.loss, color="#b5443b", label="loss")
    ax.barh(
        table.scenario, table.cost_to_exit, left=table.loss, color="#e0a458", label="cost to exit"
    )
    ax.xaxis.set_major_formatter(lambda v, _p: f"{v:.0%}")
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.legend(loc="lower right")
    ax.set_title(f"{title}: loss by scenario (fraction of value)")
    return _png(fig)


def attribution_png(a: Attribution, title: str) -> bytes:
    """Per-period Brinson–Fachler effects and factor contributions to the active return."""
    plt = _pyplot()
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
        ax.yaxis.set_major_formatter(lambda v, _p: f"{v:.1%}")
        ax.axhline(0.0, color="black", linewidth=0.8)
    fig.suptitle(title)
    return _png(fig)
