"""Point-in-time joins of feature sources (issue 26, item 2): nothing is used before known.

A property test draws random histories with restatements and checks every joined cell
against a brute-force reading of the definition (tasks/data/pit.py); a crafted history
checks the vintages one by one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.data.pit import as_of_join

DAY0 = pd.Timestamp("2020-01-01")
ASSETS = ["A", "B", "C"]


def _day(n: int) -> pd.Timestamp:
    return DAY0 + pd.Timedelta(days=n)


def _rows(records) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "asset": [r[0] for r in records],
            "period": pd.to_datetime([_day(r[1]) for r in records]),
            "available_at": pd.to_datetime([_day(r[1] + r[2]) for r in records]),
            "value": [float(r[3]) for r in records],
        }
    )


def _known_at(rows: pd.DataFrame, t: pd.Timestamp, asset: str):
    """The definition, read literally: of the rows known at t, the latest period's latest
    vintage."""
    c = rows[(rows["asset"] == asset) & (rows["available_at"] <= t)]
    if c.empty:
        return np.nan, pd.NaT
    best = c.sort_values(["period", "available_at"]).iloc[-1]
    return best["value"], best["available_at"]


RECORD = st.tuples(
    st.sampled_from(ASSETS),
    st.integers(0, 40),  # period
    st.integers(0, 25),  # publication lag, days
    st.integers(-1000, 1000),  # value
)


@settings(max_examples=60, deadline=None)
@given(st.lists(RECORD, max_size=40, unique_by=lambda r: (r[0], r[1], r[2])))
def test_no_value_is_used_before_it_was_known(records):
    rows = _rows(records)
    dates = pd.DatetimeIndex([_day(n) for n in range(0, 70, 3)])
    out = as_of_join(rows, dates, ASSETS, ["value"])
    for t in dates:
        for a in ASSETS:
            known = out["available_at"].at[t, a]
            assert pd.isna(known) or known <= t  # never used before it was known
            value, at = _known_at(rows, t, a)
            got = out["value"].at[t, a]
            assert (np.isnan(value) and np.isnan(got)) or got == value, (t, a, got, value)
            assert (pd.isna(at) and pd.isna(known)) or at == known


def test_a_restated_history_gives_the_vintage_known_at_each_date():
    d = pd.Timestamp
    rows = pd.DataFrame(
        {
            "asset": ["X"] * 4,
            "period": [d("2021-03-31"), d("2021-03-31"), d("2021-06-30"), d("2021-03-31")],
            "available_at": [d("2021-05-14"), d("2021-06-01"), d("2021-08-13"), d("2021-09-01")],
            "eps": [1.00, 1.10, 1.30, 1.05],  # Q1, Q1 restated, Q2, Q1 restated again
        }
    )
    dates = pd.DatetimeIndex(
        ["2021-05-13", "2021-05-14", "2021-05-31", "2021-06-01", "2021-08-12", "2021-08-13",
         "2021-09-01"]
    )  # fmt: skip
    eps = as_of_join(rows, dates, ["X"], ["eps"])["eps"]["X"].tolist()
    # Nothing before the first publication; then each vintage from its day; a late
    # restatement of Q1 never replaces Q2, which was known by then.
    assert np.isnan(eps[0])
    assert eps[1:] == [1.00, 1.00, 1.10, 1.10, 1.30, 1.30]
