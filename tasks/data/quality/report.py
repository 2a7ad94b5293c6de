"""Words for the data-quality gate: one-line failure messages and a self-contained HTML report.

Pure formatting on plain values; no Great Expectations import. The HTML has inline CSS only
(GX's own Data Docs pull CSS from the internet, shared/DESIGN.md), so it opens offline and
can go into an evidence pack as is.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

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

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem;
color:#1d2433;max-width:70rem}
h1{font-size:1.4rem;margin-bottom:.2rem}
.badge{display:inline-block;padding:.2rem .7rem;border-radius:1rem;font-weight:600;color:#fff}
.pass{background:#2e7d32}.halt{background:#c62828}.warn{background:#ef6c00}
table{border-collapse:collapse;width:100%;margin:1rem 0;font-size:.9rem}
th,td{border-bottom:1px solid #dde1e7;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f5f8}
td.ok{color:#2e7d32}td.critical{color:#c62828;font-weight:600}td.warning{color:#ef6c00}
code{font-size:.85rem;word-break:break-all}
ul{margin:.2rem 0;padding-left:1.2rem}
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def render_quality_html(result: Any) -> str:
    """Self-contained HTML summary of a :class:`tasks.data.quality.gate.QualityResult` (inline CSS).

    Shows the decision, the data's shape and fingerprint, every failed expectation with
    its offending rows, and a table of all expectations evaluated.
    """
    stats = dict(result.stats or {})
    if result.ok:
        badge = "warn" if result.warnings else "pass"
        verdict = "PASS with warnings" if result.warnings else "PASS"
    else:
        badge, verdict = "halt", "HALT"
    head = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>alphagate data-quality report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Data-quality gate</h1>",
        f'<p><span class="badge {badge}">{verdict}</span></p>',
        "<table>",
        f"<tr><th>as-of date</th><td>{_esc(result.as_of)}</td></tr>",
    ]
    for key in ("rows", "assets", "dates", "first_date", "last_date"):
        head.append(
            f"<tr><th>{_esc(key.replace('_', ' '))}</th><td>{_esc(stats.get(key))}</td></tr>"
        )
    head.append(f"<tr><th>fingerprint</th><td><code>{_esc(result.fingerprint)}</code></td></tr>")
    head.append("</table>")
    body = []
    for title, items in (
        ("Critical failures", result.critical_failures),
        ("Warnings", result.warnings),
    ):
        body.append(f"<h2>{title} ({len(items)})</h2>")
        if not items:
            body.append("<p>None.</p>")
            continue
        body.append("<table><tr><th>expectation</th><th>finding</th><th>examples</th></tr>")
        for f in items:
            ex = "".join(f"<li><code>{_esc(e)}</code></li>" for e in f.examples)
            finding = f.message.split(": ", 2)[1] if ": " in f.message else f.message
            body.append(
                f'<tr><td class="{_esc(f.severity)}">{_esc(f.expectation)}</td>'
                f"<td>{_esc(finding)}</td><td><ul>{ex}</ul></td></tr>"
            )
        body.append("</table>")
    body.append("<h2>All expectations</h2>")
    body.append(
        "<table><tr><th>expectation</th><th>Great Expectations type</th><th>frame</th>"
        "<th>severity</th><th>result</th><th>observed</th></tr>"
    )
    for c in result.checks:
        cls = "ok" if c.success else str(c.severity)
        status = "passed" if c.success else "failed"
        body.append(
            f"<tr><td>{_esc(c.expectation)}</td><td><code>{_esc(c.gx_type)}</code></td>"
            f"<td>{_esc(c.frame)}</td><td>{_esc(c.severity)}</td>"
            f'<td class="{cls}">{status}</td><td>{_esc(c.observed)}</td></tr>'
        )
    body.append("</table>")
    return "\n".join([*head, *body, "</body></html>", ""])
