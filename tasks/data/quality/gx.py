"""Plumbing of the data-quality gate: the derived frames and the Great Expectations run.

Kept apart from :mod:`tasks.data.quality.gate` (config, results, decision) so that each module stays
short. The derived frames are vectorised pandas/numpy so that GX's cost stays linear and
small on millions of rows (bench/bench_ingest.py).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tasks.data.market import REQUIRED_COLUMNS, LongCodes, long_codes
from tasks.data.quality.config import Check, QualityConfig, Severity

# -- derived frames ------------------------------------------------------------------------


def log_returns(long: pd.DataFrame, codes: LongCodes | None = None) -> np.ndarray:
    """Daily log return of each row against the same asset's previous date, in row order.

    Parameters
    ----------
    long : DataFrame
        Long table with ``date, asset, close``.
    codes : LongCodes, optional
        :func:`tasks.data.market.long_codes` of ``long`` when already computed.

    Returns
    -------
    ndarray, shape (n_rows,)
        NaN for an asset's first row and where either close is missing, not a number or
        not positive (those are other expectations' business).
    """
    codes = codes or long_codes(long)
    order = np.lexsort((codes.date_code, codes.asset_code))
    close = pd.to_numeric(long["close"], errors="coerce").to_numpy("float64", na_value=np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        logc = np.log(np.where(close > 0, close, np.nan))[order]
    asset = codes.asset_code[order]
    lr = np.full(len(order), np.nan)
    same = (asset[1:] == asset[:-1]) & (asset[1:] >= 0)
    lr[1:] = np.where(same, logc[1:] - logc[:-1], np.nan)
    out = np.empty_like(lr)
    out[order] = lr
    return out


def _valid_cells(long: pd.DataFrame, codes: LongCodes) -> np.ndarray:
    """Distinct (date, asset) cells with a valid close, as sorted ``cell`` codes."""
    cell = codes.cell
    cells = np.sort(cell[(cell >= 0) & long["close"].notna().to_numpy()])
    # sort + diff: numpy 2.4's np.unique is ~100x slower on 5M int64 here (measured)
    return cells[np.r_[True, cells[1:] != cells[:-1]]] if len(cells) else cells


def per_date_frame(long: pd.DataFrame, codes: LongCodes | None = None) -> pd.DataFrame:
    """One row per date (index ``date``, sorted): ``n_assets`` with a valid close."""
    codes = codes or long_codes(long)
    cells = _valid_cells(long, codes)
    n = np.bincount(cells // max(len(codes.assets), 1), minlength=len(codes.dates))
    return pd.DataFrame({"n_assets": n[: len(codes.dates)]}, index=codes.dates)


def per_asset_frame(long: pd.DataFrame, codes: LongCodes | None = None) -> pd.DataFrame:
    """One row per asset (index ``asset``, sorted).

    Columns: ``n_dates`` (distinct dates with a valid close), ``first_date``,
    ``last_date``, ``missing_share`` = 1 - n_dates / (the table's dates in
    [first, last]); an asset with no valid close has ``n_dates`` 0 and share 1.
    """
    codes = codes or long_codes(long)
    n_assets = max(len(codes.assets), 1)
    cells = _valid_cells(long, codes)
    asset, date = cells % n_assets, cells // n_assets
    g = pd.Series(date).groupby(asset).agg(["size", "min", "max"])
    g = g.reindex(range(len(codes.assets)))
    n = g["size"].fillna(0).to_numpy("int64")
    span = (g["max"] - g["min"] + 1).to_numpy("float64", na_value=np.nan)
    first = codes.dates.take(g["min"].fillna(-1).astype("int64"), allow_fill=True)
    last = codes.dates.take(g["max"].fillna(-1).astype("int64"), allow_fill=True)
    return pd.DataFrame(
        {
            "n_dates": n,
            "first_date": first,
            "last_date": last,
            "missing_share": np.where(n > 0, 1.0 - n / span, 1.0),
        },
        index=pd.Index(codes.assets, name="asset"),
    )


# -- the suite -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedExpectation:
    """One expectation to add: our name, the frame it runs on, the GX object."""

    name: str
    frame: str
    severity: Severity
    expectation: Any


_TYPES = {
    "date": ["datetime64", "datetime64[ns]", "datetime64[us]", "datetime64[ms]"],
    "close": ["float64", "float32", "int64", "int32", "Float64", "Int64"],
}


def plan_expectations(
    cfg: QualityConfig, as_of: dt.date, columns: list[str]
) -> list[PlannedExpectation]:
    """The expectations the config asks for, with the frame each validates."""
    quiet_gx()  # before the import: GX logs at INFO while importing
    import great_expectations.expectations as gxe

    quiet_gx()

    plan: list[PlannedExpectation] = []

    def add(name: str, frame: str, check: Check, cls, **kwargs) -> None:
        severity = Severity(check.severity)
        exp = cls(**kwargs, severity=severity.value, meta={"check": name})
        plan.append(PlannedExpectation(name, frame, severity, exp))

    add(
        "required_columns",
        "rows",
        cfg.required_columns,
        gxe.ExpectTableColumnsToMatchSet,
        column_set=list(REQUIRED_COLUMNS),
        exact_match=False,
    )
    if any(c not in columns for c in REQUIRED_COLUMNS):
        return plan
    for col, types in _TYPES.items():
        add(f"column_type.{col}", "rows", cfg.column_types, gxe.ExpectColumnValuesToBeInTypeList,
            column=col, type_list=types)  # fmt: skip
    for col in REQUIRED_COLUMNS:
        add(f"not_null.{col}", "rows", cfg.not_null, gxe.ExpectColumnValuesToNotBeNull, column=col)
    add("close_positive", "rows", cfg.close_positive, gxe.ExpectColumnValuesToBeBetween,
        column="close", min_value=0, strict_min=True)  # fmt: skip
    add("unique_date_asset", "rows", cfg.unique_date_asset, gxe.ExpectCompoundColumnsToBeUnique,
        column_list=["date", "asset"])  # fmt: skip
    end_of_as_of = pd.Timestamp(as_of) + pd.Timedelta(days=1) - pd.Timedelta(1, "ns")
    add("no_future_dates", "rows", cfg.no_future_dates, gxe.ExpectColumnValuesToBeBetween,
        column="date", max_value=end_of_as_of)  # fmt: skip
    for name, bound in (("return_critical", cfg.return_critical),
                        ("return_warning", cfg.return_warning)):  # fmt: skip
        b = bound.max_abs_log_return
        add(name, "rows", bound, gxe.ExpectColumnValuesToBeBetween,
            column="log_return", min_value=-b, max_value=b)  # fmt: skip
    oldest_fresh = pd.Timestamp(as_of) - pd.offsets.BDay(cfg.staleness.max_business_days)
    add("staleness", "rows", cfg.staleness, gxe.ExpectColumnMaxToBeBetween,
        column="date", min_value=oldest_fresh.normalize())  # fmt: skip
    add("assets_per_date", "dates", cfg.assets_per_date, gxe.ExpectColumnValuesToBeBetween,
        column="n_assets", min_value=cfg.assets_per_date.minimum)  # fmt: skip
    for name, check in (("history_per_asset", cfg.history_per_asset),
                        ("history_per_asset_warning", cfg.history_per_asset_warning)):  # fmt: skip
        add(name, "assets", check, gxe.ExpectColumnValuesToBeBetween,
            column="n_dates", min_value=check.minimum)  # fmt: skip
    for name, check in (("missing_share", cfg.missing_share),
                        ("missing_share_warning", cfg.missing_share_warning)):  # fmt: skip
        add(name, "assets", check, gxe.ExpectColumnValuesToBeBetween,
            column="missing_share", max_value=check.max_share)  # fmt: skip
    return plan


# -- Great Expectations -------------------------------------------------------------------


def quiet_gx() -> None:
    """Silence GX below ERROR. Some GX modules set their own logger level (INFO), so the
    parent's level is not enough once a host (Prefect) installs handlers.

    Every GX logger is visited on each call (GX creates loggers as it imports), but only
    one not at ERROR yet is set: each ``setLevel`` clears the level cache of every logger
    in the process (500 calls a gate run, a tenth of its time under cProfile)."""
    names = [n for n in logging.root.manager.loggerDict if n.startswith("great_expectations")]
    for name in ["great_expectations", *names]:
        logger = logging.getLogger(name)
        if logger.level != logging.ERROR:
            logger.setLevel(logging.ERROR)


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

    quiet_gx()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    planned_frames = [name for name in frames if any(p.frame == name for p in plan)]
    # The datasource is added with its assets and their whole-frame batch definitions, as a
    # configuration file would declare them: the context saves its configuration (a YAML
    # dump) once, not once more per asset and per batch definition (7 saves: a tenth of a
    # gate run on the demo data).
    source = context.data_sources.add_pandas(
        name=f"market-{uuid.uuid4().hex[:8]}",
        assets=[
            {"name": name, "type": "dataframe", "batch_definitions": [{"name": "all"}]}
            for name in planned_frames
        ],
    )
    out: dict[str, Any] = {}
    for frame_name in planned_frames:
        planned = [p for p in plan if p.frame == frame_name]
        batch = source.get_asset(frame_name).get_batch_definition("all")
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
        run = checkpoint.run(batch_parameters={"dataframe": frames[frame_name]})
        (out[frame_name],) = run.run_results.values()
    return out
