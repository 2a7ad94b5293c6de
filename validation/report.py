"""The validation report: a JSON twin with every number and a committee-ready HTML page.

The page is for a model-risk committee: a cover (date and time, model, tier, scope and
intended use), an executive summary (verdict, the headline reasons, a recommendation and
the flags a reader must not miss), a table of contents, the analyst's sections with human
labels and units (:mod:`validation.report_sections`), the limitations, and a sign-off
block. It is rendered by the one HTML renderer (:mod:`governance.ground.html`): self-contained,
printable, no horizontal overflow.
Both forms come from the same JSON document (:func:`render_html` reads nothing else but
the PNG bytes), so the page cannot show a number the JSON lacks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from governance.ground.canonical import canonical_json, sha256_bytes
from governance.ground.html import Cell, Facts, Page, Section, Table, count, render_page
from governance.identity.sandbox import banner
from validation.report_robustness import robustness_sections
from validation.report_sections import KS_SIGNIFICANCE, analyst_sections

__all__ = ["SCHEMA", "flags", "render_html"]

SCHEMA = "alphagate.validation-report/1"

#: Headline reasons shown in the executive summary before "+N more — see Findings".
HEADLINES = 5

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
    "The deflated Sharpe ratio (DSR) guards against selecting the best of N searched "
    "configurations: it deflates the selected trial's Sharpe by the best Sharpe N unskilled "
    "trials with the recorded variance would reach. N counts distinct search points (features, "
    "hyperparameters, horizon, sources) tried on overlapping data, whatever the strategy is "
    "called. It cannot see trials run outside alphagate, searches on data altered beyond "
    "recognition, a leak of the future into a feature (the label-timing test and the "
    "plausibility bar look for that), or a model that is skilful in development and breaks "
    "later; and it deflates the development series, not the holdout.",
    "Every model validated on a sealed holdout is a look at it: the report counts the "
    "distinct models validated on this holdout, and only the policy's cap or adjustment "
    "makes the count bind.",
    "SHAP values explain the model's use of its features, not causation; the sign checks "
    "test the declared economic rationale, not its truth.",
    "Drift compares the holdout with the development reference sample; live drift is the "
    "job of daily monitoring after approval.",
)


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
            ("change class", _change(report.get("change"))),
        )
    )


def _change(change: Mapping[str, Any] | None) -> str:
    """``material against v2 (features added: rev_1w)``; the class comes from the signed
    training entries (governance/registry/change_control.py)."""
    if not change:
        return "–"
    base = change.get("baseline_version")
    why = "; ".join(change.get("reasons") or []) or "new data only"
    text = f"{change.get('class')}" + (f" against v{base}" if base else "") + f" ({why})"
    c = change.get("comparison")  # a minor change's comparison (validation/comparison.py)
    if not c:
        return text
    figures = ", ".join(f"{k} {c.get(k) if c.get(k) is None else f'{c[k]:.3g}'}" for k in
                        ("ic_change_tstat", "relative_turnover", "importance_rank_corr"))  # fmt: skip
    verdict = "; ".join(c.get("breaches") or []) or "within the tier's bounds"
    return f"{text}; compared with v{c.get('baseline_version')}: {figures} — {verdict}"


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
    warn = flags(report)
    summary = (
        f"Verdict: {verdict.upper()}. {RECOMMENDATIONS.get(verdict, '')}",
        _headlines(list(report["findings"])),
        *(("Flags:", warn) if warn else ()),
    )
    sections = (
        *analyst_sections(report, figures),
        *robustness_sections(report),
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
