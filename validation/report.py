"""The validation report: a JSON twin with every number and a self-contained HTML page.

The HTML opens with no network access: inline CSS, figures as base64 PNG ``data:`` URIs,
no scripts, no links. Both are rendered from the same JSON document (:func:`render_html`
reads nothing else but the PNG bytes), so the page cannot show a number the JSON lacks.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["SCHEMA", "render_html"]

SCHEMA = "alphagate.validation-report/1"

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em;
color:#1b1b1b;max-width:1100px}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;padding-bottom:.2em;
margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #ddd;
padding:.25em .6em;text-align:right;font-variant-numeric:tabular-nums}
th{background:#f4f4f4}td.l,th.l{text-align:left}
.verdict{display:inline-block;padding:.2em .8em;border-radius:4px;color:#fff;font-weight:bold}
.pass{background:#2e7d32}.review{background:#ef8f00}.fail{background:#c62828}
.critical{color:#c62828;font-weight:bold}.warning{color:#b26a00}.info{color:#555}
figure{display:inline-block;margin:.5em}figcaption{font-size:.85em;color:#555}
.muted{color:#666;font-size:.9em}
"""


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "–" if math.isnan(v) else ("∞" if v > 0 else "-∞")
        return f"{v:.4g}"
    return html.escape(str(v))


