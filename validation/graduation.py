"""The graduation gate's rank-IC test: does the paper record keep what validation promised?

After ``paper.min_days`` (governance/decisions/paper.py), the version's realised daily
one-day rank ICs over the paper days are compared with the same statistic over the holdout
validation judged (like with like: both from ``realised_ic(..., horizon=1)``). One-day ICs
are close to independent from day to day (validation/monitoring_cusum.py), so each mean's
standard error is ``sd / sqrt(n)`` and the one-sided test is::

    z = (mean_paper - mean_holdout) / sqrt(se_paper² + se_holdout²),  fail when z < -z_level

(``z_level`` 1.645: the paper record is significantly worse than the promise at 5 %; a
version as good as its holdout fails with probability 5 %, by construction).

Power against a sign flip at the paper start: with the one-day IC ``δ`` standard deviations
above zero on the holdout and ``-δ`` on paper, ``E[z] = -2δ / sqrt(1/n_paper + 1/n_holdout)``;
tests/test_graduation.py states it for its markets. Not built yet: the net-return, tracking
error and cost comparisons of the gate, and its wiring into the live approval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

__all__ = ["GraduationTest", "rank_ic_test"]


@dataclass(frozen=True)
class GraduationTest:
    """The outcome: the two means, the test's standard error and z, and the finding if any."""

    passed: bool
    paper_mean: float
    holdout_mean: float
    se: float
    z: float
    n_paper: int
    n_holdout: int
    finding: str | None


def _mean_se(x: pd.Series) -> tuple[float, float, int]:
    v = x.dropna().to_numpy(dtype=float)
    n = len(v)
    return (float(v.mean()), float(v.std(ddof=1) / math.sqrt(n)), n) if n > 1 else (
        math.nan, math.nan, n)  # fmt: skip


def rank_ic_test(paper: pd.Series, holdout: pd.Series, z_level: float = 1.645) -> GraduationTest:
    """The one-sided test of the module doc on two series of daily one-day rank ICs."""
    pm, pse, pn = _mean_se(paper)
    hm, hse, hn = _mean_se(holdout)
    se = math.sqrt(pse**2 + hse**2)
    z = (pm - hm) / se if se > 0 else math.nan
    passed = math.isfinite(z) and z >= -z_level
    finding = None
    if not passed:
        finding = (
            f"graduation: paper rank IC {pm:.4f} over {pn} days is significantly below the"
            f" holdout's {hm:.4f} over {hn} days (z = {z:.2f} < -{z_level:g}, se {se:.4f})"
        )
    return GraduationTest(passed, pm, hm, se, z, pn, hn, finding)
