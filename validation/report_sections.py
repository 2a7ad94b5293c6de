"""The analyst's sections of the validation report: the tables a validator reads.

Each section of :func:`analyst_sections` reads the report's JSON twin (and the PNG bytes of
its figures) and gives its numbers human labels, units and precision: scope and data, the
findings, the signal's outcomes on the holdout and their breakdowns, the challengers, the
overfitting statistics, the SHAP explanations, the figures and the drift table. The page
around them (cover, executive summary, limitations, sign-off) is :mod:`validation.report`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from governance.ground.html import (
    Cell,
    Facts,
    Figure,
    Section,
    Table,
    Tone,
    count,
    decimal,
    percent,
    pvalue,
    tone_of,
)

__all__ = [
    "KS_SIGNIFICANCE",
    "OVERFITTING_ROWS",
    "PBO_ROWS",
    "SIGNAL_ROWS",
    "TIMING_ROWS",
    "analyst_sections",
]

#: KS tests below this p-value are flagged as a significant shift of the distribution, even
#: when the PSI is below its warning threshold (a 1 % test: the PSI and the KS test answer
#: different questions, and a reader should see both).
KS_SIGNIFICANCE = 0.01

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
    ("trial_sharpe_variance_annual", "Variance of the trials' Sharpe ratios (annualised)",
     lambda v: decimal(v, 4)),
    ("holdout_looks", "Distinct models validated on this holdout", count),
    ("ic_tstat_bar", "Rank IC t-statistic bar after those looks", lambda v: decimal(v, 2)),
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


TIMING_ROWS: tuple[tuple[str, str, Any], ...] = (
    ("inside", "Mean daily rank IC, days 1..h", lambda v: decimal(v, 4, True)),
    ("after", "Mean daily rank IC, days h+1..2h", lambda v: decimal(v, 4, True)),
    ("step_tstat", "Step t-statistic (Newey–West)", lambda v: decimal(v, 2, True)),
    ("retained", "Share of the IC kept after the window", percent),
    ("n_dates", "Dates with both windows", count),
)  # fmt: skip


def _sources(sources: Sequence[Mapping[str, Any]]) -> str:
    return (
        "; ".join(
            f"{s.get('source')} (owner {s.get('owner')}, contract {s.get('version')})"
            for s in sources
        )
        or "none"
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


REGIME_NOTE = (
    "States of the equal-weight market's daily return, point in time "
    "(tasks/model/regimes.py): volatility, trailing volatility above or below the holdout's "
    "median; trend, the trailing quarter's return up or down; fitted, the larger filtered "
    "probability of a two-state Gaussian HMM fitted on the holdout's market returns "
    "(calm, turbulent). Standard errors: Newey-West on the state's dates."
)


def _regime_rows(by_state: Mapping[str, Mapping[str, Any]]) -> Table:
    rows = tuple(
        (definition, state, decimal(v.get("rank_ic"), 4, True), decimal(v.get("se"), 4),
         decimal(v.get("tstat"), 2, True), str(v.get("n_dates", "–")))
        for definition, per in by_state.items()
        for state, v in per.items()
    )  # fmt: skip
    return Table(("regime", "state", "rank IC", "s.e.", "t", "dates"), rows, (2, 3, 4, 5))


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


def _sign(s: Any) -> str:
    return {1: "+", -1: "−", 0: "0"}.get(s if isinstance(s, int) else None, "–")


def _by_year(by_year: Mapping[str, Mapping[str, float]]) -> Table:
    feats: list[str] = []
    for row in by_year.values():
        feats += [f for f in row if f not in feats]
    rows = [(f, *(decimal(by_year[y].get(f), 5) for y in by_year)) for f in feats]
    return Table(("feature", *by_year), tuple(rows), numeric=tuple(range(1, len(by_year) + 1)))


def analyst_sections(
    report: Mapping[str, Any], figures: Mapping[str, bytes]
) -> tuple[Section, ...]:
    """The analyst's sections of a validation ``report`` (the JSON twin), in reading order.

    ``figures`` maps a caption to PNG bytes, shown in the "Figures" section in their order.
    """
    m = report["model"]
    findings = list(report["findings"])
    challengers = [c for c in report["challengers"] if c.get("metrics")]
    signals = [report["metrics"], *[c["metrics"] for c in challengers]]
    of = dict(report["overfitting"])
    pbo = dict(of.get("pbo") or {})
    shap = report.get("shap") or {}
    return (
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
                        ("feature sources", _sources(m.get("sources") or [])),
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
            "Rank IC by market regime",
            (REGIME_NOTE, _regime_rows(report["metrics"].get("ic_by_state") or {})),
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
            "Label timing: rank IC inside and after the label window",
            (
                "Mean daily rank IC of the score at t with the return of day t+j. A score "
                "that knows its label's returns loses its IC at the window's end "
                "(validation/label_timing.py).",
                _facts(report.get("label_timing") or {}, TIMING_ROWS),
            ),
            level=3,
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
    )
