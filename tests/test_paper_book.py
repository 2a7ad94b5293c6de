"""The paper book's daily mark (tasks/portfolio/paper.py) on a hand-computed day."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.portfolio.paper import mark_day


def test_a_day_of_two_accounts_by_hand():
    """Account 0 moves from half-half to all in A (turnover 1, cost 10 bp x 1); account 1
    holds. A returns +10 %, B -5 %."""
    held = np.array([[0.5, 0.5], [0.5, 0.5]])
    target = np.array([[1.0, 0.0], [0.5, 0.5]])
    mark = mark_day(held, target, np.array([0.10, -0.05]), half_spread=0.001)
    assert mark.turnover == pytest.approx([1.0, 0.0])
    assert mark.cost == pytest.approx([0.001, 0.0])
    assert mark.gross == pytest.approx([0.10, 0.025])
    assert mark.net == pytest.approx([0.099, 0.025])
    assert mark.held[0] == pytest.approx([1.0, 0.0])
    assert mark.held[1] == pytest.approx([0.55 / 1.025, 0.475 / 1.025])
    # a missing price earns nothing and the weights still sum to one after the drift
    again = mark_day(mark.held, mark.held, np.array([np.nan, 0.02]), half_spread=0.001)
    assert again.cost == pytest.approx([0.0, 0.0])
    assert again.held.sum(axis=1) == pytest.approx([1.0, 1.0])
