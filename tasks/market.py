"""Market data: load the long table, normalise into a panel, fingerprint it. (stub)"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd

from governance.configio import StrictModel


class DataConfig(StrictModel):
    source: Literal["demo", "file", "synthetic"] = "demo"
    path: str | None = None


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
