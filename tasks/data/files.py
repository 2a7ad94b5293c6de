"""Reading market files: CSV and Parquet into the typed long table (see :mod:`tasks.data.market`).

Type coercion policy: a value that cannot be parsed into its column's type (a non-numeric
``close`` or ``volume``, a date that is not ISO 8601) is a *parse error*: :class:`InputError`
(exit 2) naming file, line and column. Values that parse but are wrong (missing, negative,
duplicated, in the future ...) are left to the data-quality gate (exit 3 when critical).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from governance.ground.errors import InputError

REQUIRED_COLUMNS = ("date", "asset", "close")
OPTIONAL_COLUMNS = ("volume", "sector")
CANONICAL_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
_NUMERIC = ("close", "volume")
_TEXT = ("asset", "sector")
_PARQUET_SUFFIXES = {".parquet", ".pq"}
_WRONG_DELIMITERS = {";": "';'", "\t": "tab", "|": "'|'"}


# -- reading files -------------------------------------------------------------------------


def _first_bad_utf8_line(path: Path) -> int:
    """1-based number of the first line of ``path`` that is not valid UTF-8 (0 if none)."""
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 0


def _header(path: Path) -> str:
    """First line of a CSV file, decoded, BOM stripped; InputError when not UTF-8."""
    with open(path, "rb") as fh:
        raw = fh.readline()
    try:
        return raw.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError:
        raise InputError(f"{path}: line 1: not UTF-8 text") from None


def _column_names(path: Path, header: str) -> list[str]:
    """Normalised column names of a CSV header; checks delimiter and required columns."""
    if not header.strip():
        raise InputError(f"{path}: line 1: empty header line")
    names = [h.strip().strip('"').strip().lower() for h in header.split(",")]
    if len(names) == 1:
        for sep, label in _WRONG_DELIMITERS.items():
            if sep in header:
                raise InputError(
                    f"{path}: line 1: delimiter looks wrong: one column split by {label}; "
                    "expected comma-separated values"
                )
    return names


def _check_columns(path: Path, names: list[str]) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        found = ", ".join(names) or "none"
        raise InputError(
            f"{path}: line 1: missing required column {', '.join(repr(m) for m in missing)} "
            f"(found: {found})"
        )
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"{path}: line 1: duplicate column {dupes[0]!r}")


def _read_csv(path: Path) -> pd.DataFrame:
    names = _column_names(path, _header(path))
    _check_columns(path, names)
    text_cols = {i: "str" for i, n in enumerate(names) if n in ("date", *_TEXT)}
    try:
        frame = pd.read_csv(
            path,
            sep=",",
            encoding="utf-8-sig",
            header=0,
            names=names,
            dtype=text_cols,
            skipinitialspace=True,
            skip_blank_lines=False,
        )
    except UnicodeDecodeError:
        line = _first_bad_utf8_line(path)
        raise InputError(f"{path}: line {line}: not UTF-8 text") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise InputError(f"{path}: cannot parse CSV: {str(exc).strip().splitlines()[-1]}") from None
    if frame.empty:
        raise InputError(f"{path}: header only, no data rows")
    frame.index = pd.RangeIndex(2, len(frame) + 2, name="line")
    blank = frame.isna().all(axis=1)
    if blank.any():
        frame = frame[~blank]  # trailing or stray blank lines; keep line numbers
    return frame


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several unrelated types for bad files
        raise InputError(f"{path}: not a readable Parquet file ({type(exc).__name__})") from None
    frame = frame.reset_index(drop=not any(frame.index.names))
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    _check_columns(path, list(frame.columns))
    if frame.empty:
        raise InputError(f"{path}: no data rows")
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    return frame


def _bad_value(label: str, frame: pd.DataFrame, column: str, bad: pd.Series, what: str):
    idx = bad[bad].index[0]
    where = f"{frame.index.name or 'row'} {idx}"
    value = frame.at[idx, column]
    return InputError(f"{label}: {where}: {column}: {value!r} is not {what}")


def coerce_long(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    """Normalise column names and types of a long table (see the module docstring).

    Parameters
    ----------
    frame : DataFrame
        Raw long table; its index names the source rows.
    label : str
        File name or source used in error messages.

    Returns
    -------
    DataFrame
        Same rows and index; canonical columns typed, extra columns untouched.
        Missing values stay missing (the quality gate judges them).

    Raises
    ------
    InputError
        A required column is missing or a value cannot be parsed into its type.
    """
    frame = frame.copy()
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    _check_columns(Path(label), list(frame.columns))
    date = frame["date"]
    if not pd.api.types.is_datetime64_any_dtype(date):
        # a few thousand distinct dates repeat over millions of rows: parse each once
        codes, distinct = pd.factorize(date)
        text = pd.Series(distinct).astype("str").str.strip()
        parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
        if parsed.isna().any():
            bad = pd.Series(np.isin(codes, np.flatnonzero(parsed.isna())), index=frame.index)
            raise _bad_value(label, frame, "date", bad, "an ISO date (YYYY-MM-DD)")
        date = pd.Series(parsed.array.take(codes, allow_fill=True), index=frame.index)
    if getattr(date.dt, "tz", None) is not None:
        date = date.dt.tz_convert("UTC").dt.tz_localize(None)
    frame["date"] = date.astype("datetime64[ns]")
    for col in _NUMERIC:
        if col in frame.columns and not pd.api.types.is_float_dtype(frame[col]):
            raw = frame[col]
            num = pd.to_numeric(raw, errors="coerce")
            bad = raw.notna() & num.isna() & raw.astype("str").str.strip().ne("")
            if bad.any():
                raise _bad_value(label, frame, col, bad, "a number")
            frame[col] = num.astype("float64")
    for col in _TEXT:
        if col in frame.columns:
            text = frame[col].astype("str").str.strip()
            frame[col] = text.where(frame[col].notna() & text.ne(""))
    return frame


def read_market_file(path: str | Path) -> pd.DataFrame:
    """Read a long market table from CSV (comma-separated, UTF-8, optional BOM) or Parquet.

    Parameters
    ----------
    path : str or Path
        ``.parquet``/``.pq`` files (or any file starting with Parquet's magic bytes) are read
        as Parquet, everything else as CSV.

    Returns
    -------
    DataFrame
        The long table in file order (unsorted input is fine), typed by
        :func:`coerce_long`, index ``line`` (CSV) or ``row`` (Parquet),
        ``attrs["source"]`` the path.

    Raises
    ------
    InputError
        Missing, empty, header-only, non-UTF-8 or unparsable file, wrong delimiter, missing
        required column, or a value of the wrong type; the message names file and line.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: file not found")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: file is empty")
    with open(p, "rb") as fh:
        magic = fh.read(4)
    if p.suffix.lower() in _PARQUET_SUFFIXES or magic == b"PAR1":
        frame = _read_parquet(p)
    else:
        frame = _read_csv(p)
    out = coerce_long(frame, str(p))
    out.attrs["source"] = str(p)
    return out
