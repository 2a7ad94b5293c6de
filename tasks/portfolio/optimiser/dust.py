"""Dust trades: trades below ``portfolio.min_trade_weight`` are not made.

Interior-point solutions trade every asset a little (~1e-9 where nothing is meant to
move), and a cost-aware optimum may leave small real trades. :func:`dust_mask` finds the
trades that may be left undone; :func:`undo_dust` undoes them in place and moves the net
weight they carried onto the largest real trade with room for it, so the budget holds,
turnover does not grow and every bound still holds. The optimiser
(``tasks.portfolio.optimiser.core``) re-solves with the dust assets held when that cannot be
done. Inputs are the optimiser's parameter values of one account (``w0``, ``lower``,
``upper``, and ``r_lo``/``r_hi`` with a restricted list).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tasks.portfolio.optimiser.values import weight_box

#: Dust whose net is at most this is set to zero without moving anything (interior-point
#: round-off: the budget moves far less than the pre-trade gate's 1e-6 tolerance).
DUST_SNAP = 1e-8


@dataclass(frozen=True)
class SectorLimits:
    """Sector membership (sectors × assets, 0/1) and the bounds on each sector's sum."""

    member: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


def dust_mask(weights: np.ndarray, values: dict, min_trade: float) -> tuple[np.ndarray, float]:
    """Trades that may be left undone, and their total size.

    An asset's trade is dust when ``0 < |w - w0| < min_trade`` and its current weight is
    within its bounds now (a trade that a bound forces is never dust).
    """
    w0 = values["w0"]
    size = np.abs(weights - w0)
    lo, hi = weight_box(values)
    mask = (size > 0) & (size < min_trade) & (w0 >= lo) & (w0 <= hi)
    return mask, float(size[mask].sum())


def undo_dust(
    weights: np.ndarray,
    values: dict,
    min_trade: float,
    sectors: SectorLimits | None = None,
    exact_only: bool = False,
) -> np.ndarray | None:
    """``weights`` with the dust trades undone, or None when it cannot be done in place.

    ``exact_only``: a constraint the move could breach is present (tracking error, gross
    leverage): only a net within :data:`DUST_SNAP` is undone in place. None also when no
    real trade has the room (within its bounds and its sector's) for the net.
    """
    mask, _ = dust_mask(weights, values, min_trade)
    w0 = values["w0"]
    out = np.where(mask, w0, weights)
    net = float((weights - out).sum())
    if abs(net) <= DUST_SNAP:
        return out
    if exact_only:
        return None
    lo, hi = weight_box(values)
    room = hi - out if net > 0 else out - lo
    trade = np.abs(out - w0)
    ok = ~mask & (trade >= min_trade + abs(net)) & (room >= abs(net))
    if sectors is not None:
        sums = sectors.member @ out
        space = sectors.upper - sums if net > 0 else sums - sectors.lower
        in_room = (sectors.member.T @ (space >= abs(net))).astype(bool)
        ok &= in_room | (sectors.member.sum(axis=0) == 0)
    if not ok.any():
        return None
    out[np.flatnonzero(ok)[np.argmax(trade[ok])]] += net
    return out
