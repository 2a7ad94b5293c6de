"""The graduation gate: does the paper record keep what validation promised?

After ``paper.min_days`` (governance/decisions/paper.py), the version's realised daily
one-day rank ICs over the paper days are compared with the same statistic over the holdout
validation judged (like with like: the one-day rank IC, tasks/portfolio/backtest.py
``one_day_rank_ic``). One-day ICs are close to independent from day to day
(validation/monitoring_cusum.py). The null hypothesis is that the paper days are drawn from
the holdout's distribution, so both means' standard errors come from the holdout's sd
``s_h`` (estimated on its n_holdout days) and the one-sided test is::

    z = (mean_paper - mean_holdout) / (s_h sqrt(1/n_paper + 1/n_holdout)),  fail when z < -z_level

(``z_level`` 1.645: the paper record is significantly worse than the promise at 5 %; a
version as good as its holdout fails with probability 5 %, by construction, also on a
short paper record, whose own sd from a handful of days would make the level a guess).

Power against a sign flip at the paper start: with the one-day IC ``δ`` standard deviations
above zero on the holdout and ``-δ`` on paper, ``E[z] = -2δ / sqrt(1/n_paper + 1/n_holdout)``;
tests/test_graduation.py states it for its markets. The same test compares the paper
book's net return per period with the holdout backtest's daily net return.

:func:`graduate` is the whole gate on the verified paper record
(tasks/portfolio/paper_record.py): the two one-sided tests, the tracking error between the
paper book and the backtest's rule re-run over the same periods (annualised as
``sd(paper - backtest) * sqrt(252 / days per period)``), and the realised cost against the
cost model's estimate. Each failure is a named finding; the live approval may be given
only when there is none (governance/decisions/approvals.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

__all__ = ["Graduation", "GraduationTest", "graduate", "rank_ic_test"]

TRADING_DAYS = 252  # tasks/data/calendar.py (validation may not import it)


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
    return one_sided_test(paper, holdout, z_level, "rank IC")


def one_sided_test(
    paper: pd.Series, holdout: pd.Series, z_level: float, what: str
) -> GraduationTest:
    """The one-sided test of the module doc on two daily series of ``what``."""
    pm, _, pn = _mean_se(paper)
    hm, hse, hn = _mean_se(holdout)
    # Under the null (the paper days are drawn from the holdout's distribution) both means
    # have the holdout's sd, estimated on its many days; a short paper record's own sd,
    # from a handful of days, would make the test's level a guess.
    se = hse * math.sqrt(hn) * math.sqrt(1.0 / pn + 1.0 / hn) if pn > 0 else math.nan
    z = (pm - hm) / se if se > 0 else math.nan
    critical = z_level
    passed = math.isfinite(z) and z >= -critical
    finding = None
    if not passed:
        finding = (
            f"graduation: paper {what} {pm:.4f} over {pn} days is significantly below the"
            f" holdout's {hm:.4f} over {hn} days (z = {z:.2f} < -{critical:g}, se {se:.4f})"
        )
    return GraduationTest(passed, pm, hm, se, z, pn, hn, finding)


@dataclass(frozen=True)
class Graduation:
    """The graduation gate's outcome: ``passed`` when ``findings`` is empty; the figures
    (each test's means, standard error and z; tracking error; cost ratio) for the record."""

    passed: bool
    findings: tuple[str, ...]
    figures: dict


def graduate(
    marks: pd.DataFrame,
    holdout_ic: pd.Series,
    holdout_net: pd.Series,
    *,
    z_level: float,
    max_tracking_error: float,
    max_cost_ratio: float,
    days_per_period: float = 1.0,
) -> Graduation:
    """The graduation gate (module doc) on the paper record's ``marks`` (columns
    ``rank_ic``, ``net_return``, ``backtest_net``, ``cost``, ``cost_estimate``; one row per
    period of ``days_per_period`` trading days) against the holdout backtest's daily
    one-day rank IC and daily net return."""
    findings: list[str] = []
    figures: dict = {"periods": len(marks)}
    # The paper book's first period starts from cash: it earns nothing and pays the whole
    # build; the backtest's first day likewise. A one-off, not a day of the strategy: both
    # are left out of the net-return test and the tracking error.
    held = marks[~marks["from_cash"].astype(bool)] if "from_cash" in marks else marks
    for key, what, paper, holdout in (
        ("rank_ic", "rank IC", marks["rank_ic"], holdout_ic),
        ("net_return", "net return", held["net_return"], holdout_net.iloc[1:]),
    ):
        t = one_sided_test(paper.astype(float), holdout.astype(float), z_level, what)
        figures[key] = {"paper_mean": t.paper_mean, "holdout_mean": t.holdout_mean,
                        "se": t.se, "z": t.z, "n_paper": t.n_paper, "n_holdout": t.n_holdout}  # fmt: skip
        if t.finding:
            findings.append(t.finding)
    gap = (held["net_return"] - held["backtest_net"]).astype(float).dropna()
    te = float(gap.std(ddof=1) * math.sqrt(TRADING_DAYS / days_per_period)) if len(gap) > 1 else (
        math.nan)  # fmt: skip
    figures["tracking_error"] = te
    if not (math.isfinite(te) and te <= max_tracking_error):
        findings.append(
            f"graduation: tracking error of the paper book against the backtest re-run over"
            f" the same {len(gap)} periods is {te:.2%} a year > {max_tracking_error:.2%}"
        )
    estimate, realised = float(marks["cost_estimate"].sum()), float(marks["cost"].sum())
    ratio = realised / estimate if estimate > 0 else (1.0 if realised == 0 else math.inf)
    figures["cost"] = {"estimate": estimate, "realised": realised, "ratio": ratio}
    if ratio > max_cost_ratio:
        findings.append(
            f"graduation: realised paper costs {realised:.6f} are {ratio:.2f} times the cost"
            f" model's estimate {estimate:.6f} > {max_cost_ratio:g}"
        )
    return Graduation(not findings, tuple(findings), _json_safe(figures))


def _json_safe(x):
    """NaN and infinities as None (the figures go into a ledger payload: RFC 8785 JSON)."""
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x
