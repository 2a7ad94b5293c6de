"""The ``data:`` config section, apart from the loaders (no pandas to read a run config).

Re-exported by :mod:`tasks.data.market`, which loads what it describes.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import Field, model_validator

from governance.ground.configio import StrictModel

if TYPE_CHECKING:
    from tasks.data.synthetic import SyntheticSpec


class DataSource(StrEnum):
    """Where the market data comes from."""

    DEMO = "demo"
    FILE = "file"
    SYNTHETIC = "synthetic"


class SyntheticConfig(StrictModel):
    """Config twin of :class:`tasks.data.synthetic.SyntheticSpec`.

    ``start`` None (the default) places the calendar so that its last business day is the
    as-of date: generated data is then fresh for the staleness check.
    """

    n_assets: int = Field(50, ge=1)
    n_days: int = Field(2520, ge=2)
    ic: float = Field(0.05, gt=-1.0, lt=1.0)
    seed: int = 0
    n_factors: int = Field(3, ge=1)
    n_sectors: int = Field(5, ge=1)
    horizon: int = Field(21, ge=1, lt=63)
    flip_day: int | None = Field(None, ge=0)
    with_volume: bool = True
    start: dt.date | None = None

    def to_spec(self, as_of: dt.date) -> SyntheticSpec:
        """The generator spec; ``as_of`` places the calendar when ``start`` is None."""
        import pandas as pd

        from tasks.data.synthetic import SyntheticSpec

        start = self.start
        if start is None:
            end = pd.Timestamp(as_of)
            if end.dayofweek >= 5:  # a weekend rolls back to Friday
                end -= pd.offsets.BDay(1)
            start = (end - pd.offsets.BDay(self.n_days - 1)).date()
        fields = self.model_dump(exclude={"start"})
        return SyntheticSpec(**fields, start=start.isoformat())


class DataConfig(StrictModel):
    """The ``data:`` section of the run config.

    Attributes
    ----------
    source : DataSource
        ``demo`` (real S&P 500 prices shipped in skfolio), ``file`` or ``synthetic``.
    path : str or None
        CSV or Parquet file for ``source: file``, relative to the config file.
    as_of : date or None
        The date the data is used as of; None means today (UTC). Rows after it fail the
        gate; its distance to the last date is the staleness.
    start, end : date or None
        Keep only rows in ``[start, end]``.
    synthetic : SyntheticConfig
        Generator parameters for ``source: synthetic``.
    """

    source: DataSource = DataSource.DEMO
    path: str | None = None
    as_of: dt.date | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    synthetic: SyntheticConfig = Field(default_factory=SyntheticConfig)

    @model_validator(mode="after")
    def _consistent(self) -> DataConfig:
        if self.source is DataSource.FILE and not self.path:
            raise ValueError("source 'file' needs a path")
        if self.start and self.end and self.start > self.end:
            raise ValueError("start is after end")
        return self

    def as_of_date(self) -> dt.date:
        """``as_of``, or today in UTC."""
        return self.as_of or dt.datetime.now(dt.UTC).date()
