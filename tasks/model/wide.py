"""Dates × assets frames to the long table every stage reads."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = ["wide_to_long"]


def wide_to_long(columns: Mapping[str, pd.DataFrame], like: pd.DataFrame) -> pd.DataFrame:
    """Stack dates × assets frames aligned with ``like`` into one long table.

    Parameters
    ----------
    columns : mapping name -> DataFrame (n_dates, n_assets)
        Reindexed onto ``like``'s index and columns.
    like : DataFrame (n_dates, n_assets)
        The calendar and universe; rows where ``like`` is NaN (no price) are left out.

    Returns
    -------
    DataFrame with ``date`` (datetime64[ns]), ``asset`` (str) and one float column per
    entry of ``columns``, sorted by (date, asset), default RangeIndex.
    """
    dates = pd.DatetimeIndex(like.index).astype("datetime64[ns]")
    assets = like.columns.astype(str)
    keep = like.notna().to_numpy().ravel()
    data = {
        "date": np.repeat(dates.to_numpy(), len(assets))[keep],
        "asset": np.tile(assets.to_numpy(dtype=object), len(dates))[keep],
    }
    for name, wide in columns.items():
        aligned = wide.reindex(index=like.index, columns=like.columns)
        data[name] = aligned.to_numpy(dtype=float).ravel()[keep]
    out = pd.DataFrame(data)
    out["asset"] = out["asset"].astype("str")
    return out
