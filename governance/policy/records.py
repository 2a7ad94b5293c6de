"""Records retention (the adopted policy's ``records:`` section; issue 27, item 8).

Each kind of record a workspace holds (:class:`RecordKind`) has its own retention in years
(``retention``, each kind not named there takes ``retention_years``). An archive of a
period's evidence (``alphagate archive create``) holds records of several kinds: it is kept
until the period's last day plus the longest retention among the kinds it holds
(:meth:`RecordsPolicy.years_for`). A strategy under ``legal_hold`` keeps every archive
indefinitely. After its retention an archive may be disposed of by the role ``dispose_role``
names, in a signed act (governance/evidence/disposal.py), and by nothing else.

Seven years covers the longest of the US books-and-records rules a fund manager meets (SEC
rule 204-2(e): five years; rule 17a-4(a)/(b): six and three years) and the UK's five-year
MiFID record-keeping (COBS 9A / SYSC 9) with margin.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from governance.ground.configio import StrictModel
from governance.ground.vocabulary import Action

__all__ = ["RecordKind", "RecordsPolicy", "kind_of", "retain_until"]

Years = Annotated[int, Field(ge=1, le=100)]


class RecordKind(StrEnum):
    """The kinds of record a workspace holds, each with its retention."""

    LEDGER = "ledger"  # the signed entries themselves (decisions, gates, runs)
    EVIDENCE_PACKS = "evidence_packs"  # exported and archived packs, compliance reports
    VALIDATION_REPORTS = "validation_reports"
    BACKTESTS = "backtests"
    WEIGHTS = "weights"  # optimised and published books, holdings
    ORDERS_FILLS = "orders_fills"  # orders sent, fills reconciled
    MLFLOW_RUNS = "mlflow_runs"  # training runs and registered model versions


#: The kind of the artifacts an entry of each action names; every other action's are
#: :attr:`RecordKind.LEDGER` records.
_KIND_OF_ACTION: dict[str, RecordKind] = {
    Action.EVIDENCE_EXPORTED: RecordKind.EVIDENCE_PACKS,
    Action.RECORDS_ARCHIVED: RecordKind.EVIDENCE_PACKS,
    Action.VALIDATION_COMPLETED: RecordKind.VALIDATION_REPORTS,
    Action.BACKTEST_COMPLETED: RecordKind.BACKTESTS,
    Action.PORTFOLIO_OPTIMISED: RecordKind.WEIGHTS,
    Action.PORTFOLIO_PUBLISHED: RecordKind.WEIGHTS,
    Action.HOLDINGS_RECONCILED: RecordKind.ORDERS_FILLS,
    Action.ORDERS_SENT: RecordKind.ORDERS_FILLS,
    Action.MODEL_TRAINED: RecordKind.MLFLOW_RUNS,
    Action.MODEL_REGISTERED: RecordKind.MLFLOW_RUNS,
}


def kind_of(action: str) -> RecordKind:
    """The kind of record an entry of ``action`` (and its artifacts) is."""
    return _KIND_OF_ACTION.get(str(action), RecordKind.LEDGER)


class RecordsPolicy(StrictModel):
    """How long each kind of record is kept, who disposes of it after, and which strategies
    are under legal hold."""

    retention_years: Years = 7  # every kind not in ``retention``
    retention: dict[RecordKind, Years] = Field(default_factory=dict)
    legal_hold: list[str] = Field(default_factory=list)
    #: Who signs a disposal after retention (governance/evidence/disposal.py), narrowing
    #: governance/identity/duties.py ``ROLES[Act.DISPOSE]``.
    dispose_role: Literal["risk_officer", "validator"] = "risk_officer"

    def years(self, kind: RecordKind) -> int:
        """The retention of ``kind`` in years."""
        return self.retention.get(kind, self.retention_years)

    def years_for(self, kinds: Iterable[RecordKind]) -> tuple[int, RecordKind]:
        """The longest retention among ``kinds`` (the ledger's always counts: every archive
        holds ledger entries) and the kind that sets it."""
        held = {RecordKind.LEDGER, *kinds}
        kind = max(sorted(held), key=self.years)
        return self.years(kind), kind


def retain_until(last_day: dt.date, years: int) -> dt.date:
    """``last_day`` plus ``years`` calendar years (29 February keeps to 28 February)."""
    try:
        return last_day.replace(year=last_day.year + years)
    except ValueError:
        return last_day.replace(year=last_day.year + years, day=28)
