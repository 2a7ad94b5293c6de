"""Each account's expected shortfall from one pass of its losses through the cache (issue 28).

``account_losses`` needs, for each of A weight vectors ``w_a`` (``W``, A x n), the mean of
its S losses ``-R w_a`` (``R``, S x n) at or above their ``tail`` quantile (``np.quantile``'s
linear interpolation). Only the top ``m = S - floor(tail (S - 1))`` losses of an account
decide it, and the S x A losses are never needed at once:

1. a threshold per account from a strided sample of the scenarios (every ``STRIDE``-th:
   one small product), at the sample's rank that leaves about ``MARGIN`` times ``m``
   losses above it;
2. the losses a block of scenarios at a time (``-R_b W'``, ``BLOCK_BYTES``: the block stays
   in the L2 cache while it is compared with the thresholds), each block's losses at or
   above their account's threshold kept with their account (2-3 % of them);
3. an account with at least ``m`` kept losses (and at most ``CAP`` times the margin's) has
   its top ``m`` among them: its quantile and tail mean are computed on them alone. Any
   other account (an unlucky sample, ties) passes again with a margin 4 times larger, and
   at last with no threshold (every loss kept).

The loss matrix is written once, a block at a time, and read once while in cache: no
second pass over the 10^7 losses and no A x S allocation. The products run on one BLAS
thread: OpenBLAS's two threads cost 1.3-4 x the CPU on per-block products on a loaded
two-core machine (bench/bench_stress.py prints the floor both ways); more accounts than
one machine serves split across workers by chunk (docs/benchmarks.md, "Stress at scale").

Exact: the quantile is interpolated as ``np.quantile`` interpolates (``_lerp``) and the
tail is the same set of losses; only the order of the tail's summation differs (a few
ulps). Ties need every scenario's loss computed by the same arithmetic: a bootstrap
repeats scenarios, and two copies of one scenario that differ by an ulp change which of
them reach the quantile (0.2 % of the ES measured). So every block, the last one padded,
has a multiple of ``TILE`` rows: OpenBLAS computes a row at the edge of its tiling with a
different kernel. tests/test_tail.py checks the figure against ``np.quantile`` on random
(hypothesis), tied, repeated and adversarial losses.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from threadpoolctl import ThreadpoolController

STRIDE = 10
#: The threshold aims to keep this many times ``m`` losses per account: 2 kept about 2.4 m
#: on the bench's data (an account falls short with a probability of about 0.5 %, from the
#: sample's rank statistics; accounts share the scenarios, so they fall short together,
#: and pass again with a margin 4 times larger); 3 cost 20 % more CPU.
MARGIN = 2.0
#: An account with more kept losses than ``CAP * margin * m`` (a threshold far too low)
#: passes again, so one bad sample cannot make the candidate matrix A x S.
CAP = 4.0
#: One block of losses: half of this machine's 2 MiB L2 (128-1,024 scenarios of 1,000
#: accounts measured alike, bench/bench_stress.py).
BLOCK_BYTES = 1 << 20
#: Rows of a block are a multiple of this (OpenBLAS's tiles are 4 to 16 rows).
TILE = 64


@cache
def _blas() -> ThreadpoolController:
    """The process's BLAS libraries, found once (``threadpool_limits`` looks for them on
    every call: 1.5 ms, as much as the tail means)."""
    return ThreadpoolController()


def _lerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """``np.quantile``'s linear interpolation (numpy's ``_lerp``), bit for bit."""
    diff = b - a
    out = a + diff * t
    if t >= 0.5:
        out = b - diff * (1.0 - t)
    return np.where(a == b, a, out)


def _kept(returns: np.ndarray, neg_wt: np.ndarray, threshold: np.ndarray, block_bytes: int):
    """Every loss ``-R w_a`` at or above its account's threshold, as ``(account, loss)``
    arrays in scenario-major order (``neg_wt`` is ``-W'``, n x A)."""
    s_count, a_count = returns.shape[0], neg_wt.shape[1]
    rows = max(TILE, block_bytes // (8 * a_count) // TILE * TILE)
    rows = min(rows, -(-s_count // TILE) * TILE)
    buf = np.empty((rows, a_count))
    above = np.empty((rows, a_count), dtype=bool)
    accounts, values = [], []
    for start in range(0, s_count, rows):
        r = returns[start : start + rows]
        if len(r) % TILE:  # the last block, padded with zero returns to whole tiles
            r = np.concatenate([r, np.zeros((-len(r) % TILE, r.shape[1]))])
        b, mask = buf[: len(r)], above[: len(r)]
        np.matmul(r, neg_wt, out=b)
        np.greater_equal(b, threshold, out=mask)
        mask[s_count - start :] = False  # the padding's rows
        flat = np.flatnonzero(mask)
        values.append(b.ravel().take(flat))
        accounts.append(flat % a_count)
    return np.concatenate(accounts), np.concatenate(values)


def _tail_means(accounts, values, n_accounts: int, m: int, frac: float) -> np.ndarray:
    """Each account's tail mean from its kept losses (at least ``m`` of each account)."""
    key = accounts.astype(np.uint16) if n_accounts <= 1 << 16 else accounts  # a radix sort
    order = np.argsort(key, kind="stable")  # by account, each in scenario order
    sizes = np.bincount(accounts, minlength=n_accounts)
    width = int(sizes.max())
    # account i's losses at i * width + 0 .. sizes[i] - 1, the rest -inf
    first = np.repeat(np.arange(n_accounts) * width - (np.cumsum(sizes) - sizes), sizes)
    cand = np.full((n_accounts, width), -np.inf)
    cand.ravel()[first + np.arange(len(values))] = values[order]
    # in a sorted row the account's rank lo sits at width - m (the padding and the losses
    # below the threshold are all below it) and rank lo + 1 is the least of those above
    # it (numpy's partition at two points costs 5 x one)
    k = width - m
    cand.partition(k, axis=1)
    upper = cand[:, k + 1 :].min(axis=1) if m > 1 else cand[:, k]  # m = 1: one scenario
    var = _lerp(cand[:, k], upper, frac)
    mask = cand >= var[:, None]
    return np.where(mask, cand, 0.0).sum(axis=1) / mask.sum(axis=1)


def account_tail_means(
    returns: np.ndarray, weights: np.ndarray, tail: float, *, block_bytes: int = BLOCK_BYTES
) -> np.ndarray:
    """Expected shortfall at ``tail`` of each account's losses ``-R w_a``.

    Parameters
    ----------
    returns : ndarray, shape (S, n)
        Scenario returns ``R``, finite.
    weights : ndarray, shape (A, n)
        One weight vector per account (``W``), finite.
    tail : float
        Confidence, in (0, 1).
    block_bytes : int
        Size of one block of losses (rounded to whole tiles of ``TILE`` scenarios).

    Returns
    -------
    ndarray, shape (A,)
        For each account, the mean of its losses at or above their ``np.quantile`` at
        ``tail`` (linear interpolation).
    """
    returns = np.ascontiguousarray(returns, dtype=float)
    neg_wt = np.ascontiguousarray(-np.asarray(weights, dtype=float).T)
    s_count, a_count = returns.shape[0], neg_wt.shape[1]
    if not 0.0 < tail < 1.0 or s_count == 0:
        raise ValueError(f"tail {tail} must be in (0, 1), with scenarios ({s_count})")
    pos = tail * (s_count - 1)
    lo = int(np.floor(pos))
    m = s_count - lo  # the ranks lo .. S-1: the account's top m
    n_sample = -(-s_count // STRIDE)
    sample = None
    out = np.empty(a_count)
    todo, margin = np.arange(a_count), MARGIN
    with _blas().limit(limits=1, user_api="blas"):
        while len(todo):
            # accounts short of m kept losses (or far over) pass again, the margin 4x wider
            keep = int(np.ceil(margin * m / STRIDE))
            if n_sample <= keep:  # as low as the sample goes: every loss is kept
                threshold = np.full(len(todo), -np.inf)
            else:
                if sample is None:
                    sample = neg_wt.T @ returns[::STRIDE].T  # A x S/STRIDE, a new array
                ranked = sample if len(todo) == a_count else sample[todo]
                ranked.partition(n_sample - keep, axis=1)  # along rows: 2x faster
                threshold = ranked[:, n_sample - keep].copy()
            wt = neg_wt if len(todo) == a_count else neg_wt[:, todo]
            accounts, values = _kept(returns, wt, threshold, block_bytes)
            counts = np.bincount(accounts, minlength=len(todo))
            capped = (counts <= CAP * margin * m) | np.isneginf(threshold)
            good = (counts >= m) & capped
            if not good.all():
                keep_rows = good[accounts]
                accounts, values = accounts[keep_rows], values[keep_rows]
                accounts = np.cumsum(good)[accounts] - 1  # renumbered 0 .. good.sum() - 1
            if good.any():
                out[todo[good]] = _tail_means(accounts, values, int(good.sum()), m, pos - lo)
            todo, margin = todo[~good], margin * 4
    return out
