"""The paper book's daily mark: what a version in paper would have earned, net of costs.

A version in its paper stage (governance/decisions/paper.py) trades nothing; its book is
marked every day as if it had. For each account (rows) on one day:

- the book holds ``held`` (weights after yesterday's drift) and is rebalanced to the day's
  fills (:func:`fills_at_target`: the target weights, at the close they were set on);
- ``turnover = Σ|fill - held|``, ``cost = Σ asset_costs(fill - held)`` (the one cost model,
  tasks/portfolio/costs.py), ``gross = fill · r`` with the day's simple returns ``r``,
  ``net = gross - cost``;
- tomorrow's ``held`` is the fill drifted by the day's returns, ``fill (1 + r) / (1 + gross)``.

``fills`` is the one switch: when the paper broker of tasks/orders fills orders in shares
(next close, partial fills), a function of the same shape replaces :func:`fills_at_target`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tasks.portfolio.costs import asset_costs

__all__ = ["PaperMark", "fills_at_target", "mark_day", "mark_period"]


@dataclass(frozen=True)
class PaperMark:
    """One day of the paper book, per account (arrays of shape (accounts,), ``held`` (accounts, n))."""

    net: np.ndarray
    gross: np.ndarray
    cost: np.ndarray
    turnover: np.ndarray
    held: np.ndarray


def fills_at_target(held: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Every order filled at the target weight (no partial fills)."""
    return target


def mark_day(
    held: np.ndarray,
    target: np.ndarray,
    returns: np.ndarray,
    half_spread,
    impact: np.ndarray | None = None,
    fills: Callable[[np.ndarray, np.ndarray], np.ndarray] = fills_at_target,
) -> PaperMark:
    """Mark one day of the paper book of every account (module doc).

    Parameters
    ----------
    held, target : ndarray, shape (accounts, n)
        Weights held before the day's rebalance, and its targets (``held`` when there was
        no rebalance that day).
    returns : ndarray, shape (n,)
        The day's simple returns (NaN: no price, counts as 0).
    half_spread, impact
        The cost model's inputs (tasks/portfolio/costs.py).
    """
    fill = fills(held, target)
    trade = fill - held
    r = np.nan_to_num(np.asarray(returns, dtype=float))
    cost = np.zeros(trade.shape[:-1])
    traded = np.any(trade != 0.0, axis=-1)  # a day without trades costs nothing: skip it
    if traded.any():
        cost[traded] = asset_costs(trade[traded], half_spread, impact).sum(axis=-1)
    gross = fill @ r
    grown = fill * (1.0 + r)
    with np.errstate(divide="ignore", invalid="ignore"):
        drifted = grown / (1.0 + gross)[..., None]
    return PaperMark(gross - cost, gross, cost, np.abs(trade).sum(axis=-1), drifted)


def mark_period(
    held: np.ndarray,
    target: np.ndarray,
    returns: np.ndarray,
    half_spread,
    impact: np.ndarray | None = None,
) -> PaperMark:
    """The paper book over one period from a booking to the next close, filled there.

    The book holds ``held`` through the period (it earns ``gross = held · r``), then the
    paper broker fills the booked ``target`` at the period's closing price
    (tasks/orders/paper.py: the next close plus the cost model), from the drifted holdings:
    ``cost = Σ asset_costs(target - drifted)``, ``net = gross - cost``; the book then holds
    ``target``. Shapes as :func:`mark_day`.
    """
    still = mark_day(held, held, returns, half_spread, impact)  # earns, drifts, no trade
    done = mark_day(still.held, target, np.zeros_like(np.asarray(returns, dtype=float)),
                    half_spread, impact)  # fmt: skip
    return PaperMark(still.gross - done.cost, still.gross, done.cost, done.turnover, done.held)
