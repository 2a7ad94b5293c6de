"""Plumbing of the data-quality gate: the derived frames and the Great Expectations run.

Kept apart from :mod:`tasks.quality` (config, results, decision) so that each module stays
short. The derived frames are vectorised pandas/numpy so that GX's cost stays linear and
small on millions of rows (bench/bench_ingest.py).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

# -- derived frames ------------------------------------------------------------------------


def log_returns(long: pd.DataFrame) -> np.ndarray:
    """Daily log return of each row against the same asset's previous date, in row order.

    Returns
    -------
    ndarray, shape (n_rows,)
        NaN for an asset's first row and where either close is missing or not positive.
    """
    date = long["date"].to_numpy("datetime64[ns]")
    codes, _ = pd.factorize(long["asset"])
    order = np.lexsort((date, codes))
    # non-numeric values are the column_type expectation's business, not a crash here
    close = pd.to_numeric(long["close"], errors="coerce").to_numpy("float64", na_value=np.nan)
    close = close[order]
    close = np.where(close > 0, close, np.nan)
    same = np.zeros(len(order), dtype=bool)
    same[1:] = codes[order][1:] == codes[order][:-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        lr = np.where(same, np.log(close) - np.log(np.roll(close, 1)), np.nan)
    out = np.empty_like(lr)
    out[order] = lr
    return out


def per_date_frame(long: pd.DataFrame) -> pd.DataFrame:
    """One row per date (index ``date``, sorted): ``n_assets`` with a valid close."""
    valid = long.loc[long["close"].notna() & long["asset"].notna(), ["date", "asset"]]
    n = valid.drop_duplicates().groupby("date").size()
    dates = pd.Index(long["date"].dropna().unique()).sort_values()
    return n.reindex(dates, fill_value=0).rename("n_assets").rename_axis("date").to_frame()


def per_asset_frame(long: pd.DataFrame) -> pd.DataFrame:
    """One row per asset (index ``asset``, sorted).

    Columns: ``n_dates`` (distinct dates with a valid close), ``first_date``,
    ``last_date``, ``missing_share`` = 1 - n_dates / (panel dates in [first, last]).
    """
    valid = long.loc[long["close"].notna() & long["date"].notna(), ["asset", "date"]]
    valid = valid.dropna().drop_duplicates()
    calendar = np.sort(long["date"].dropna().unique())
    g = valid.groupby("asset")["date"]
    out = pd.DataFrame({"n_dates": g.size(), "first_date": g.min(), "last_date": g.max()})
    span = np.searchsorted(calendar, out["last_date"].to_numpy(), side="right")
    span = span - np.searchsorted(calendar, out["first_date"].to_numpy(), side="left")
    out["missing_share"] = 1.0 - out["n_dates"] / np.maximum(span, 1)
    missing_assets = set(long["asset"].dropna().unique()) - set(out.index)
    if missing_assets:  # assets with no valid close at all
        extra = pd.DataFrame(
            {"n_dates": 0, "first_date": pd.NaT, "last_date": pd.NaT, "missing_share": 1.0},
            index=sorted(missing_assets),
        )
        out = pd.concat([out, extra])
    return out.sort_index().rename_axis("asset")


# -- Great Expectations -------------------------------------------------------------------


def _quiet_gx() -> None:
    for name in ("great_expectations", "great_expectations.core", "py.warnings"):
        logging.getLogger(name).setLevel(logging.ERROR)


def run_checkpoints(
    frames: Mapping[str, pd.DataFrame], plan: Sequence[Any], result_format: dict
) -> dict[str, Any]:
    """Run one GX checkpoint per frame in an ephemeral context.

    Parameters
    ----------
    frames : mapping
        ``{frame name: DataFrame}``.
    plan : sequence
        Items with ``frame`` (a frame name) and ``expectation`` (a GX Expectation).
    result_format : dict
        GX result format (``SUMMARY`` with a few partial unexpected rows).

    Returns
    -------
    dict
        ``{frame: ExpectationSuiteValidationResult}``.
    """
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    _quiet_gx()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas(f"market-{uuid.uuid4().hex[:8]}")
    out: dict[str, Any] = {}
    for frame_name, frame in frames.items():
        planned = [p for p in plan if p.frame == frame_name]
        if not planned:
            continue
        batch = source.add_dataframe_asset(frame_name).add_batch_definition_whole_dataframe("all")
        suite = context.suites.add(
            gx.ExpectationSuite(
                name=f"quality.{frame_name}", expectations=[p.expectation for p in planned]
            )
        )
        vd = context.validation_definitions.add(
            gx.ValidationDefinition(data=batch, suite=suite, name=f"quality.{frame_name}")
        )
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=f"quality.{frame_name}",
                validation_definitions=[vd],
                result_format=result_format,
            )
        )
        run = checkpoint.run(batch_parameters={"dataframe": frame})
        (out[frame_name],) = run.run_results.values()
    return out
