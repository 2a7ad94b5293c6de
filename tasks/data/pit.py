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
when they arrive); the position of the row in force is forward-filled over dates per asset
and each column read at those positions.
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
    names = [str(a) for a in assets]
    wanted = [*columns, AVAILABLE_AT]
    ev = _events(rows[rows["asset"].astype("str").isin(set(names))])
    # Several rows known at one instant: the last (the latest period) is the one in force.
    ev = ev.assign(asset=ev["asset"].astype("str"), **{AVAILABLE_AT: ev[AVAILABLE_AT].astype(
        "datetime64[ns]")}).drop_duplicates(["asset", AVAILABLE_AT], keep="last")  # fmt: skip
    ev = ev.reset_index(drop=True)
    # Which event is in force at each (date, asset): the event's position, forward-filled
    # over time per asset. Filling positions, not values, keeps a published NaN a NaN.
    if ev.empty:
        nat = {AVAILABLE_AT: np.datetime64("NaT", "ns")}
        return {c: pd.DataFrame(nat.get(c, np.nan), index=idx, columns=names) for c in wanted}
    pos = pd.DataFrame(
        {"t": ev[AVAILABLE_AT], "a": ev["asset"], "p": np.arange(len(ev), dtype=float)}
    )
    wide = pos.pivot(index="t", columns="a", values="p").reindex(columns=names)
    times = wide.index.union(idx)
    filled = wide.reindex(times).ffill().reindex(idx).to_numpy(dtype=float)
    missing = np.isnan(filled)
    take = np.where(missing, 0, filled).astype(np.int64)
    out = {}
    for c in wanted:
        grid = ev[c].to_numpy()[take]
        if c == AVAILABLE_AT:
            grid = grid.astype("datetime64[ns]")
            grid[missing] = np.datetime64("NaT")
        else:
            grid = grid.astype(float)
            grid[missing] = np.nan
        out[c] = pd.DataFrame(grid, index=idx, columns=names)
    return out
