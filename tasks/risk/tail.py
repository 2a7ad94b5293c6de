"""Each row's expected shortfall without ranking the whole row (issue 28, stress at scale).

``account_losses`` needs, for each of A accounts, the mean of its S sampled losses at or
above their ``tail`` quantile (``np.quantile``'s linear interpolation). Only the top
``m = S - floor(tail (S - 1))`` losses of a row decide it, so a full selection over every
row (``np.quantile``: about three quarters of the stress's CPU at S = 10,000, A = 1,000)
is not needed:

1. a threshold per row from a strided sample of its losses (every ``STRIDE``-th), at the
   sample's rank that leaves about ``MARGIN`` times ``m`` losses above it in the row;
2. one pass over the losses: how many in each row are at or above its threshold;
3. rows with at least ``m`` such losses: the losses at or above the threshold (a few
   percent of the row) hold the row's top ``m``, so the quantile and the tail are computed
   on them alone; any other row (the sample was unlucky, or ties) takes the full path.

Exact: the quantile is interpolated as ``np.quantile`` interpolates (``_lerp``), and the
tail is the same set of losses; only the order of the tail's summation differs (a few
ulps). tests/test_tail.py checks it against ``np.quantile`` on random, tied and
adversarial rows.
"""

from __future__ import annotations

import numpy as np

STRIDE = 10
MARGIN = 3.0


def _lerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """``np.quantile``'s linear interpolation (numpy's ``_lerp``), bit for bit."""
    diff = b - a
    out = a + diff * t
    if t >= 0.5:
        out = b - diff * (1.0 - t)
    return np.where(a == b, a, out)


def _full(rows: np.ndarray, tail: float) -> np.ndarray:
    var = np.quantile(rows, tail, axis=1)
    mask = rows >= var[:, None]
    return np.where(mask, rows, 0.0).sum(axis=1) / mask.sum(axis=1)


def tail_means(losses: np.ndarray, tail: float) -> np.ndarray:
    """For each row of ``losses`` (A x S), the mean of its values at or above the row's
    ``tail`` quantile (``np.quantile``, linear). ``losses`` is read, never written."""
    a_count, s_count = losses.shape
    pos = tail * (s_count - 1)
    lo = int(np.floor(pos))
    frac = pos - lo
    m = s_count - lo  # the ranks lo .. S-1: the row's top m
    sample = np.ascontiguousarray(losses[:, ::STRIDE])
    keep = int(np.ceil(MARGIN * m / STRIDE))
    if m < 2 or sample.shape[1] <= keep:
        return _full(losses, tail)
    rank = sample.shape[1] - keep
    sample.partition(rank, axis=1)  # in place: the sample is a copy
    threshold = sample[:, rank]
    above = losses >= threshold[:, None]
    counts = above.sum(axis=1)
    good = counts >= m
    out = np.empty(a_count)
    if not good.all():
        out[~good] = _full(losses[~good], tail)
    if good.any():
        rows = np.flatnonzero(good)
        width = int(counts[rows].max())
        cand = np.full((len(rows), width), -np.inf)
        # row-major: each row's candidates together, in its order
        values = losses[above] if len(rows) == a_count else losses[rows][above[rows]]
        sizes = counts[rows]
        r = np.repeat(np.arange(len(rows)), sizes)
        starts = np.cumsum(sizes) - sizes
        cand[r, np.arange(len(values)) - starts[r]] = values
        # in a sorted candidate row the full row's rank lo sits at width - m (the -inf
        # padding and the losses below the threshold are all below it)
        k = width - m
        kth = [k, k + 1] if m > 1 else [k]
        part = np.partition(cand, kth, axis=1)
        var = part[:, k] if m == 1 else _lerp(part[:, k], part[:, k + 1], frac)
        mask = cand >= var[:, None]
        out[rows] = np.where(mask, cand, 0.0).sum(axis=1) / mask.sum(axis=1)
    return out
