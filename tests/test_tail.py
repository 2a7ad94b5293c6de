"""tasks/risk/tail.py: each account's tail mean equals np.quantile's, whatever the losses.

Two ways to hand it losses whose reference is exact:

- identity weights (``W = I``, ``R = -L'``): every loss ``-R w_a`` is one entry of ``L``
  exactly (the other terms are signed zeros), so any loss matrix, ties and adversarial
  rows included, can be given;
- repeated scenarios (a bootstrap's): the reference computes each distinct scenario's loss
  once and repeats it, so copies of one scenario tie exactly in it;
- losses exact in any order (dyadic returns and weights): the figures are equal.

Tolerance: the fast path sums the same tail losses in another order (and, with random
weights, computes each loss with another BLAS blocking); by the recursive-summation bound
(Higham 2002, eq. 4.4) a mean of ``k <= S`` terms moves by at most ``(S + n) eps`` times the
largest ``sum_i |R_si w_ai|``, so that is the tolerance (times 2); an error in the selection
(a wrong quantile, a missing or extra tail loss) moves it by a whole loss over ``k``.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tasks.risk.stress import _aligned_books
from tasks.risk.tail import BLOCK_BYTES, account_tail_means

EPS = np.finfo(float).eps


def reference(losses: np.ndarray, tail: float) -> np.ndarray:
    var = np.quantile(losses, tail, axis=1)
    mask = losses >= var[:, None]
    return (losses * mask).sum(axis=1) / mask.sum(axis=1)


def assert_close(got, ref, returns, weights):
    scale = (np.abs(returns) @ np.abs(weights).T).max(initial=0.0)
    bound = 2 * (returns.shape[0] + returns.shape[1]) * EPS * scale
    np.testing.assert_allclose(got, ref, rtol=0, atol=bound)


def of_losses(losses: np.ndarray, tail: float, **kw) -> np.ndarray:
    """The fast path on ``losses`` (A x S) through identity weights: ``-R I = L'``."""
    returns, weights = -losses.T.copy(), np.eye(losses.shape[0])
    before = returns.copy(), weights.copy()
    got = account_tail_means(returns, weights, tail, **kw)
    np.testing.assert_array_equal(returns, before[0])  # read, never written
    np.testing.assert_array_equal(weights, before[1])
    return got


@pytest.mark.parametrize(
    ("scenarios", "rows", "tail"),
    [(10_000, 40, 0.99), (1_000, 30, 0.95), (500, 20, 0.99), (37, 5, 0.9), (10_007, 10, 0.999)],
)
def test_tail_means_equal_np_quantile(scenarios, rows, tail):
    rng = np.random.default_rng(scenarios + rows)
    losses = rng.standard_t(3, (rows, scenarios))
    losses[0] = 1.0  # every loss tied
    losses[1] = np.round(losses[1], 1)  # many ties at the quantile
    # the sampled scenarios (every tenth) hold the whole tail: the sampled threshold is
    # above the row's quantile, too few losses reach it; the row must be passed again
    losses[2, ::10] = 100.0 + rng.random(len(losses[2, ::10]))
    losses[3, ::10] = -100.0  # the sample below everything: a threshold far too low
    for block in (1, BLOCK_BYTES):  # blocks of one tile of scenarios, and the default
        np.testing.assert_allclose(
            of_losses(losses, tail, block_bytes=block), reference(losses, tail), rtol=1e-13
        )


def test_repeated_scenarios_tie_exactly():
    """A bootstrap of 252 days into 10,007 scenarios (not whole tiles), 37 accounts: each
    copy of a scenario is one loss, so the ties at the quantile all count. Blocks that
    are not whole tiles give a copy at a tile's edge another ulp, which changed the ES by
    up to 0.2 % on bench_stress's data."""
    rng = np.random.default_rng(5)
    days = rng.standard_t(4, (252, 100)) * 0.01
    draws = rng.integers(0, 252, 10_007)
    weights = rng.dirichlet(np.full(100, 2.0), size=37)
    ref = reference((-(weights @ days.T))[:, draws], 0.99)
    for block in (1, 100_000, BLOCK_BYTES):
        got = account_tail_means(days[draws], weights, 0.99, block_bytes=block)
        assert_close(got, ref, days[draws], weights)


def test_a_bad_sample_for_every_account_never_holds_the_losses():
    """Every account's sampled scenarios hold its whole tail (the threshold far too high for
    all): they pass again with wider margins, never with every loss kept at once. Before the
    widening, the second pass kept every loss: 7.4x the loss matrix allocated; now 0.44x."""
    rng = np.random.default_rng(3)
    losses = rng.standard_t(3, (40, 20_000))
    losses[:, ::10] = 100.0 + rng.random((40, 2_000))
    returns, weights = -losses.T.copy(), np.eye(40)
    tracemalloc.start()
    got = account_tail_means(returns, weights, 0.99)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    np.testing.assert_allclose(got, reference(losses, 0.99), rtol=1e-13)
    assert peak < losses.nbytes


@given(
    data=st.data(),
    scenarios=st.integers(1, 400),
    accounts=st.integers(1, 9),
    assets=st.integers(1, 6),
    distinct=st.integers(1, 60),
    tail=st.floats(0.5, 0.999),
    block=st.sampled_from([1, 4096, BLOCK_BYTES]),
)
def test_fast_path_equals_the_definition_on_random_books(
    data, scenarios, accounts, assets, distinct, tail, block
):
    """Random small books and scenarios drawn from a few distinct ones (ties): the sampled
    threshold, the blocks and the second pass against ``np.quantile``. Returns are
    multiples of 1/64 and weights of 1/16 in [-1, 1], so every loss and every tail sum is
    exact in any order: the figures must be equal, not close."""
    days = data.draw(arrays(float, (distinct, assets), elements=st.integers(-64, 64))) / 64
    weights = data.draw(arrays(float, (accounts, assets), elements=st.integers(-16, 16))) / 16
    draws = data.draw(arrays(np.int64, scenarios, elements=st.integers(0, distinct - 1)))
    ref = reference((-(weights @ days.T))[:, draws], tail)
    got = account_tail_means(days[draws], weights, tail, block_bytes=block)
    np.testing.assert_array_equal(got, ref)


def test_books_on_one_index_align_as_the_union_does():
    idx = pd.Index(["b", "c", "a"])
    shared = {f"x{i}": pd.Series([0.1 * i, np.nan, 0.3], index=idx) for i in range(3)}
    mixed = {**shared, "y": pd.Series([0.5, 0.5], index=["a", "d"])}
    fast = _aligned_books(shared)
    assert list(fast.columns) == ["a", "b", "c"] and list(fast.index) == ["x0", "x1", "x2"]
    slow = pd.DataFrame(shared).T.reindex(columns=sorted(idx)).fillna(0.0)
    pd.testing.assert_frame_equal(fast, slow, check_names=False, check_column_type=False)
    assert list(_aligned_books(mixed).columns) == ["a", "b", "c", "d"]
