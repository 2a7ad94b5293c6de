"""The policy's fallback portfolios (``governance.policy.Fallback``): hold, benchmark, flat."""

from __future__ import annotations

import numpy as np
import pandas as pd

from governance.policy import Fallback
from tasks.portfolio.dust import undo_dust


def fallback_weights(kind: Fallback, current: pd.Series | None, benchmark: pd.Series) -> pd.Series:
    """The policy's fallback portfolio (``governance.policy.Fallback``).

    Parameters
    ----------
    kind : Fallback
        ``hold``: the current weights (falling back to the benchmark when there are none);
        ``benchmark``: the benchmark; ``flat``: all cash (zero weights).
    current : Series or None
        Weights held now, indexed by asset.
    benchmark : Series
        Benchmark weights, indexed by asset (the universe).

    Returns
    -------
    Series
        Weights on the union of both indexes, NaN -> 0, named ``weight``.
    """
    kind = Fallback(kind)
    index = benchmark.index if current is None else benchmark.index.union(current.index)
    if kind is Fallback.FLAT:
        out = pd.Series(0.0, index=index)
    elif kind is Fallback.HOLD and current is not None and current.abs().sum() > 0:
        out = current.reindex(index)
    else:
        out = benchmark.reindex(index)
    return out.astype(float).fillna(0.0).rename("weight")


def without_dust(target: pd.Series, current: pd.Series | None, min_trade: float) -> pd.Series:
    """``target`` with trades below ``min_trade`` left undone (``tasks.portfolio.dust``).

    What they would have moved goes to the largest real trade, so the total weight is kept;
    a fallback portfolio has no bounds of its own (the pre-trade gate checks it). Without
    holdings nothing is dust (funding from cash buys the whole target).
    """
    if current is None or min_trade <= 0:
        return target
    index = target.index.union(current.index)
    tgt = target.reindex(index).fillna(0.0).to_numpy(dtype=float)
    cur = current.reindex(index).fillna(0.0).to_numpy(dtype=float)
    unbounded = {"w0": cur, "lower": np.full(len(cur), -np.inf), "upper": np.full(len(cur), np.inf)}
    out = undo_dust(tgt, unbounded, min_trade)
    return pd.Series(tgt if out is None else out, index=index, name="weight")
