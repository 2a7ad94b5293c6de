"""The validation report: a JSON twin with every number and a committee-ready HTML page.

The page is for a model-risk committee: a cover (date and time, model, tier, scope and
intended use), an executive summary (verdict, the headline reasons, a recommendation and
the flags a reader must not miss), a table of contents, the analyst's sections with human
labels and units, the limitations, and a sign-off block. It is rendered by the one HTML
renderer (:mod:`governance.html`): self-contained, printable, no horizontal overflow.
Both forms come from the same JSON document (:func:`render_html` reads nothing else but
the PNG bytes), so the page cannot show a number the JSON lacks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from governance.canonical import canonical_json, sha256_bytes
from governance.html import (
    Cell,
    Facts,
    Figure,
    Page,
    Section,
    Table,
    Tone,
    count,
    decimal,
    percent,
    pvalue,
    render_page,
    tone_of,
)
from governance.sandbox import banner

__all__ = ["SCHEMA", "flags", "render_html"]

SCHEMA = "alphagate.validation-report/1"

#: KS tests below this p-value are flagged as a significant shift of the distribution, even
#: when the PSI is below its warning threshold (a 1 % test: the PSI and the KS test answer
#: different questions, and a reader should see both).
KS_SIGNIFICANCE = 0.01

#: Headline reasons shown in the executive summary before "+N more — see Findings".
HEADLINES = 5

#: ``(key, label, formatter)`` of each row of the signal, overfitting and PBO tables, in
#: reading order (fractions print as percentages).
SIGNAL_ROWS: tuple[tuple[str, str, Any], ...] = (
    ("rank_ic_mean", "Mean rank IC (Spearman, per date)", lambda v: decimal(v, 4, True)),
    ("ic_mean", "Mean IC (Pearson, per date)", lambda v: decimal(v, 4, True)),
    ("rank_ic_std", "Rank IC standard deviation across dates", lambda v: decimal(v, 4)),
    ("icir", "IC information ratio (mean ÷ s.d., per date)", lambda v: decimal(v, 3, True)),
    ("rank_ic_tstat", "Rank IC t-statistic (Newey–West)", lambda v: decimal(v, 2, True)),
    ("nw_lags", "Newey–West lags (dates)", count),
    ("hit_rate", "Dates with a positive rank IC", percent),
    ("top_minus_bottom", "Top − bottom quantile forward return (per horizon)",
     lambda v: percent(v, 2, True)),
    ("ls_annual_return", "Long-short return (annualised, gross)", lambda v: percent(v, 1, True)),
    ("ls_annual_vol", "Long-short volatility (annualised)", percent),
    ("ls_sharpe", "Long-short Sharpe ratio (annualised, gross)", lambda v: decimal(v, 2, True)),
    ("turnover", "Top-quantile turnover (share replaced per day)", percent),
    ("n_dates", "Dates scored", count),
    ("n_rows", "Asset-dates scored", count),
)  # fmt: skip

OVERFITTING_ROWS: tuple[tuple[str, str, Any], ...] = (
    ("holdout_sharpe_annual", "Holdout long-short Sharpe (annualised)", lambda v: decimal(v, 2, True)),
    ("psr", "Probabilistic Sharpe ratio, P(true Sharpe > 0)", percent),
    ("min_track_record_days", "Minimum track record for 95 % confidence (days)", count),
    ("dsr", "Deflated Sharpe ratio, P(skill after selection)", percent),
    ("dsr_benchmark_sharpe_annual", "Expected best Sharpe of unskilled trials (annualised)",
     lambda v: decimal(v, 2, True)),
    ("n_trials", "Trials counted for deflation (ledger)", count),
    ("holdout_n_obs", "Holdout daily observations", count),
    ("holdout_skew", "Holdout return skewness", lambda v: decimal(v, 2, True)),
    ("holdout_kurtosis", "Holdout return kurtosis (non-excess)", lambda v: decimal(v, 2)),
)  # fmt: skip

PBO_ROWS: tuple[tuple[str, str, Any], ...] = (
    ("pbo", "Probability of backtest overfitting", percent),
    ("performance_degradation", "Performance degradation (OOS on IS slope)",
     lambda v: decimal(v, 3, True)),
    ("prob_oos_loss", "Probability of an out-of-sample loss", percent),
    ("n_strategies", "Trial series compared", count),
    ("n_partitions", "CSCV partitions", count),
    ("n_combinations", "CSCV combinations", count),
)  # fmt: skip

RECOMMENDATIONS = {
    "pass": "Recommend approval for production use under the tier named on the cover, "
    "subject to the monitoring and kill-switch policy of that tier.",
    "review": "Approve only after the risk officer has reviewed each warning below; a "
    "warning left open needs a signed, time-limited acceptance (`alphagate findings accept`).",
    "fail": "Do not approve. Return the model to development: the critical findings below "
    "must be remedied and the model validated again on a new sealed holdout.",
}

LIMITATIONS = (
    "The holdout is one historical period: its statistics carry sampling error (the "
    "Newey–West t-statistic and the probabilistic Sharpe ratio state how much), and a "
    "regime absent from it is untested.",
    "Long-short returns are gross of transaction costs, borrow and market impact; the "
    "holdout backtest of the portfolio (net of costs) is reported on the model version.",
    "The deflated Sharpe ratio counts the trials recorded in the ledger; trials run "
    "outside alphagate are not counted and would make the statistic optimistic.",
    "SHAP values explain the model's use of its features, not causation; the sign checks "
    "test the declared economic rationale, not its truth.",
    "Drift compares the holdout with the development reference sample; live drift is the "
    "job of daily monitoring after approval.",
)


def _signal_rows(signals: Sequence[Mapping[str, Any]]) -> Table:
    rows = [(label, *(fmt(s.get(k)) for s in signals)) for k, label, fmt in SIGNAL_ROWS]
    names = [s["name"] for s in signals]
    return Table(("metric", *names), tuple(rows), numeric=tuple(range(1, len(names) + 1)))


def _breakdown(signals: Sequence[Mapping[str, Any]], key: str, label: str, fmt) -> Table:
    keys: list[str] = []
    for s in signals:
        keys += [k for k in s.get(key, {}) if k not in keys]
    rows = [(k, *(fmt(s.get(key, {}).get(k)) for s in signals)) for k in keys]
    names = [s["name"] for s in signals]
    return Table((label, *names), tuple(rows), numeric=tuple(range(1, len(names) + 1)))


def _facts(mapping: Mapping[str, Any], spec) -> Facts:
    return Facts(tuple((label, fmt(mapping.get(k))) for k, label, fmt in spec if k in mapping))


def _finding_value(f: Mapping[str, Any], key: str) -> str:
    v = f.get(key)
    return decimal(v, 4) if isinstance(v, float) else ("–" if v is None else str(v))


def _findings(findings: Sequence[Mapping[str, Any]]) -> Table | str:
    if not findings:
        return "No findings: every check passed."
    has_ids = any(f.get("id") for f in findings)
    rows = []
    for f in findings:
        row = [
            Cell(f.get("severity", ""), tone=tone_of(f.get("severity"))),
            f.get("check", ""),
            f.get("message", ""),
            _finding_value(f, "value"),
            _finding_value(f, "threshold"),
        ]
        rows.append(((Cell(f.get("id") or "", code=True),) if has_ids else ()) + tuple(row))
    headers = ("severity", "check", "finding", "value", "threshold")
    offset = 1 if has_ids else 0
    return Table(
        (("id",) if has_ids else ()) + headers,
        tuple(rows),
        numeric=(3 + offset, 4 + offset),
    )


def _drift_status(row: Mapping[str, Any]) -> Cell:
    """PSI status, and a significant KS shift named as such (never "stable" beside it)."""
    status = str(row.get("status", ""))
    p = row.get("ks_pvalue")
    shifted = isinstance(p, float) and p < KS_SIGNIFICANCE
    if status in ("warning", "critical"):
        return Cell(f"PSI {status}" + ("; KS shift" if shifted else ""), tone=tone_of(status))
    if shifted:
        return Cell(f"KS shift (p < {KS_SIGNIFICANCE:g}); PSI within limits", tone=Tone.WARNING)
    return Cell("stable", tone=Tone.PASS)


def flags(report: Mapping[str, Any]) -> list[str]:
    """What a reader must not miss beyond the findings: degenerate training, KS shifts."""
    out = []
    rounds = list((report.get("training") or {}).get("fold_rounds") or [])
    stalled = [i + 1 for i, r in enumerate(rounds) if r is not None and int(r) <= 1]
    if stalled:
        out.append(
            f"Degenerate training: {len(stalled)} of {len(rounds)} CV folds stopped after one "
            f"boosting round (folds {', '.join(map(str, stalled))}): the model learned nothing "
            "in them, so its CV scores say little."
        )
    shifted = [
        d["variable"]
        for d in report.get("drift") or []
        if isinstance(d.get("ks_pvalue"), float)
        and d["ks_pvalue"] < KS_SIGNIFICANCE
        and d.get("status") not in ("warning", "critical")
    ]
    if shifted:
        out.append(
            f"Distribution shift: the KS test rejects equal distributions (p < "
            f"{KS_SIGNIFICANCE:g}) for {', '.join(shifted)} although the PSI is within limits."
        )
    return out


def _headlines(findings: Sequence[Mapping[str, Any]]) -> list[str]:
    order = {"critical": 0, "warning": 1, "info": 2}
    ranked = sorted(findings, key=lambda f: order.get(str(f.get("severity")), 3))
    ranked = [f for f in ranked if f.get("severity") != "info"] or ranked
    lines = [f"[{f.get('severity')}] {f.get('message')}" for f in ranked[:HEADLINES]]
    if len(ranked) > HEADLINES:
        lines.append(f"+{len(ranked) - HEADLINES} more — see Findings")
    return lines or ["No findings: every check passed."]


def _cover(report: Mapping[str, Any]) -> Facts:
    m, hold, pol = report["model"], report["holdout"], report["policy"]
    period = " to ".join(hold.get("period") or [])
    scope = (
        f"Independent validation of {m['name']} version {m['version']} on its sealed holdout: "
        f"{period}, {count(hold.get('dates'))} dates × {count(hold.get('assets'))} assets "
        f"({count(hold.get('rows'))} rows), never seen by its developer."
    )
    return Facts(
        (
            ("date and time (UTC)", report.get("generated_at") or "–"),
            ("model", f"{m['name']} version {m['version']}"),
            ("policy tier", pol.get("tier") or "–"),
            ("scope", scope),
            ("intended use", m.get("intended_use") or "as stated in the model card"),
            ("developer", m.get("developer") or "–"),
            ("validator", report["validator"]),
            ("forecast horizon", f"{m.get('horizon')} trading days"),
        )
    )


def _signoff(report: Mapping[str, Any]) -> tuple:
    approvals = list(report.get("approvals") or [])
    rows = [
        (a.get("user"), a.get("role"), a.get("decision"), a.get("at"), a.get("reason", ""),
         Cell((a.get("signature_sha256") or "")[:16], code=True))
        for a in approvals
    ]  # fmt: skip
    return (
        Facts(
            (
                ("validated by", f"{report['validator']} (validator)"),
                ("date and time (UTC)", report.get("generated_at") or "–"),
                ("report digest", Cell(sha256_bytes(canonical_json(report)), code=True)),
                ("policy", Cell(report["policy"].get("hash") or "–", code=True)),
            )
        ),
        "The report digest is the SHA-256 of this report's canonical JSON twin: the "
        "validator's ledger entry records it, and `alphagate evidence verify` re-checks it.",
        Table(("user", "role", "decision", "at", "reason", "signature"), tuple(rows))
        if rows
        else "No approval or rejection recorded when this report was written; the model "
        "version's page in MLflow shows the current ones.",
    )


def render_html(report: Mapping[str, Any], figures: Mapping[str, bytes]) -> str:
    """Committee-ready HTML of a validation ``report`` (the JSON twin) and its PNG ``figures``.

    ``figures`` maps a caption to PNG bytes; ``report["figures"]`` maps the same captions to
    the PNGs' SHA-256 so the JSON identifies every image.
    """
    m = report["model"]
    verdict = str(report["verdict"])
    findings = list(report["findings"])
    challengers = [c for c in report["challengers"] if c.get("metrics")]
    signals = [report["metrics"], *[c["metrics"] for c in challengers]]
    of = dict(report["overfitting"])
    pbo = dict(of.get("pbo") or {})
    shap = report.get("shap") or {}
    warn = flags(report)
    summary = (
        f"Verdict: {verdict.upper()}. {RECOMMENDATIONS.get(verdict, '')}",
        _headlines(findings),
        *(("Flags:", warn) if warn else ()),
    )
    sections = (
        Section(
            "Scope and data",
            (
                Facts(
                    (
                        ("holdout fingerprint", Cell(report["holdout"]["fingerprint"], code=True)),
                        ("holdout period", " to ".join(report["holdout"].get("period") or [])),
                        ("model run", Cell(m.get("run_id") or "–", code=True)),
                        ("strategy", m.get("strategy") or "–"),
                        ("features", ", ".join(m.get("features") or [])),
                        ("policy hash", Cell(report["policy"].get("hash") or "–", code=True)),
                    )
                ),
            ),
        ),
        Section("Findings", (_findings(findings),)),
        Section(
            "Outcomes on the holdout",
            (
                "Rank IC: Spearman correlation of score and forward return on each date; "
                "t-statistic with Newey–West errors; long-short: top minus bottom quantile, "
                "daily, gross of costs. Percentages are of capital.",
                _signal_rows(signals),
            ),
        ),
        Section(
            "Quantile mean forward returns",
            (_breakdown(signals, "quantile_returns", "quantile", lambda v: percent(v, 2, True)),),
            level=3,
        ),
        Section(
            "Rank IC by calendar year",
            (_breakdown(signals, "ic_by_year", "year", lambda v: decimal(v, 4, True)),),
            level=3,
        ),
        Section(
            "Rank IC by volatility regime",
            (_breakdown(signals, "ic_by_regime", "regime", lambda v: decimal(v, 4, True)),),
            level=3,
        ),
        Section(
            "Rank IC over horizons (days)",
            (_breakdown(signals, "ic_decay", "horizon", lambda v: decimal(v, 4, True)),),
            level=3,
        ),
        Section(
            "Challengers",
            (
                Table(
                    ("challenger", "available", "model's rank-IC margin", "note"),
                    tuple(
                        (
                            c["name"],
                            "yes" if c.get("available") else "no",
                            decimal(c.get("margin_rank_ic"), 4, True),
                            c.get("note") or "",
                        )
                        for c in report["challengers"]
                    ),
                    numeric=(2,),
                ),
            ),
        ),
        Section(
            "Overfitting statistics",
            (
                _facts(of, OVERFITTING_ROWS),
                f"Deflated series: {of.get('dsr_series', '–')}.",
            ),
        ),
        Section(
            "Probability of backtest overfitting (CSCV)",
            (_facts(pbo, PBO_ROWS), *((pbo["note"],) if pbo.get("note") else ())),
            level=3,
        ),
        Section(
            "Explanations (SHAP)",
            (
                Facts(
                    (
                        ("rows explained", count(shap.get("n_rows"))),
                        ("top feature", shap.get("top_feature") or "–"),
                        ("top feature's share of mean |SHAP|", percent(shap.get("top_share"))),
                        (
                            "rank stability across years (Spearman)",
                            decimal(shap.get("rank_stability"), 2),
                        ),
                    )
                ),
                Table(
                    ("feature", "mean |SHAP| (score units)"),
                    tuple((k, decimal(v, 5)) for k, v in (shap.get("importance") or {}).items()),
                    numeric=(1,),
                ),
            ),
        ),
        Section(
            "Conceptual soundness: sign of each feature's SHAP relation",
            (
                Table(
                    ("feature", "expected sign", "correlation", "observed sign", "as expected"),
                    tuple(
                        (
                            s.get("feature"),
                            _sign(s.get("expected_sign")),
                            decimal(s.get("correlation"), 3, True),
                            _sign(s.get("observed_sign")),
                            Cell("yes", tone=Tone.PASS)
                            if s.get("ok")
                            else Cell("no", tone=Tone.WARNING),
                        )
                        for s in shap.get("sign_checks") or []
                    ),
                    numeric=(2,),
                ),
            ),
            level=3,
        ),
        Section("Importance by year", (_by_year(shap.get("by_year") or {}),), level=3),
        Section("Figures", tuple(Figure(png, cap) for cap, png in figures.items()) or ("none",)),
        Section(
            "Drift: training reference vs holdout",
            (
                "PSI with bins from the training reference deciles (credit-industry "
                "definition); two-sample Kolmogorov–Smirnov test, flagged at "
                f"p < {KS_SIGNIFICANCE:g}.",
                Table(
                    ("variable", "PSI", "KS statistic", "KS p-value", "status"),
                    tuple(
                        (
                            d.get("variable"),
                            decimal(d.get("psi"), 3),
                            decimal(d.get("ks_statistic"), 3),
                            pvalue(d.get("ks_pvalue")),
                            _drift_status(d),
                        )
                        for d in report.get("drift") or []
                    ),
                    numeric=(1, 2, 3),
                ),
            ),
        ),
        Section("Limitations", (list(LIMITATIONS),)),
        Section("Sign-off", _signoff(report)),
    )
    page = Page(
        title=f"{m['name']} version {m['version']}",
        kind="Independent validation report",
        verdict=verdict,
        cover=_cover(report),
        summary=summary,
        sections=sections,
        toc=True,
        footer=f"JSON twin: every number above, schema {report.get('schema', SCHEMA)}.",
        banner=banner(bool(report.get("sandbox"))),
    )
    return render_page(page)


def _sign(s: Any) -> str:
    return {1: "+", -1: "−", 0: "0"}.get(s if isinstance(s, int) else None, "–")


def _by_year(by_year: Mapping[str, Mapping[str, float]]) -> Table:
    feats: list[str] = []
    for row in by_year.values():
        feats += [f for f in row if f not in feats]
    rows = [(f, *(decimal(by_year[y].get(f), 5) for y in by_year)) for f in feats]
    return Table(("feature", *by_year), tuple(rows), numeric=tuple(range(1, len(by_year) + 1)))
