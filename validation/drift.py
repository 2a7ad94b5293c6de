"""Distribution drift between the training reference and the holdout: PSI and two-sample KS.

Population stability index, credit-industry definition (Siddiqi, 2006, "Credit Risk
Scorecards", ch. 8; Yurdakul, 2018, "Statistical Properties of the Population Stability
Index"): the **reference** (training) sample's deciles fix the bins — not the pooled data —
so the index measures how the current population has moved out of the reference's bins::

    PSI = sum_i (c_i - r_i) * ln(c_i / r_i)

with ``r_i`` and ``c_i`` the reference and current shares in bin ``i``. Empty bins would make
the logarithm infinite, so shares are floored at ``EPSILON`` (1e-4, a common convention).
Rule of thumb (Siddiqi): < 0.10 stable, 0.10-0.25 some shift, > 0.25 major shift; the policy
(``ValidationPolicy.psi_warning`` / ``psi_critical``) sets the thresholds actually used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from governance.policy.schema import Severity

__all__ = ["EPSILON", "DriftRow", "drift_table", "ks_test", "psi", "reference_bins"]

EPSILON = 1e-4


def reference_bins(reference: np.ndarray, bins: int = 10) -> np.ndarray:
    """Inner bin edges from the reference's quantiles, shape (<= bins - 1,).

    Duplicate quantiles (ties, discrete features) are merged, so fewer bins may result.
    NaN values are ignored.
    """
    ref = np.asarray(reference, dtype=float)
    ref = ref[np.isfinite(ref)]
    if ref.size == 0:
        return np.empty(0)
    qs = np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1])
    return np.unique(qs)


def _shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    # Bin i holds edges[i-1] < x <= edges[i]; the outer bins are open (-inf, +inf).
    idx = np.searchsorted(edges, values, side="left")
    counts = np.bincount(idx, minlength=edges.size + 1).astype(float)
    return np.maximum(counts / max(values.size, 1), EPSILON)


def psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """Population stability index of ``current`` against ``reference``.

    Parameters
    ----------
    reference, current : array-like, shape (n_ref,), (n_cur,)
        Samples of one variable. NaN values are dropped from both.
    bins : int, default 10
        Number of reference quantile bins (deciles by default).

    Returns
    -------
    float
        PSI >= 0; 0 when the current sample falls in the reference's bins in the same
        proportions. NaN when either sample is empty after dropping NaN.
    """
    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(current, dtype=float)
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if ref.size == 0 or cur.size == 0:
        return math.nan
    edges = reference_bins(ref, bins)
    r, c = _shares(ref, edges), _shares(cur, edges)
    return float(np.sum((c - r) * np.log(c / r)))


def ks_test(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and p-value (NaN dropped; NaN if empty)."""
    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(current, dtype=float)
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if ref.size == 0 or cur.size == 0:
        return math.nan, math.nan
    res = stats.ks_2samp(ref, cur)
    return float(res.statistic), float(res.pvalue)


@dataclass(frozen=True)
class DriftRow:
    """Drift of one variable (a feature or ``prediction``).

    ``status`` is ``Severity.CRITICAL`` above ``psi_critical``, ``WARNING`` above
    ``psi_warning``, else ``INFO`` (stable).
    """

    variable: str
    psi: float
    ks_statistic: float
    ks_pvalue: float
    status: Severity


def drift_table(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: Sequence[str],
    *,
    psi_warning: float,
    psi_critical: float,
    bins: int = 10,
) -> list[DriftRow]:
    """PSI and KS of each column present in both frames, in ``columns`` order."""
    rows = []
    for col in columns:
        if col not in reference.columns or col not in current.columns:
            continue
        ref = reference[col].to_numpy(dtype=float)
        cur = current[col].to_numpy(dtype=float)
        value = psi(ref, cur, bins)
        ks_stat, ks_p = ks_test(ref, cur)
        if value > psi_critical:
            status = Severity.CRITICAL
        elif value > psi_warning:
            status = Severity.WARNING
        else:
            status = Severity.INFO
        rows.append(DriftRow(col, value, ks_stat, ks_p, status))
    return rows
