"""One look for every chart alphagate draws (backtest, SHAP, published portfolios).

Percent axes for returns and weights, a palette with as many distinct colours as series
(no two series share a colour: ``tab20`` and then a perceptually even colormap), titles
that name the model and the period, and deterministic PNG bytes (no timestamp metadata),
so a chart hashes the same on every run and its SHA-256 can sit in the ledger.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

__all__ = ["DPI", "palette", "percent_axis", "png", "pyplot", "title"]

#: Resolution of every chart, in dots per inch (a 9-inch chart is 900 pixels wide).
DPI = 100


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def palette(n: int) -> list:
    """``n`` distinct colours: ``tab10`` up to 10, ``tab20`` up to 20, then ``turbo``."""
    from matplotlib import colormaps

    if n <= 10:
        return list(colormaps["tab10"].colors[:n])
    if n <= 20:
        tab = colormaps["tab20"].colors  # pairs dark/light: take darks first, then lights
        return [*tab[0::2], *tab[1::2]][:n]
    cmap = colormaps["turbo"]
    return [cmap(0.05 + 0.9 * i / (n - 1)) for i in range(n)]


def percent_axis(ax: Any, axis: str = "y", decimals: int | None = 0) -> None:
    """Label ``axis`` of ``ax`` in percent of the plotted fractions (0.14 → 14 %);
    ``decimals=None`` gives as many as the axis's range needs (ticks 2.5 % apart read 2.5 %,
    not a rounded 2 %)."""
    from matplotlib.ticker import PercentFormatter

    fmt = PercentFormatter(xmax=1.0, decimals=decimals)
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(fmt)


def title(what: str, model: str | None = None, period: Sequence[Any] | None = None) -> str:
    """``what — model, first to last`` (the parts that are known)."""
    parts = [what]
    if model:
        parts.append(str(model))
    if period is not None and len(period) == 2 and period[0] is not None:
        parts.append(f"{_day(period[0])} to {_day(period[1])}")
    return " — ".join(parts[:1]) + ("" if len(parts) == 1 else " — " + ", ".join(parts[1:]))


def _day(value: Any) -> str:
    import pandas as pd

    return str(pd.Timestamp(value).date())


def png(fig) -> bytes:
    """The figure as PNG bytes (no metadata: the same chart gives the same bytes); closes it.

    A figure with a layout engine (``layout="constrained"``) is laid out by it and saved at
    its own size (the engine keeps every label inside it); any other figure is cropped to
    its tight bounding box padded by ``savefig.pad_inches``. Drawn once, at :data:`DPI`.
    """
    from matplotlib import rcParams

    # savefig with bbox_inches="tight" or a layout engine draws the whole figure once with
    # its output disabled before the real draw, only to lay it out and measure it. Laying
    # out and measuring here, then giving savefig a fixed box and no engine, leaves one draw.
    fig.set_dpi(DPI)
    engine = fig.get_layout_engine()
    if engine is not None:
        if fig.axes:  # as in Figure.draw: an engine lays out axes, and warns without any
            engine.execute(fig)
        fig.set_layout_engine(None)  # laid out: savefig must not lay it out again
        bbox = None  # cropping a laid-out figure measured every label a third time
    else:
        box = fig.get_tightbbox(fig.canvas.get_renderer())
        bbox = box.padded(rcParams["savefig.pad_inches"])
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches=bbox, metadata={"Software": None})
    pyplot().close(fig)
    return buf.getvalue()
