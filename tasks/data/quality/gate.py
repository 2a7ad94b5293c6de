"""Data-quality gate: a Great Expectations 1.x suite built from the config, run by checkpoint.

Three frames are validated, each by its own ExpectationSuite, ValidationDefinition and
Checkpoint in one ephemeral GX context:

``rows``
    The long table itself plus a derived ``log_return`` column (per asset, date order):
    required columns, column types, no missing date/asset/close, close > 0,
    (date, asset) unique, no date after the as-of date, |log return| within the warning
    and critical bounds, staleness of the last date.
``dates``
    One row per date (index ``date``): ``n_assets`` with a valid close.
``assets``
    One row per asset (index ``asset``): ``n_dates`` with a valid close and
    ``missing_share``, the share of the panel's dates between the asset's first and last
    date on which it has no valid close.

The derived frames are built with vectorised pandas/numpy, so that GX's cost stays linear
and small (bench/bench_ingest.py). ``checkpoint.run()`` does not raise on failures
(shared/DESIGN.md): :func:`run_quality_gate` reads each expectation's result and sorts the
failures by the severity the config gives them. An expectation GX could not evaluate counts
as failed (fail closed).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from governance.ground.canonical import to_jsonable
from governance.ground.vocabulary import Action, Subject
from tasks.data.market import REQUIRED_COLUMNS, fingerprint_long, long_codes
from tasks.data.quality.config import (
    AssetsPerDate,
    Check,
    HistoryCritical,
    HistoryWarning,
    MissingCritical,
    MissingWarning,
    QualityConfig,
    ReturnCritical,
    ReturnWarning,
    Severity,
    Staleness,
    WarningCheck,
)
from tasks.data.quality.gx import (
    PlannedExpectation,
    log_returns,
    per_asset_frame,
    per_date_frame,
    plan_expectations,
    run_checkpoints,
)
from tasks.data.quality.report import (
    aggregate_examples,
    describe_failure,
    format_value,
    render_quality_html,
    row_examples,
)

if TYPE_CHECKING:
    from governance.decisions.context import RunContext
    from governance.log.ledger import LedgerEntry

__all__ = [
    "AssetsPerDate",
    "Check",
    "CheckFailure",
    "CheckOutcome",
    "HistoryCritical",
    "HistoryWarning",
    "MissingCritical",
    "MissingWarning",
    "QualityConfig",
    "QualityResult",
    "ReturnCritical",
    "ReturnWarning",
    "Severity",
    "Staleness",
    "WarningCheck",
    "error_result",
    "evaluate_quality",
    "per_asset_frame",
    "per_date_frame",
    "plan_expectations",
    "record_quality",
    "render_quality_html",
    "run_quality_gate",
]


@dataclass(frozen=True)
class CheckFailure:
    """A failed expectation.

    Attributes
    ----------
    expectation : str
        Our name for it, e.g. ``close_positive`` or ``not_null.close``.
    severity : Severity
    message : str
        One line naming the check and a few offending rows, e.g.
        ``close_positive: 1 of 3000 rows: line 18: date=2021-03-04 asset=XOM close=-3.2``.
    examples : tuple of str
        The offending rows named in the message.
    """

    expectation: str
    severity: Severity
    message: str
    examples: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class CheckOutcome:
    """One evaluated expectation, passed or not (for the report)."""

    expectation: str
    gx_type: str
    frame: str
    severity: Severity
    success: bool
    observed: Any


@dataclass(frozen=True)
class QualityResult:
    """What the data-quality gate found.

    Attributes
    ----------
    ok : bool
        True when no critical expectation failed.
    critical_failures, warnings : tuple of CheckFailure
    results : dict
        ``{frame: GX validation result as JSON}`` for ``rows``, ``dates``, ``assets``.
    fingerprint : str
        :func:`tasks.data.market.fingerprint_long` of the table checked.
    as_of : str
        ISO as-of date the checks used.
    checks : tuple of CheckOutcome
        Every expectation evaluated.
    stats : dict
        ``rows``, ``assets``, ``dates``, ``first_date``, ``last_date``.
    """

    ok: bool
    critical_failures: tuple[CheckFailure, ...]
    warnings: tuple[CheckFailure, ...]
    results: dict
    fingerprint: str
    as_of: str = ""
    checks: tuple[CheckOutcome, ...] = ()
    stats: dict | None = None

    def summary(self) -> dict:
        """The ``alphagate data check --json`` object: ``{ok, critical_failures, warnings,
        fingerprint}`` with failures as their one-line messages."""
        return {
            "ok": self.ok,
            "critical_failures": [f.message for f in self.critical_failures],
            "warnings": [f.message for f in self.warnings],
            "fingerprint": self.fingerprint,
        }

    def to_json(self) -> dict:
        """Everything, JSON-ready (the stored artifact)."""
        return to_jsonable(self)


# -- turning GX results into failures -------------------------------------------------------


def collect_failures(
    plan: list[PlannedExpectation],
    validations: Mapping[str, Any],
    long: pd.DataFrame,
    rows: pd.DataFrame,
    as_of: dt.date,
    max_examples: int,
) -> tuple[list[CheckFailure], list[CheckOutcome]]:
    """Match GX results to the plan; one :class:`CheckFailure` per failed expectation."""
    by_name = {p.name: p for p in plan}
    failures, outcomes = [], []
    for frame_name, vr in validations.items():
        for er in vr.results:
            p = by_name[er.expectation_config.meta["check"]]
            res = dict(er.result or {})
            info = er.exception_info or {}
            raised = info.get("raised_exception") or any(
                isinstance(v, Mapping) and v.get("raised_exception") for v in info.values()
            )
            exc = None
            if raised:
                msgs = [info.get("exception_message")] + [
                    v.get("exception_message") for v in info.values() if isinstance(v, Mapping)
                ]
                exc = next((m for m in msgs if m), "error")
            success = bool(er.success) and not raised
            outcomes.append(
                CheckOutcome(
                    p.name,
                    er.expectation_config.type,
                    frame_name,
                    p.severity,
                    success,
                    to_jsonable(res.get("observed_value", res.get("unexpected_count"))),
                )
            )
            if success:
                continue
            refs = list(res.get("partial_unexpected_index_list") or [])[:max_examples]
            if frame_name != "rows":
                examples = aggregate_examples(refs)
            else:
                column = er.expectation_config.kwargs.get("column")
                extra = rows[column] if column == "log_return" else None
                examples = row_examples(refs, long, extra)
            message = describe_failure(p.name, frame_name, res, as_of, exc, examples)
            failures.append(CheckFailure(p.name, p.severity, message, examples))
    return failures, outcomes


# -- the gate ------------------------------------------------------------------------------


def _stats(long: pd.DataFrame) -> dict:
    dates = long["date"].dropna() if "date" in long.columns else pd.Series(dtype="object")
    return {
        "rows": len(long),
        "assets": int(long["asset"].nunique()) if "asset" in long.columns else 0,
        "dates": int(dates.nunique()),
        "first_date": format_value(dates.min()) if len(dates) else None,
        "last_date": format_value(dates.max()) if len(dates) else None,
    }


def run_quality_gate(
    long: pd.DataFrame, cfg: QualityConfig, as_of: dt.date | str | None = None
) -> QualityResult:
    """Validate a long market table with Great Expectations.

    Parameters
    ----------
    long : DataFrame
        The long table (``date, asset, close`` [, ``volume, sector``], any row order). Its
        index names the source rows (``line``/``row``) in messages; a non-unique index is
        replaced by 1-based row numbers.
    cfg : QualityConfig
    as_of : date, str or None
        Reference date for future rows and staleness; None means today (UTC).

    Returns
    -------
    QualityResult
        ``ok`` is False when any critical expectation failed or could not be evaluated.
    """
    as_of = pd.Timestamp(as_of).date() if as_of is not None else dt.datetime.now(dt.UTC).date()
    if not long.index.is_unique:
        long = long.reset_index(drop=True)
        long.index = pd.RangeIndex(1, len(long) + 1, name="row")
    columns = [str(c) for c in long.columns]
    plan = plan_expectations(cfg, as_of, columns)
    frames: dict[str, pd.DataFrame] = {"rows": long}
    if all(c in columns for c in REQUIRED_COLUMNS):
        # only the columns expectations read: GX copies the frame per expectation
        codes = long_codes(long)
        frames["rows"] = long[list(REQUIRED_COLUMNS)].assign(log_return=log_returns(long, codes))
        frames["dates"] = per_date_frame(long, codes)
        frames["assets"] = per_asset_frame(long, codes)
    result_format = {
        "result_format": "SUMMARY",
        "partial_unexpected_count": cfg.max_examples,
        "include_unexpected_rows": False,
    }
    validations = run_checkpoints(frames, plan, result_format)
    failures, outcomes = collect_failures(
        plan, validations, long, frames["rows"], as_of, cfg.max_examples
    )
    critical = tuple(f for f in failures if f.severity is Severity.CRITICAL)
    warnings = tuple(f for f in failures if f.severity is Severity.WARNING)
    fingerprint = fingerprint_long(long) if "date" in columns and "asset" in columns else ""
    return QualityResult(
        ok=not critical,
        critical_failures=critical,
        warnings=warnings,
        results={k: to_jsonable(v.to_json_dict()) for k, v in validations.items()},
        fingerprint=fingerprint,
        as_of=as_of.isoformat(),
        checks=tuple(outcomes),
        stats=_stats(long),
    )


# -- recording (the stage wrapper) -----------------------------------------------------------


def error_result(long: pd.DataFrame, as_of: dt.date, exc: BaseException) -> QualityResult:
    """The result of a gate whose evaluation raised: one critical failure (fail closed)."""
    failure = CheckFailure(
        "gate_error",
        Severity.CRITICAL,
        f"gate_error: the data-quality gate could not run ({type(exc).__name__}: {exc})",
    )
    return QualityResult(
        ok=False,
        critical_failures=(failure,),
        warnings=(),
        results={},
        fingerprint=fingerprint_long(long),
        as_of=as_of.isoformat(),
        stats=_stats(long),
    )


def evaluate_quality(long: pd.DataFrame, cfg: QualityConfig, as_of: dt.date) -> QualityResult:
    """:func:`run_quality_gate`, failing closed: an unexpected error becomes a critical
    ``gate_error`` failure instead of an exception (shared/DESIGN.md: a gate that cannot be
    evaluated halts). :class:`InputError` still propagates."""
    from governance.ground.errors import InputError

    try:
        return run_quality_gate(long, cfg, as_of)
    except InputError:
        raise
    except Exception as exc:
        return error_result(long, as_of, exc)


def record_quality(ctx: RunContext, result: QualityResult, long: pd.DataFrame) -> LedgerEntry:
    """Store the result JSON and HTML; append ``data.ingested`` and ``gate.data_quality``.

    Parameters
    ----------
    ctx : RunContext
    result : QualityResult
    long : DataFrame
        The table checked (its ``attrs["source"]`` is recorded).

    Returns
    -------
    LedgerEntry
        The ``gate.data_quality`` entry, decided by ``governance.decisions.decide`` (the
        gate seam's payload, the one every gate has) with the
        artifacts ``quality_report`` (JSON) and ``quality_html``.

    Raises
    ------
    GateHalt
        ``data_quality``, one reason per failed critical expectation, after recording.
    """
    from governance.decisions import decide

    subject = Subject.data(result.fingerprint)
    artifacts = {
        "quality_report": ctx.store.put_json(result.to_json()),
        "quality_html": ctx.store.put_text(render_quality_html(result, sandbox=ctx.sandbox)),
    }
    ctx.record(
        Action.DATA_INGESTED,
        subject=subject,
        payload={
            "source": long.attrs.get("source", "unknown"),
            "fingerprint": result.fingerprint,
            "columns": [str(c) for c in long.columns],
            **(result.stats or {}),
        },
    )
    return decide.data_quality(ctx, result, subject, artifacts=artifacts)
