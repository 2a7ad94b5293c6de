"""Dates × assets frames to the long table every stage reads."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["wide_to_long"]


def wide_to_long(
    columns: MutableMapping[str, pd.DataFrame] | Mapping[str, pd.DataFrame],
    like: pd.DataFrame,
    *,
    require: Sequence[str] = (),
    consume: bool = False,
) -> pd.DataFrame:
    """Stack dates × assets frames aligned with ``like`` into one long table.

    Parameters
    ----------
    columns : mapping name -> DataFrame (n_dates, n_assets)
        Reindexed onto ``like``'s index and columns.
    like : DataFrame (n_dates, n_assets)
        The calendar and universe; rows where ``like`` is NaN (no price) are left out.
    require : sequence of str
        Names in ``columns`` that must be present (not NaN): rows missing one are left out
        too (the modelling frame's complete rows), decided before any row is copied.
    consume : bool
        Remove each frame from ``columns`` (a dict the caller owns) once copied, so the wide
        inputs are freed while the long table fills (peak memory of a large frame).

    Returns
    -------
    DataFrame with ``date`` (datetime64[ns]), ``asset`` (str) and one float column per
    entry of ``columns``, sorted by (date, asset), default RangeIndex. The float columns
    share one block, filled in place (no copy when pandas assembles the frame).
    """
    dates = pd.DatetimeIndex(like.index).astype("datetime64[ns]")
    assets = like.columns.astype(str)

    def flat(wide: pd.DataFrame) -> np.ndarray:
        if not (wide.index.equals(like.index) and wide.columns.equals(like.columns)):
            wide = wide.reindex(index=like.index, columns=like.columns)
        return wide.to_numpy(dtype=float).ravel()

    keep = like.notna().to_numpy().ravel()
    for name in require:
        keep &= ~np.isnan(flat(columns[name]))
    names = list(columns)
    block = np.empty((len(names), int(keep.sum())), dtype=np.float64)  # one row per column
    for i, name in enumerate(names):
        block[i] = flat(columns[name])[keep]
        if consume:
            del columns[name]  # type: ignore[attr-defined]
    out = pd.DataFrame(block.T, columns=names, copy=False)
    out.insert(0, "asset", pd.array(np.tile(assets.to_numpy(dtype=object), len(dates))[keep],
                                    dtype="str"))  # fmt: skip
    out.insert(0, "date", np.repeat(dates.to_numpy(), len(assets))[keep])
    return out
