"""Words for the data-quality gate: one-line failure messages and a self-contained HTML report.

Pure formatting on plain values; no Great Expectations import. The HTML has inline CSS only
(GX's own Data Docs pull CSS from the internet, shared/DESIGN.md), so it opens offline and
can go into an evidence pack as is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from governance.ground.html import Cell, Facts, Page, Section, Table, Tone, render_page, tone_of
from governance.identity.sandbox import banner

REQUIRED = ("date", "asset", "close")
_UNITS = {"rows": "rows", "dates": "dates", "assets": "assets"}


def format_value(value: Any) -> str:
    """Short text for a cell: ISO dates, 6 significant digits, ``NaN``."""
    if isinstance(value, pd.Timestamp | dt.datetime):
        ts = pd.Timestamp(value)
        if pd.isna(ts):
            return "NaT"
        return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat()
    if isinstance(value, float | np.floating):
        return "NaN" if np.isnan(value) else f"{value:.6g}"
    return str(value)


def _ref_text(ref: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={format_value(v)}" for k, v in ref.items())


def row_examples(
    refs: Sequence[Mapping[str, Any]], long: pd.DataFrame, extra: pd.Series | None = None
) -> tuple[str, ...]:
    """``line 18: date=2021-03-04 asset=XOM close=-3.2`` for each GX index reference.

    Parameters
    ----------
    refs : sequence of mapping
        GX ``partial_unexpected_index_list`` entries: the index label under the index's
        name (``line`` or ``row``) plus the tested columns.
    long : DataFrame
        The table validated; its index names the source rows.
    extra : Series, optional
        A derived column (e.g. ``log_return``) to show as well, aligned with ``long``.
    """
    label = long.index.name or "row"
    out = []
    for ref in refs:
        idx = ref.get(label)
        if idx is None or idx not in long.index:
            out.append(_ref_text(ref))
            continue
        row = long.loc[idx]
        parts = [f"{label} {idx}:"] + [f"{c}={format_value(row[c])}" for c in REQUIRED]
        if extra is not None:
            parts.append(f"{extra.name}={format_value(extra.loc[idx])}")
        out.append(" ".join(parts))
    return tuple(out)


def aggregate_examples(refs: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """``asset=XOM n_dates=1`` for each reference into a per-date or per-asset frame.

    GX lists the tested column before the index; the index (which date, which asset) is
    what a reader looks for first, so the order is reversed.
    """
    return tuple(_ref_text(dict(reversed(list(ref.items())))) for ref in refs)


def describe_failure(
    name: str,
    frame: str,
    result: Mapping[str, Any],
    as_of: dt.date,
    error: str | None,
    examples: Sequence[str] = (),
) -> str:
    """One line for a failed expectation: the check, how many failed, a few examples."""
    if error:
        text = f"{name}: could not be evaluated ({error})"
    elif "unexpected_count" in result:
        text = f"{name}: {result['unexpected_count']} of {result.get('element_count')} "
        text += _UNITS.get(frame, "rows")
    elif name == "staleness":
        last = format_value(result.get("observed_value"))
        text = f"staleness: last date {last} is too old for as-of {as_of.isoformat()}"
    elif name == "required_columns":
        text = f"required_columns: found {result.get('observed_value')}, need {list(REQUIRED)}"
    else:
        text = f"{name}: observed {format_value(result.get('observed_value'))}"
    return text + (": " + "; ".join(examples) if examples else "")


# -- HTML ------------------------------------------------------------------------------------


def render_quality_html(result: Any, *, sandbox: bool = False) -> str:
    """Self-contained HTML of a :class:`tasks.data.quality.gate.QualityResult` (one renderer).

    Shows the decision, the data's shape and fingerprint, every failed expectation with
    its offending rows, and a table of all expectations evaluated; in a sandbox workspace,
    the sandbox banner (governance/identity/sandbox.py).
    """
    stats = dict(result.stats or {})
    if not result.ok:
        verdict = "halt"
        headline = f"HALT on {len(result.critical_failures)} critical failure(s)"
    else:
        verdict = "warning" if result.warnings else "pass"
        headline = "PASS" + (f" with {len(result.warnings)} warning(s)" if result.warnings else "")
    cover = Facts.of(
        {
            "as-of date": result.as_of,
            **{key.replace("_", " "): stats.get(key) for key in _STATS},
            "fingerprint": Cell(result.fingerprint, code=True),
        }
    )
    sections = [
        Section(
            f"{title} ({len(items)})",
            (_failures(items) if items else "None.",),
        )
        for title, items in (
            ("Critical failures", result.critical_failures),
            ("Warnings", result.warnings),
        )
    ]
    checks = Table(
        ("expectation", "Great Expectations type", "frame", "severity", "result", "observed"),
        tuple(
            (
                c.expectation,
                Cell(c.gx_type, code=True),
                c.frame,
                c.severity,
                Cell(
                    "passed" if c.success else "failed",
                    tone=Tone.PASS if c.success else tone_of(c.severity),
                ),
                c.observed,
            )
            for c in result.checks
        ),
    )
    sections.append(Section("All expectations", (checks,)))
    page = Page(
        title="Data-quality gate",
        kind="alphagate data-quality report",
        banner=banner(sandbox),
        verdict=verdict,
        cover=cover,
        summary=(f"Decision: {headline}; the data {'may' if result.ok else 'may not'} be used.",),
        sections=tuple(sections),
    )
    return render_page(page)


_STATS = ("rows", "assets", "dates", "first_date", "last_date")


def _failures(items) -> Table:
    rows = []
    for f in items:
        finding = f.message.split(": ", 2)[1] if ": " in f.message else f.message
        examples = [Cell(e, code=True) for e in f.examples]
        rows.append((Cell(f.expectation, tone=tone_of(f.severity)), finding, examples))
    return Table(("expectation", "finding", "examples"), tuple(rows))


def readable_copy(store: Any, home: Any, result: Any, sha: str) -> str:
    """Copy the stored report ``sha`` (the hash the gate entry records) to
    ``<home>/reports/data-quality/<as-of>-<fingerprint[:12]>.html``, a file a browser opens;
    return its full path."""
    from pathlib import Path

    name = f"{result.as_of}-{result.fingerprint[:12]}.html"
    return store.copy_out(Path(home) / "reports" / "data-quality", {name: sha})[name]
