"""The ``quality:`` config section: one entry per expectation, each with a severity.

Every threshold says where it comes from. Re-exported by :mod:`tasks.data.quality.gate`.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from governance.ground.configio import StrictModel
from tasks.data.calendar import TRADING_DAYS


class Severity(StrEnum):
    """What a failed expectation does: ``critical`` halts the chain, ``warning`` is shown."""

    CRITICAL = "critical"
    WARNING = "warning"


class Check(StrictModel):
    """An expectation with its severity (``critical`` unless the config says otherwise)."""

    severity: Severity = Severity.CRITICAL


class WarningCheck(Check):
    severity: Severity = Severity.WARNING


class ReturnCritical(Check):
    """|daily log return| of an asset at most ``max_abs_log_return``.

    Default log(5) = 1.61: a five-fold jump or an 80 % fall in one day is a data error
    until shown otherwise; a 1000 % jump (log 11 = 2.40) is far beyond. The demo's largest
    move is 1.10 (RRC, 1990).
    """

    max_abs_log_return: float = Field(1.6, gt=0)


class ReturnWarning(WarningCheck):
    """Default log(1.5) = 0.41: a 50 % one-day move deserves a look (corporate action,
    bad tick). The demo has 8 such days."""

    max_abs_log_return: float = Field(0.4, gt=0)


class Staleness(Check):
    """The last date may lag the as-of date by at most ``max_business_days``.

    Default one trading week: a daily pipeline that has not seen prices for a week is
    stale.
    """

    max_business_days: int = Field(5, ge=0)


class AssetsPerDate(Check):
    """Every date has at least ``minimum`` assets with a valid close.

    Default 5: cross-sectional ranking (features, rank IC, long-short) needs a
    cross-section.
    """

    minimum: int = Field(5, ge=1)


class HistoryCritical(Check):
    """Every asset has at least ``minimum`` dates with a valid close.

    Default 63: the longest feature look-back (tasks.data.synthetic.LOOKBACK, one quarter).
    """

    minimum: int = Field(63, ge=1)


class HistoryWarning(WarningCheck):
    """Default one trading year (252 days), the usual minimum history for a return forecast."""

    minimum: int = Field(TRADING_DAYS, ge=1)


class MissingCritical(Check):
    """Share of dates without a valid close between an asset's first and last date.

    Default 0.2: beyond a fifth of its life missing, an asset's returns and features are
    mostly interpolation.
    """

    max_share: float = Field(0.2, ge=0, le=1)


class MissingWarning(WarningCheck):
    """Default 0.02: about five trading days a year missing is worth a look."""

    max_share: float = Field(0.02, ge=0, le=1)


class QualityConfig(StrictModel):
    """The ``quality:`` section: one entry per expectation, each with its severity.

    Every entry may be given partly (``close_positive: {severity: warning}``). Defaults let
    the real demo data (20 S&P 500 stocks, 1990-2022) pass honestly: its 8 one-day moves
    beyond |log return| 0.4 are warnings; it has no gaps.
    """

    required_columns: Check = Check()
    column_types: Check = Check()
    not_null: Check = Check()
    close_positive: Check = Check()
    unique_date_asset: Check = Check()
    no_future_dates: Check = Check()
    return_warning: ReturnWarning = ReturnWarning()
    return_critical: ReturnCritical = ReturnCritical()
    staleness: Staleness = Staleness()
    assets_per_date: AssetsPerDate = AssetsPerDate()
    history_per_asset: HistoryCritical = HistoryCritical()
    history_per_asset_warning: HistoryWarning = HistoryWarning()
    missing_share: MissingCritical = MissingCritical()
    missing_share_warning: MissingWarning = MissingWarning()
    max_examples: int = Field(3, ge=1, le=20)
