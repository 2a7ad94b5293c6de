"""The policy's fallback portfolios (``governance.policy.schema.Fallback``): hold, benchmark, flat,
and the glide path that reaches them within the turnover cap."""

from __future__ import annotations

import numpy as np
import pandas as pd

from governance.decisions.pretrade import funded_from_cash
from governance.policy.schema import Fallback
from tasks.portfolio.optimiser.dust import undo_dust


def fallback_weights(kind: Fallback, current: pd.Series | None, benchmark: pd.Series) -> pd.Series:
    """The policy's fallback portfolio (``governance.policy.schema.Fallback``).

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
    """``target`` with trades below ``min_trade`` left undone (``tasks.portfolio.optimiser.dust``).

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


def glide(
    target: pd.Series, current: pd.Series | None, max_turnover: float | None
) -> tuple[pd.Series, float]:
    """The way from ``current`` to ``target`` as far as the turnover cap allows.

    ``w = w0 + theta (target - w0)`` with ``theta = min(1, max_turnover / sum|target - w0|)``:
    a point on the segment between two portfolios, so every convex limit both ends meet
    (budget, bounds, sector caps) holds along the way, and the L1 turnover is at most the
    cap. Without it, a benchmark fallback from a concentrated model book breaches the
    pre-trade turnover cap, nothing is published and the book keeps the model's weights;
    with it, each rebalance moves on until the target is reached.

    Parameters
    ----------
    target, current : Series
        Weights by asset; ``current`` None or all zero is funding from cash
        (``governance.decisions.pretrade.funded_from_cash``), which no turnover cap limits.
    max_turnover : float or None
        The cap (``PortfolioConfig.within`` the policy's ``pretrade.max_turnover``); None: no cap.

    Returns
    -------
    (Series, float)
        The weights on the union of both indexes, and ``theta`` (1.0: the target reached).
    """
    if max_turnover is None or funded_from_cash(current):
        return target, 1.0
    index = target.index.union(current.index)
    tgt, cur = target.reindex(index).fillna(0.0), current.reindex(index).fillna(0.0)
    turnover = float((tgt - cur).abs().sum())
    if turnover <= max_turnover:
        return tgt.rename("weight"), 1.0
    theta = max_turnover / turnover
    return (cur + theta * (tgt - cur)).rename("weight"), theta