def _table(rows: list[Mapping[str, Any]], columns: list[str], left: int = 1) -> str:
    if not rows:
        return '<p class="muted">none</p>'
    head = "".join(
        f'<th class="l">{html.escape(c)}</th>' if i < left else f"<th>{html.escape(c)}</th>"
        for i, c in enumerate(columns)
    )
    body = []
    for r in rows:
        cells = []
        for i, c in enumerate(columns):
            cls = ' class="l"' if i < left else ""
            value = r.get(c)
            if c in ("severity", "status") and value:
                cls = f' class="l {html.escape(str(value))}"'
                if c == "status" and value == "info":
                    value = "stable"
            cells.append(f"<td{cls}>{_fmt(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _kv(mapping: Mapping[str, Any]) -> str:
    return _table([{"name": k, "value": v} for k, v in mapping.items()], ["name", "value"])


def _img(png: bytes, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    cap = html.escape(caption)
    return f'<figure><img alt="{cap}" src="data:image/png;base64,{data}"><figcaption>{cap}</figcaption></figure>'


_SCALARS = (
    "n_dates",
    "n_rows",
    "ic_mean",
    "rank_ic_mean",
    "rank_ic_std",
    "icir",
    "rank_ic_se",
    "rank_ic_tstat",
    "nw_lags",
    "hit_rate",
    "top_minus_bottom",
    "ls_sharpe",
    "ls_annual_return",
    "ls_annual_vol",
    "turnover",
)


def _signals_table(signals: list[Mapping[str, Any]]) -> str:
    rows = [{"metric": k, **{s["name"]: s.get(k) for s in signals}} for k in _SCALARS]
    return _table(rows, ["metric", *[s["name"] for s in signals]])


def _breakdown(signals: list[Mapping[str, Any]], key: str, label: str) -> str:
    keys: list[str] = []
    for s in signals:
        keys += [k for k in s.get(key, {}) if k not in keys]
    rows = [{label: k, **{s["name"]: s.get(key, {}).get(k) for s in signals}} for k in keys]
    return _table(rows, [label, *[s["name"] for s in signals]])


def render_html(report: Mapping[str, Any], figures: Mapping[str, bytes]) -> str:
    """Self-contained HTML of a validation ``report`` (the JSON twin) and its PNG ``figures``.

    ``figures`` maps a caption to PNG bytes; ``report["figures"]`` maps the same captions to
    the PNGs' SHA-256 so the JSON identifies every image.
    """
    m = report["model"]
    verdict = str(report["verdict"])
    model_metrics = report["metrics"]
    challengers = [c for c in report["challengers"] if c.get("metrics")]
    signals = [model_metrics, *[c["metrics"] for c in challengers]]
    of = report["overfitting"]
    pbo = dict(of.get("pbo", {}))
    shap = report.get("shap") or {}
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Validation of {html.escape(m['name'])} v{html.escape(str(m['version']))}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Independent validation: {html.escape(m['name'])} version {html.escape(str(m['version']))}</h1>",
        f'<p>Verdict: <span class="verdict {html.escape(verdict)}">{html.escape(verdict.upper())}</span></p>',
        _kv(
            {
                "validator": report["validator"],
                "developer": m.get("developer"),
                "strategy": m.get("strategy"),
                "horizon (days)": m.get("horizon"),
                "model run": m.get("run_id"),
                "holdout fingerprint": report["holdout"]["fingerprint"],
                "holdout period": " to ".join(report["holdout"].get("period") or []),
                "holdout rows": report["holdout"].get("rows"),
                "policy tier": report["policy"]["tier"],
                "policy hash": report["policy"].get("hash"),
            }
        ),
        "<h2>Findings</h2>",
        _table(
            report["findings"], ["id", "check", "severity", "message", "value", "threshold"], left=4
        ),
        "<h2>Outcomes on the holdout</h2>",
        '<p class="muted">Rank IC = Spearman correlation of score and forward return per date; '
        "t-stat with Newey–West errors; long-short = top minus bottom quantile, daily.</p>",
        _signals_table(signals),
        "<h3>Quantile mean forward returns</h3>",
        _breakdown(signals, "quantile_returns", "quantile"),
        "<h3>Rank IC by calendar year</h3>",
        _breakdown(signals, "ic_by_year", "year"),
        "<h3>Rank IC by volatility regime</h3>",
        _breakdown(signals, "ic_by_regime", "regime"),
        "<h3>IC decay over horizons</h3>",
        _breakdown(signals, "ic_decay", "horizon"),
        "<h2>Challengers</h2>",
        _table(
            [
                {k: c.get(k) for k in ("name", "available", "margin_rank_ic", "note")}
                for c in report["challengers"]
            ],
            ["name", "available", "margin_rank_ic", "note"],
        ),
        "<h2>Overfitting statistics</h2>",
        _kv({k: v for k, v in of.items() if k != "pbo"}),
        "<h3>Probability of backtest overfitting (CSCV)</h3>",
        _kv({k: v for k, v in pbo.items() if k != "logits"}),
        "<h2>SHAP explanations</h2>",
        _kv(
            {
                "rows explained": shap.get("n_rows"),
                "top feature": shap.get("top_feature"),
                "top feature share": shap.get("top_share"),
                "rank stability across years": shap.get("rank_stability"),
            }
        ),
        _table(
            [{"feature": k, "mean |SHAP|": v} for k, v in (shap.get("importance") or {}).items()],
            ["feature", "mean |SHAP|"],
        ),
        "<h3>Conceptual soundness: sign of each feature's SHAP relation</h3>",
        _table(
            list(shap.get("sign_checks") or []),
            ["feature", "expected_sign", "correlation", "observed_sign", "ok"],
        ),
        "<h3>Importance by year</h3>",
        _by_year(shap.get("by_year") or {}),
        "".join(_img(png, cap) for cap, png in figures.items()),
        "<h2>Drift: training reference vs holdout</h2>",
        '<p class="muted">PSI with bins from the training reference deciles '
        "(credit-industry definition); two-sample Kolmogorov–Smirnov test.</p>",
        _table(
            list(report.get("drift") or []),
            ["variable", "psi", "ks_statistic", "ks_pvalue", "status"],
        ),
        '<p class="muted">JSON twin: every number above, schema '
        f"{html.escape(report.get('schema', SCHEMA))}.</p>",
        "</body></html>",
    ]
    return "\n".join(parts)


def _by_year(by_year: Mapping[str, Mapping[str, float]]) -> str:
    feats: list[str] = []
    for row in by_year.values():
        feats += [f for f in row if f not in feats]
    rows = [{"feature": f, **{y: by_year[y].get(f) for y in by_year}} for f in feats]
    return _table(rows, ["feature", *by_year])
