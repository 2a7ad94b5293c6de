"""The quality gate of one feature source: a Great Expectations suite from its contract.

One suite per source, run by the market-data gate's checkpoint runner
(:func:`tasks.data.quality.gx.run_checkpoints`), two frames:

``rows``  the typed table: ``schema`` (exactly the contract's columns), ``duplicate_keys``
          (``asset, period, available_at`` unique: two values of one vintage), ``range``
          (each value column within the contract's minimum/maximum), ``null_share`` (each
          value column's missing share at most the contract's ``nullValues`` bound);
``source`` one row: ``staleness`` (newest ``available_at`` no older than the contract's
          ``maxStalenessDays`` at the as-of date), ``coverage`` (share of the market's
          assets present, at least ``minUniverseCoverage``).

Every rule is critical unless the source config lowers it (as the market gate's checks);
a GX error counts as a failure (fail closed). Each failure is one line naming the source,
the column and the rule: ``source revisions: column eps_rev: rule range: 3 of 1200 rows``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd

from governance.ground.errors import Gate, GateHalt
from tasks.data.pit import AVAILABLE_AT, PERIOD
from tasks.data.quality.config import Severity
from tasks.data.quality.gx import PlannedExpectation, quiet_gx, run_checkpoints
from tasks.data.sources.source import SourceTable

__all__ = ["SourceQuality", "check_source", "enforce_sources"]

_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 3}


@dataclass(frozen=True)
class SourceQuality:
    """What one source's gate found: failures as one-line messages, by severity."""

    source: str
    ok: bool
    critical_failures: tuple[str, ...]
    warnings: tuple[str, ...]
    fingerprint: str
    contract_version: str
    owner: str

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.source, "ok": self.ok,
            "critical_failures": list(self.critical_failures), "warnings": list(self.warnings),
            "fingerprint": self.fingerprint, "contract_version": self.contract_version,
            "owner": self.owner,
        }  # fmt: skip


def _plan(table: SourceTable, expected: list[str]) -> list[tuple[PlannedExpectation, str]]:
    quiet_gx()
    import great_expectations.expectations as gxe

    quiet_gx()
    cfg, present = table.config, set(table.rows.columns)
    out: list[tuple[PlannedExpectation, str]] = []

    def add(rule: str, about: str, frame: str, cls, **kw) -> None:
        sev = cfg.severity(rule)
        exp = cls(**kw, severity=sev.value, meta={"check": f"{rule}:{about}"})
        out.append((PlannedExpectation(f"{rule}:{about}", frame, sev, exp), about))

    add("schema", "*", "rows", gxe.ExpectTableColumnsToMatchSet, column_set=expected,
        exact_match=True)  # fmt: skip
    keys = ["asset", PERIOD, AVAILABLE_AT]
    if set(keys) <= present:
        add("duplicate_keys", ",".join(keys), "rows", gxe.ExpectCompoundColumnsToBeUnique,
            column_list=keys)  # fmt: skip
    for col in table.contract.columns:
        if col.name not in present:
            continue
        if col.minimum is not None or col.maximum is not None:
            add("range", col.name, "rows", gxe.ExpectColumnValuesToBeBetween, column=col.name,
                min_value=col.minimum, max_value=col.maximum)  # fmt: skip
        if col.max_null_share is not None:
            add("null_share", col.name, "rows", gxe.ExpectColumnValuesToNotBeNull,
                column=col.name, mostly=max(1.0 - col.max_null_share, 1e-9))  # fmt: skip
    return out


def _source_frame(table: SourceTable, universe: list[str]) -> pd.DataFrame:
    rows = table.rows
    newest = rows[AVAILABLE_AT].max() if AVAILABLE_AT in rows else pd.NaT
    covered = set(rows["asset"].dropna()) if "asset" in rows else set()
    share = len(covered & set(universe)) / len(universe) if universe else 0.0
    return pd.DataFrame({"newest_available_at": [newest], "coverage": [share]})


def _message(table: SourceTable, rule: str, column: str, res: dict, error: str | None) -> str:
    head = f"source {table.name}: column {column}: rule {rule}"
    if error:
        return f"{head}: could not be evaluated ({error})"
    if rule == "schema":
        observed = set(res.get("observed_value") or [])
        expected = set((res.get("details") or {}).get("mismatched", {}).get("missing") or [])
        extra = set((res.get("details") or {}).get("mismatched", {}).get("unexpected") or [])
        return f"{head}: missing {sorted(expected)}, undeclared {sorted(extra)} (has {sorted(observed)})"
    if "unexpected_count" in res:
        n, total = res["unexpected_count"], res.get("element_count")
        return f"{head}: {n} of {total} rows" + (
            f" (e.g. {res['partial_unexpected_list'][:3]})"
            if res.get("partial_unexpected_list")
            else ""
        )
    return f"{head}: observed {res.get('observed_value')}"


def check_source(table: SourceTable, universe: list[str], as_of: dt.date) -> SourceQuality:
    """Run the source's suite; failures sorted by severity (nothing raised)."""
    c = table.contract
    expected = ["asset", PERIOD, AVAILABLE_AT, *(col.name for col in c.columns)]
    plan = _plan(table, expected)
    import great_expectations.expectations as gxe

    src_plan: list[tuple[PlannedExpectation, str]] = []
    for rule, column, cls, kw in (
        ("staleness", AVAILABLE_AT, gxe.ExpectColumnValuesToBeBetween, {
            "column": "newest_available_at",
            "min_value": None if c.max_staleness_days is None else
            pd.Timestamp(as_of) - pd.Timedelta(days=c.max_staleness_days)}),
        ("coverage", "asset", gxe.ExpectColumnValuesToBeBetween,
         {"column": "coverage", "min_value": c.min_coverage}),
    ):  # fmt: skip
        bound = kw.get("min_value")
        if bound is None:
            continue
        sev = table.config.severity(rule)
        exp = cls(**kw, severity=sev.value, meta={"check": f"{rule}:{column}"})
        src_plan.append((PlannedExpectation(f"{rule}:{column}", "source", sev, exp), column))
    frames = {"rows": table.rows.reset_index(drop=True), "source": _source_frame(table, universe)}
    items = [p for p, _ in plan + src_plan]
    try:
        results = run_checkpoints(frames, items, _FORMAT)
    except Exception as exc:  # fail closed: an error evaluating the gate is a halt
        msg = f"source {table.name}: column *: rule gate: could not be evaluated ({exc})"
        return SourceQuality(table.name, False, (msg,), (), table.fingerprint, c.version, c.owner)
    by_name = {p.name: p for p in items}
    critical, warnings = [], []
    for vr in results.values():
        for er in vr.results:
            name = er.expectation_config.meta["check"]
            rule, column = name.split(":", 1)
            info = er.exception_info or {}
            error = info.get("exception_message") if info.get("raised_exception") else None
            if er.success and not error:
                continue
            line = _message(table, rule, column, dict(er.result or {}), error)
            (critical if by_name[name].severity is Severity.CRITICAL else warnings).append(line)
    return SourceQuality(
        table.name, not critical, tuple(critical), tuple(warnings), table.fingerprint,
        c.version, c.owner,
    )  # fmt: skip


def enforce_sources(results: list[SourceQuality]) -> None:
    """Raise ``GateHalt(Gate.DATA_QUALITY)`` (exit 3) with every critical line of every source."""
    reasons = [line for r in results for line in r.critical_failures]
    if reasons:
        raise GateHalt(Gate.DATA_QUALITY, reasons)
