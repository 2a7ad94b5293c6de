"""Point-in-time (as-of) join of a feature source onto trading dates.

A source row says: for ``asset``, the value describing ``period`` became known at
``available_at``. A restatement is another row for the same (asset, period) with a later
``available_at``; every vintage is kept. At date ``t`` an asset's value is the one a reader
could have had at ``t``:

- only rows with ``available_at <= t`` are candidates (nothing is used before it is known);
- among them, the latest ``period``; for that period, the latest vintage.

A restatement of an older period does not replace a newer period already known. The join
is vectorised: rows sorted by (asset, available_at, period) are kept when their period is
the running maximum of the asset's periods (the rows that become the asset's current value
when they arrive), then ``merge_asof`` takes, for each date, the last such row known by then.
Joining on the period date instead (``available_at = period``) is the classic look-ahead
leak this module exists to prevent (tests/test_sources.py plants one).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["AVAILABLE_AT", "PERIOD", "as_of_join"]

PERIOD = "period"
AVAILABLE_AT = "available_at"


def _events(rows: pd.DataFrame) -> pd.DataFrame:
    ev = rows.sort_values(["asset", AVAILABLE_AT, PERIOD], kind="mergesort")
    running = ev.groupby("asset", sort=False)[PERIOD].cummax()
    return ev[ev[PERIOD].to_numpy() == running.to_numpy()]


def as_of_join(
    rows: pd.DataFrame,
    dates: Sequence | pd.DatetimeIndex,
    assets: Sequence[str],
    columns: Sequence[str],
) -> dict[str, pd.DataFrame]:
    """Each column's value known at each date, per asset.

    Parameters
    ----------
    rows : DataFrame
        ``asset`` (str), ``period`` and ``available_at`` (datetime64), and ``columns``.
    dates : sequence of datetime-like
        Trading dates, ascending.
    assets : sequence of str
        The panel's assets (others in ``rows`` are ignored).
    columns : sequence of str
        Value columns to join.

    Returns
    -------
    dict of str to DataFrame
        ``{column: DataFrame (n_dates, n_assets)}``; NaN before an asset's first known row.
        Column ``available_at`` too: when the value used at each cell became known (the
        property tests check it is never after the date).
    """
    idx = pd.DatetimeIndex(dates).astype("datetime64[ns]")
    wanted = [*columns, AVAILABLE_AT]
    ev = _events(rows[rows["asset"].isin(set(assets))])
    grid = pd.DataFrame(
        {
            "date": np.repeat(idx.to_numpy(), len(assets)),
            "asset": np.tile(np.asarray(assets), len(idx)),
        }
    )
    if ev.empty:
        return {c: pd.DataFrame(np.nan, index=idx, columns=list(assets)) for c in wanted}
    right = ev[["asset", AVAILABLE_AT, *columns]].rename(columns={AVAILABLE_AT: "_known"})
    # merge_asof's keys must share a dtype (str assets, nanosecond dates)
    right["asset"] = right["asset"].astype("str")
    right["_known"] = right["_known"].astype("datetime64[ns]")
    grid["asset"] = grid["asset"].astype("str")
    right[AVAILABLE_AT] = right["_known"]
    joined = pd.merge_asof(
        grid.sort_values("date", kind="mergesort"),
        right.sort_values("_known", kind="mergesort"),
        left_on="date",
        right_on="_known",
        by="asset",
        direction="backward",
        allow_exact_matches=True,
    )
    out = {}
    for c in wanted:
        wide = joined.pivot(index="date", columns="asset", values=c)
        out[c] = wide.reindex(index=idx, columns=list(assets))
    return out
