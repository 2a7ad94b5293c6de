"""The demo's feature source: SYNTHETIC analyst revisions of the 20 demo stocks.

Shipped as ``configs/sources/revisions.csv`` with its contract
``configs/sources/revisions.odcs.yaml`` and used by ``configs/demo-sources.yaml``. It is
synthetic, and labelled so in its contract: no public data set in the installed packages
holds analyst estimates. It is derived offline, deterministically, from the demo prices
(skfolio's S&P 500 file) by :func:`demo_revisions`, so it is honest about time:

- one row per asset and month end (``period``) from 1991; ``available_at`` is
  :data:`PUBLICATION_LAG_DAYS` calendar days later (a monthly consensus snapshot published
  mid-month);
- ``revision_breadth``: the cross-sectional z-score of the asset's 63-day return up to the
  period end, plus as much independent noise (revisions follow prices; nothing after the
  period enters), rounded to 1e-3 and clipped to ±5;
- ``estimate_dispersion``: independent noise (a column that should earn nothing);
- about 3 % of rows are restated once, 30 days after first publication, by a small
  correction: both vintages are kept (the as-of join takes the one known at each date);
- about 1 % of ``estimate_dispersion`` values are missing.

Regenerate with ``python -m tasks.data.sources.demo``; tests/test_demo_source.py checks the
shipped file equals what this function makes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["PUBLICATION_LAG_DAYS", "demo_revisions"]

PUBLICATION_LAG_DAYS = 15
_FIRST = "1991-01-01"
_SEED = 26


def demo_revisions(long: pd.DataFrame) -> pd.DataFrame:
    """The source table from the demo's long prices (``date, asset, close``)."""
    close = long.pivot(index="date", columns="asset", values="close").sort_index()
    ret63 = close / close.shift(63) - 1.0
    ends = close.index.to_series().groupby(close.index.to_period("M")).max()
    ends = ends[ends >= pd.Timestamp(_FIRST)]
    ends = ends[ends < close.index[-1]]  # a month still running has no month end yet
    snap = ret63.loc[ends.to_numpy()]
    z = snap.sub(snap.mean(axis=1), axis=0).div(snap.std(axis=1), axis=0)
    rng = np.random.default_rng(_SEED)
    breadth = (z + rng.standard_normal(z.shape)).clip(-5, 5).round(3)
    dispersion = pd.DataFrame(rng.standard_normal(z.shape), index=z.index, columns=z.columns)
    dispersion = dispersion.round(3).mask(rng.random(z.shape) < 0.01)
    rows = pd.DataFrame({
        "asset": np.tile(z.columns.astype(str), len(z)),
        "period": np.repeat(z.index.to_numpy(), z.shape[1]),
        "revision_breadth": breadth.to_numpy().ravel(),
        "estimate_dispersion": dispersion.to_numpy().ravel(),
    }).dropna(subset=["revision_breadth"])  # fmt: skip
    rows["available_at"] = rows["period"] + pd.Timedelta(days=PUBLICATION_LAG_DAYS)
    restated = rows.sample(frac=0.03, random_state=_SEED).copy()
    restated["available_at"] += pd.Timedelta(days=30)
    restated["revision_breadth"] = (
        (restated["revision_breadth"] + rng.normal(0, 0.1, len(restated))).clip(-5, 5).round(3)
    )
    out = pd.concat([rows, restated], ignore_index=True)
    out = out.sort_values(["period", "asset", "available_at"], kind="mergesort")
    return out[["asset", "period", "available_at", "revision_breadth", "estimate_dispersion"]]


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """Dates as ``YYYY-MM-DD``, as a vendor's CSV would carry them."""
    out = frame.copy()
    for col in ("period", "available_at"):
        out[col] = pd.to_datetime(out[col]).dt.strftime("%Y-%m-%d")
    out.to_csv(path, index=False, lineterminator="\n")


if __name__ == "__main__":  # python -m tasks.data.sources.demo [OUT]
    from tasks.data.market import load_demo

    target = sys.argv[1] if len(sys.argv) > 1 else "configs/sources/revisions.csv"
    write_csv(demo_revisions(load_demo()), target)
    print(target)
