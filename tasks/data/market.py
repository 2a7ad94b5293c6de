"""Market data: load the long table, normalise it into a panel, fingerprint it.

The long table has one row per (date, asset): ``date, asset, close`` required, ``volume,
sector`` optional, extra columns kept but ignored. Three sources (:class:`DataSource`): the real
demo prices in skfolio, a CSV/Parquet file, or the synthetic market (:mod:`tasks.data.synthetic`).

Loaders return the long table with

- ``date`` datetime64[ns] (tz-naive; tz-aware input is converted to UTC first),
  ``asset`` and ``sector`` str, ``close`` and ``volume`` float64;
- the **index naming the source row**: ``line`` (the CSV line number, header = line 1, one
  record per line) or ``row`` (1-based row of a Parquet file or generated frame), so that the
  data-quality gate can name offending rows;
- ``attrs["source"]``: a human-readable origin.

Type coercion policy: a value that cannot be parsed into its column's type (a non-numeric
``close`` or ``volume``, a date that is not ISO 8601) is a *parse error*: :class:`InputError`
(exit 2) naming file, line and column. Values that parse but are wrong (missing, negative,
duplicated, in the future ...) are left to the data-quality gate (exit 3 when critical).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from governance.ground.errors import InputError
from tasks.data.config import DataConfig, DataSource, SyntheticConfig
from tasks.data.files import (
    CANONICAL_COLUMNS,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    coerce_long,
    read_market_file,
)
from tasks.data.synthetic import SyntheticSpec, generate_market

__all__ = [
    "CANONICAL_COLUMNS",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "DataConfig",
    "DataSource",
    "LongCodes",
    "MarketPanel",
    "SyntheticConfig",
    "coerce_long",
    "fingerprint_long",
    "load_demo",
    "load_long",
    "load_sectors",
    "load_synthetic",
    "long_codes",
    "read_market_file",
    "to_panel",
]

_FINGERPRINT_VERSION = b"alphagate-long-v1"
SECTORS_FILE = Path(__file__).with_name("sp500_sectors.csv")
DEMO_SOURCE = "demo:skfolio-sp500"


@dataclass(frozen=True)
class MarketPanel:
    """Prices of a universe on a calendar of dates.

    Attributes
    ----------
    close : DataFrame, shape (n_dates, n_assets)
        Close prices; DatetimeIndex (tz-naive, sorted, unique) × asset columns (str, sorted).
        NaN where an asset has no price that day.
    volume : DataFrame or None
        Same shape as ``close`` when the source has volume.
    sectors : Series or None
        asset -> sector name, when known.
    fingerprint : str
        SHA-256 of the canonical serialisation of the long table; cited by every artifact.
    source : str
        Human-readable origin (file path, ``demo:skfolio-sp500``, ``synthetic:seed=...``).
    """

    close: pd.DataFrame
    volume: pd.DataFrame | None
    sectors: pd.Series | None
    fingerprint: str
    source: str


def load_sectors() -> pd.Series:
    """GICS sectors of the demo stocks (tasks/data/sp500_sectors.csv): asset -> sector."""
    table = pd.read_csv(SECTORS_FILE, dtype="str")
    return table.set_index("asset")["sector"]


def load_demo() -> pd.DataFrame:
    """Real daily prices of 20 S&P 500 stocks (1990-2022) shipped in skfolio, with sectors.

    Returns
    -------
    DataFrame
        Long table ``date, asset, close, sector`` sorted by date then asset, index ``row``,
        ``attrs["source"] == "demo:skfolio-sp500"``. Works offline.
    """
    from skfolio.datasets import load_sp500_dataset

    wide = load_sp500_dataset()
    wide.index = pd.DatetimeIndex(wide.index).as_unit("ns").rename("date")
    wide = wide.reindex(sorted(wide.columns), axis=1)
    long = wide.rename_axis(columns="asset").stack(future_stack=True).rename("close")
    long = long.reset_index()
    long["asset"] = long["asset"].astype("str")
    long["close"] = long["close"].astype("float64")
    long["sector"] = long["asset"].map(load_sectors()).astype("str")
    long.index = pd.RangeIndex(1, len(long) + 1, name="row")
    long.attrs["source"] = DEMO_SOURCE
    return long


def load_synthetic(spec: SyntheticSpec) -> pd.DataFrame:
    """:func:`tasks.data.synthetic.generate_market` with a ``row`` index and a source label."""
    long = generate_market(spec)
    long.index = pd.RangeIndex(1, len(long) + 1, name="row")
    long.attrs["source"] = (
        f"synthetic:seed={spec.seed},n_assets={spec.n_assets},n_days={spec.n_days},"
        f"ic={spec.ic},flip_day={spec.flip_day},start={spec.start}"
    )
    return long


def load_long(
    cfg: DataConfig, base_dir: str | Path, path: str | Path | None = None
) -> pd.DataFrame:
    """Load the long table a run config asks for.

    Parameters
    ----------
    cfg : DataConfig
    base_dir : str or Path
        Folder that relative ``cfg.path`` values are relative to (the config's folder).
    path : str or Path, optional
        A file that overrides the configured source (``alphagate run --data FILE``);
        relative to the current directory.

    Returns
    -------
    DataFrame
        The long table (see the module docstring), filtered to ``[cfg.start, cfg.end]``,
        with ``attrs["source"]`` set.
    """
    if path is not None:
        long = read_market_file(path)
    elif cfg.source is DataSource.DEMO:
        long = load_demo()
    elif cfg.source is DataSource.FILE:
        p = Path(cfg.path)
        long = read_market_file(p if p.is_absolute() else Path(base_dir) / p)
    else:
        long = load_synthetic(cfg.synthetic.to_spec(cfg.as_of_date()))
    source = long.attrs["source"]
    if cfg.start is not None or cfg.end is not None:
        keep = pd.Series(True, index=long.index)
        if cfg.start is not None:
            keep &= long["date"] >= pd.Timestamp(cfg.start)
        if cfg.end is not None:
            keep &= long["date"] <= pd.Timestamp(cfg.end)
        long = long[keep]
        long.attrs["source"] = source
        if long.empty:
            raise InputError(f"{source}: no rows between data.start and data.end")
    return long


@dataclass(frozen=True)
class LongCodes:
    """Integer codes of the (date, asset) keys of a long table, computed once.

    Attributes
    ----------
    dates : DatetimeIndex
        Sorted unique dates (NaT excluded).
    assets : Index
        Sorted unique asset names (missing excluded).
    date_code, asset_code : ndarray of int64, shape (n_rows,)
        Position of each row's date in ``dates`` and asset in ``assets``; -1 when missing.
    """

    dates: pd.DatetimeIndex
    assets: pd.Index
    date_code: np.ndarray
    asset_code: np.ndarray

    @property
    def cell(self) -> np.ndarray:
        """``date_code * n_assets + asset_code`` (-1 where either is missing)."""
        ok = (self.date_code >= 0) & (self.asset_code >= 0)
        return np.where(ok, self.date_code * len(self.assets) + self.asset_code, -1)


def long_codes(long: pd.DataFrame) -> LongCodes:
    """Factorise the ``date`` and ``asset`` columns in sorted order (see :class:`LongCodes`)."""
    dcode, dates = pd.factorize(long["date"].astype("datetime64[ns]"), sort=True)
    acode, assets = pd.factorize(long["asset"], sort=True)
    return LongCodes(
        dates=pd.DatetimeIndex(dates, name="date"),
        assets=pd.Index(assets, dtype="str"),
        date_code=dcode.astype("int64"),
        asset_code=acode.astype("int64"),
    )


def _sort_key(values: pd.Series) -> tuple[np.ndarray, bytes]:
    """(sortable array, canonical bytes) of one column (see :func:`fingerprint_long`)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        ns = values.astype("datetime64[ns]").to_numpy().view("int64").astype("<i8")
        return ns, b""
    if pd.api.types.is_numeric_dtype(values):
        arr = values.to_numpy(dtype="float64", na_value=np.nan) + 0.0  # -0.0 -> 0.0
        arr[np.isnan(arr)] = np.nan  # one NaN bit pattern
        return arr.astype("<f8"), b""
    if values.dtype == object:  # mixed Python objects: compare them as text
        values = values.astype("str").where(values.notna())
    codes, uniques = pd.factorize(values, sort=True)
    return codes.astype("<i8"), "\x1f".join(map(str, uniques)).encode("utf-8")


def fingerprint_long(long: pd.DataFrame) -> str:
    """SHA-256 of the canonical serialisation of a long table.

    Independent of row order, index and extra columns. The serialisation
    (``alphagate-long-v1``): the names of the canonical columns present, then for each such
    column (in the order ``date, asset, close, volume, sector``), rows sorted by
    (date, asset, then the other columns when (date, asset) repeats): dates as
    little-endian int64 nanoseconds; numbers as little-endian float64 (one NaN pattern,
    -0 as 0); text as its sorted distinct values (UTF-8, joined by U+001F) followed by
    each row's int64 position among them (-1 for missing). Each part is length-prefixed.

    Returns
    -------
    str
        Hex SHA-256.
    """
    cols = [c for c in CANONICAL_COLUMNS if c in long.columns]
    keys = {c: _sort_key(long[c]) for c in cols}
    primary = [keys[c][0] for c in ("date", "asset") if c in keys]
    order = np.lexsort(primary[::-1]) if primary else np.arange(len(long))
    if len(primary) == 2:
        d, a = primary[0][order], primary[1][order]
        if np.any((d[1:] == d[:-1]) & (a[1:] == a[:-1])):  # repeated keys: sort on all
            order = np.lexsort([keys[c][0] for c in cols][::-1])
    h = hashlib.sha256()
    parts = [_FINGERPRINT_VERSION, ",".join(cols).encode()]
    for c in cols:
        arr, vocabulary = keys[c]
        parts += [vocabulary, arr[order].tobytes()] if vocabulary else [arr[order].tobytes()]
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()


def to_panel(
    long: pd.DataFrame, source: str | None = None, fingerprint: str | None = None
) -> MarketPanel:
    """Pivot a long table into a :class:`MarketPanel` (dates and assets sorted).

    Parameters
    ----------
    long : DataFrame
        Long table, normally after the data-quality gate passed. Rows with a missing date
        or asset are left out.
    source : str, optional
        Origin label; defaults to ``long.attrs["source"]``.
    fingerprint : str, optional
        :func:`fingerprint_long` of ``long`` when already known (the gate computes it).

    Raises
    ------
    InputError
        Duplicate (date, asset) rows (the gate catches them first).
    """
    source = source or long.attrs.get("source", "unknown")
    codes = long_codes(long)
    cell = codes.cell
    keep = cell >= 0
    shape = (len(codes.dates), len(codes.assets))
    if np.bincount(cell[keep], minlength=1).max(initial=0) > 1:
        raise InputError(f"{source}: duplicate (date, asset) rows")

    def wide(column: str) -> pd.DataFrame:
        grid = np.full(shape, np.nan)
        values = long[column].to_numpy(dtype="float64", na_value=np.nan)
        grid[codes.date_code[keep], codes.asset_code[keep]] = values[keep]
        return pd.DataFrame(grid, index=codes.dates, columns=codes.assets)

    volume = None
    if "volume" in long.columns and long["volume"].notna().any():
        volume = wide("volume")
    sectors = None
    has = keep & long["sector"].notna().to_numpy() if "sector" in long.columns else None
    if has is not None and has.any():
        rows = np.flatnonzero(has)
        a, d = codes.asset_code[rows], codes.date_code[rows]
        rows, a = rows[np.lexsort((d, a))], np.sort(a)
        last = np.r_[a[1:] != a[:-1], True]  # each asset's latest known sector
        sector = long["sector"].to_numpy()[rows[last]]
        sectors = pd.Series(sector, index=codes.assets[a[last]], name="sector", dtype="str")
    return MarketPanel(
        close=wide("close"),
        volume=volume,
        sectors=sectors,
        fingerprint=fingerprint or fingerprint_long(long),
        source=source,
    )
