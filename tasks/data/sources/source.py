"""Feature sources: the ``sources:`` config, reading a source's long table, its features.

A source is a long table (CSV or Parquet) with ``asset``, ``period`` (the date the value
describes), ``available_at`` (when it became known) or, instead, a publication lag the
config declares, and the value columns its data contract describes
(:mod:`tasks.data.sources.contract`). Its features enter the modelling frame through the
point-in-time join (:func:`tasks.data.pit.as_of_join`) under the names
``<source>_<column>``. The source's fingerprint is its file's SHA-256; the dataset
fingerprint (:func:`dataset_fingerprint`) covers the market's and every source's, with its
contract version.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from governance.ground.canonical import sha256_bytes, sha256_json
from governance.ground.errors import InputError
from tasks.data.pit import AVAILABLE_AT, PERIOD, as_of_join
from tasks.data.sources.config import RULES, SourceConfig
from tasks.data.sources.contract import LoadedContract, load_contract

__all__ = [
    "RULES",
    "SourceConfig",
    "SourceTable",
    "dataset_fingerprint",
    "load_source",
    "source_features",
]


@dataclass(frozen=True)
class SourceTable:
    """A source read and typed: ``rows`` has ``asset``, ``period``, ``available_at`` and the
    value columns; ``fingerprint`` is the file's SHA-256."""

    config: SourceConfig
    contract: LoadedContract
    rows: pd.DataFrame
    fingerprint: str
    path: str

    @property
    def name(self) -> str:
        return self.config.name

    def feature_columns(self) -> tuple[str, ...]:
        return self.config.columns or tuple(c.name for c in self.contract.columns)

    def lineage(self) -> dict:
        """Name, fingerprint, contract version and owner: what lineage records."""
        return {"source": self.name, "fingerprint": self.fingerprint, **self.contract.lineage()}


def _read(path: Path, label: str) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"{label}: file not found")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
            frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
        else:
            frame = pd.read_csv(path, dtype=str, skipinitialspace=True)
            frame.index = pd.RangeIndex(2, len(frame) + 2, name="line")
    except Exception as exc:  # pandas and pyarrow raise many unrelated types for bad files
        raise InputError(f"{label}: cannot read ({type(exc).__name__})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _typed(frame: pd.DataFrame, column: str, kind: str, label: str) -> pd.Series:
    raw = frame[column]
    if kind == "date" and pd.api.types.is_datetime64_any_dtype(raw):
        return raw.astype("datetime64[ns]")
    if (
        kind == "number"
        and pd.api.types.is_numeric_dtype(raw)
        and not pd.api.types.is_bool_dtype(raw)
    ):
        return raw.astype("float64")  # typed already (Parquet)
    if kind == "date":
        out = pd.to_datetime(raw, errors="coerce", format="ISO8601") if raw.dtype == object else raw
        what = "an ISO date"
    else:
        out, what = pd.to_numeric(raw, errors="coerce"), "a number"
    bad = raw.notna() & pd.isna(out) & raw.astype(str).str.strip().ne("")
    if bad.any():
        i = bad[bad].index[0]
        raise InputError(
            f"{label}: {frame.index.name} {i}: column {column}: rule type: {raw[i]!r} is not {what}"
        )
    return out.astype("datetime64[ns]") if kind == "date" else out.astype("float64")


def load_source(cfg: SourceConfig, base_dir: str | Path = ".") -> SourceTable:
    """Read a source and its contract; types are enforced here (exit 2 naming line and column).

    Columns the contract declares but the table lacks stay absent: the gate's ``schema``
    rule reports them (exit 3), as it reports columns the contract does not declare.
    """
    base = Path(base_dir)
    contract = load_contract(base / cfg.contract, cfg.name)
    label = f"source {cfg.name}: {base / cfg.path}"
    if not contract.has_available_at and cfg.publication_lag_days is None:
        raise InputError(
            f"source {cfg.name}: available_at: the contract declares no available_at column "
            "and the config no publication_lag_days: when each value became known is unknown"
        )
    unknown = sorted(set(cfg.columns or ()) - {c.name for c in contract.columns})
    if unknown:
        raise InputError(f"source {cfg.name}: columns: {unknown[0]!r} is not in the contract")
    path = base / cfg.path
    frame = _read(path, label)
    rows = pd.DataFrame(index=frame.index)
    if "asset" in frame.columns:
        rows["asset"] = frame["asset"].astype("string").str.strip().astype(object)
    for col in (PERIOD, AVAILABLE_AT):
        if col in frame.columns:
            rows[col] = _typed(frame, col, "date", label)
    if (
        AVAILABLE_AT not in frame.columns
        and PERIOD in rows
        and cfg.publication_lag_days is not None
    ):
        rows[AVAILABLE_AT] = rows[PERIOD] + pd.Timedelta(days=cfg.publication_lag_days)
    for col in frame.columns:
        if col not in ("asset", PERIOD, AVAILABLE_AT):
            rows[col] = _typed(frame, col, "number", label)
    return SourceTable(cfg, contract, rows, sha256_bytes(path.read_bytes()), str(path))


def source_features(
    table: SourceTable, dates, assets, *, join_on: str = AVAILABLE_AT
) -> dict[str, pd.DataFrame]:
    """``{<source>_<column>: DataFrame (dates x assets)}`` by the point-in-time join.

    ``join_on="period"`` joins on the period date instead: the look-ahead leak, kept only so
    that tests and the bench can show what it does (tests/test_sources.py).
    """
    rows = table.rows.dropna(subset=["asset", PERIOD, AVAILABLE_AT])
    if join_on == PERIOD:
        rows = rows.assign(**{AVAILABLE_AT: rows[PERIOD]})
    cols = list(table.feature_columns())
    wide = as_of_join(rows, dates, list(assets), cols)
    return {f"{table.name}_{c}": wide[c].astype(np.float64) for c in cols}


def known_digest(table: SourceTable, cutoff) -> str:
    """SHA-256 of the source's history as known on ``cutoff``: its rows with ``available_at
    <= cutoff`` (keys and the feature columns, in key order). Every feature a model computes
    up to ``cutoff`` comes from these rows only, so a later vintage appended (a restatement
    published after ``cutoff``, new periods) leaves the digest unchanged, while a value known
    by then and rewritten or removed in place changes it (a vendor restating history)."""
    cols = ["asset", PERIOD, AVAILABLE_AT, *table.feature_columns()]
    rows = table.rows.reindex(columns=cols)
    known = rows.loc[rows[AVAILABLE_AT] <= pd.Timestamp(cutoff)]
    known = known.sort_values(cols, kind="mergesort", na_position="last")
    return sha256_bytes(known.to_csv(index=False, date_format="%Y-%m-%d").encode("utf-8"))


def dataset_fingerprint(market: str, tables: list[SourceTable] | tuple = ()) -> str:
    """The market's fingerprint alone without sources; else one hash over the market's and
    each source's fingerprint, contract version and contract hash, in config order."""
    if not tables:
        return market
    return sha256_json({"market": market, "sources": [t.lineage() for t in tables]})
