"""tasks/risk/tail.py: each row's tail mean equals np.quantile's, whatever the rows hold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tasks.risk.stress import _aligned_books
from tasks.risk.tail import tail_means


def reference(losses: np.ndarray, tail: float) -> np.ndarray:
    var = np.quantile(losses, tail, axis=1)
    mask = losses >= var[:, None]
    return (losses * mask).sum(axis=1) / mask.sum(axis=1)


@pytest.mark.parametrize(
    ("scenarios", "rows", "tail"),
    [(10_000, 40, 0.99), (1_000, 30, 0.95), (500, 20, 0.99), (37, 5, 0.9), (10_000, 10, 0.999)],
)
def test_tail_means_equal_np_quantile(scenarios, rows, tail):
    rng = np.random.default_rng(scenarios + rows)
    losses = rng.standard_t(3, (rows, scenarios))
    losses[0] = 1.0  # every loss tied
    losses[1] = np.round(losses[1], 1)  # many ties at the quantile
    # the sampled columns (every tenth) hold the whole tail: the sampled threshold is above
    # the row's quantile, too few losses reach it; the row must take the full path
    losses[2, ::10] = 100.0 + rng.random(len(losses[2, ::10]))
    losses[3, ::10] = -100.0  # the sample below everything: a threshold far too low
    before = losses.copy()
    np.testing.assert_allclose(tail_means(losses, tail), reference(losses, tail), rtol=1e-13)
    np.testing.assert_array_equal(losses, before)  # read, never written


def test_books_on_one_index_align_as_the_union_does():
    idx = pd.Index(["b", "c", "a"])
    shared = {f"x{i}": pd.Series([0.1 * i, np.nan, 0.3], index=idx) for i in range(3)}
    mixed = {**shared, "y": pd.Series([0.5, 0.5], index=["a", "d"])}
    fast = _aligned_books(shared)
    assert list(fast.columns) == ["a", "b", "c"] and list(fast.index) == ["x0", "x1", "x2"]
    slow = pd.DataFrame(shared).T.reindex(columns=sorted(idx)).fillna(0.0)
    pd.testing.assert_frame_equal(fast, slow, check_names=False, check_column_type=False)
    assert list(_aligned_books(mixed).columns) == ["a", "b", "c", "d"]
