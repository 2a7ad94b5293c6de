"""The run config's ``sources:`` entries, apart from the loaders (no pandas to read a config).

Re-exported by :mod:`tasks.data.sources.source`.
"""

from __future__ import annotations

from pydantic import Field

from governance.ground.configio import StrictModel
from governance.ground.errors import InputError
from tasks.data.quality.config import Severity

#: The rules of a source's quality gate (tasks/data/sources/gate.py), each critical unless the
#: source's ``severities`` lowers it, as the market-data gate's checks.
RULES = ("schema", "duplicate_keys", "range", "null_share", "staleness", "coverage")


class SourceConfig(StrictModel):
    """One entry of the run config's ``sources:`` list.

    Attributes
    ----------
    name : str
        The source's name; its features are ``<name>_<column>``.
    path, contract : str
        The table (CSV or Parquet) and its ODCS contract, relative to the config file.
    publication_lag_days : int or None
        Calendar days from ``period`` to when a value is known, for a table without an
        ``available_at`` column (ignored when the table has one).
    columns : list of str or None
        Value columns to use as features (default: every value column of the contract).
    severities : mapping of rule to severity
        Overrides of the gate's rules (:data:`RULES`), ``critical`` by default.
    """

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,39}$")
    path: str
    contract: str
    publication_lag_days: int | None = Field(default=None, ge=0, le=3660)
    columns: tuple[str, ...] | None = None
    severities: dict[str, Severity] = Field(default_factory=dict)

    def severity(self, rule: str) -> Severity:
        if rule not in RULES:
            raise InputError(f"source {self.name}: severities: unknown rule {rule!r}")
        return Severity(self.severities.get(rule, Severity.CRITICAL))
