"""Records retention (the adopted policy's ``records:`` section; issue 27, item 8).

An archive of a period's evidence (``alphagate archive create``) is kept until the period's
last day plus ``retention_years``; a strategy under ``legal_hold`` keeps every archive
indefinitely. Seven years covers the longest of the US books-and-records rules a fund
manager meets (SEC rule 204-2(e): five years; rule 17a-4(a)/(b): six and three years) and
the UK's five-year MiFID record-keeping (COBS 9A / SYSC 9) with margin.
"""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from governance.ground.configio import StrictModel

__all__ = ["RecordsPolicy", "retain_until"]


class RecordsPolicy(StrictModel):
    """How long archives are kept, and which strategies are under legal hold."""

    retention_years: int = Field(default=7, ge=1, le=100)
    legal_hold: list[str] = Field(default_factory=list)


def retain_until(last_day: dt.date, years: int) -> dt.date:
    """``last_day`` plus ``years`` calendar years (29 February keeps to 28 February)."""
    try:
        return last_day.replace(year=last_day.year + years)
    except ValueError:
        return last_day.replace(year=last_day.year + years, day=28)
