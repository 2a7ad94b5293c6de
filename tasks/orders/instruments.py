"""The instruments file: what the market data does not say about an asset.

A CSV with a header; ``asset`` and ``lot_size`` are required, the rest optional:

=========  ====================================================================
column     meaning
=========  ====================================================================
asset      the asset's name in the market data
lot_size   shares per round lot (a positive integer); orders are multiples of it
currency   the price currency (default ``USD``)
tradable   ``true``/``false`` (default true); an untradable asset gets no order
adv        average daily dollar volume (default: the market data's one-month mean)
=========  ====================================================================

Assets the file does not name trade in lots of one share, in USD, tradable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from governance.ground.errors import InputError

COLUMNS = ("asset", "lot_size", "currency", "tradable", "adv")
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


@dataclass(frozen=True)
class Instruments:
    """Per-asset trading facts; ``table`` is indexed by asset with columns
    ``lot_size`` (int64), ``currency`` (str), ``tradable`` (bool), ``adv`` (float, NaN
    when unknown)."""

    table: pd.DataFrame

    def for_assets(self, assets: pd.Index, adv: pd.Series | None = None) -> pd.DataFrame:
        """The table for ``assets`` (defaults where unnamed); ``adv`` fills unknown ADVs."""
        out = self.table.reindex(pd.Index(assets, dtype=str))
        out["lot_size"] = out["lot_size"].fillna(1).astype(np.int64)
        out["currency"] = out["currency"].fillna("USD").astype(str)
        out["tradable"] = out["tradable"].fillna(True).astype(bool)
        out["adv"] = out["adv"].astype(float)
        if adv is not None:
            out["adv"] = out["adv"].fillna(adv.reindex(out.index).astype(float))
        return out


def default_instruments() -> Instruments:
    """No file: every asset in lots of one share, USD, tradable, ADV from the market."""
    return Instruments(pd.DataFrame(columns=list(COLUMNS[1:])).rename_axis("asset"))


def _cell(path: Path, line: int, column: str, value: str):
    text = value.strip()
    if column == "lot_size":
        if not text.isdigit() or int(text) < 1:
            raise InputError(f"{path}: line {line}: lot_size {value!r} is not a positive integer")
        return int(text)
    if column == "tradable":
        if text.lower() not in _TRUE | _FALSE:
            raise InputError(f"{path}: line {line}: tradable {value!r} is not true or false")
        return text.lower() in _TRUE
    if column == "adv":
        try:
            number = float(text)
        except ValueError:
            number = float("nan")
        if not np.isfinite(number) or number <= 0:
            raise InputError(f"{path}: line {line}: adv {value!r} is not a positive number")
        return number
    if not text:
        raise InputError(f"{path}: line {line}: {column} is empty")
    return text


def load_instruments(path: str | Path | None) -> Instruments:
    """Read and check an instruments file (module docstring); None: the defaults.

    Raises
    ------
    InputError
        Naming the file, the line and the field: a missing or unknown column, an empty
        asset, a repeated asset, a lot size, flag or ADV that does not parse.
    """
    if path is None:
        return default_instruments()
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"{path}: not a readable CSV ({exc})") from exc
    unknown = sorted(set(frame.columns) - set(COLUMNS))
    if unknown or not {"asset", "lot_size"} <= set(frame.columns):
        raise InputError(
            f"{path}: line 1: columns must be asset, lot_size[, currency, tradable, adv]"
            + (f" (unknown: {', '.join(unknown)})" if unknown else "")
        )
    rows, seen = [], set()
    for i, rec in enumerate(frame.to_dict(orient="records"), start=2):
        row = {c: _cell(path, i, c, v) for c, v in rec.items() if c == "asset" or v.strip()}
        if row["asset"] in seen:
            raise InputError(f"{path}: line {i}: asset {row['asset']} is listed twice")
        seen.add(row["asset"])
        rows.append(row)
    table = pd.DataFrame(rows, columns=list(COLUMNS)).set_index("asset")
    return Instruments(table)
