"""The policy's fallback portfolios (``governance.policy.Fallback``): hold, benchmark, flat."""

from __future__ import annotations

import pandas as pd

from governance.policy import Fallback


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
    """``target`` with trades below ``min_trade`` left undone (the asset keeps its weight).

    What they would have moved goes to the largest trade, so the total weight is kept.
    Without holdings nothing is dust (funding from cash buys the whole target).
    """
    if current is None or min_trade <= 0:
        return target
    index = target.index.union(current.index)
    tgt = target.reindex(index).fillna(0.0)
    cur = current.reindex(index).fillna(0.0)
    change = tgt - cur
    dust = (change.abs() > 0) & (change.abs() < min_trade)
    if not dust.any() or dust.all():
        return tgt.rename("weight")
    out = tgt.where(~dust, cur)
    out[change.where(~dust, 0.0).abs().idxmax()] += float(change[dust].sum())
    return out.rename("weight")
