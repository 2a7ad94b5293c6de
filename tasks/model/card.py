"""Model card: one document model, rendered as Markdown and as self-contained HTML.

The card (Mitchell et al. 2019, "Model Cards for Model Reporting") states purpose and
intended use, data and periods, features with their expected signs, CV results with their
dispersion, the trials behind the choice, and known limitations. :func:`build_card` turns
a training record into :class:`Section` s; :func:`to_markdown` and :func:`to_html` render
the same sections, so the two formats cannot disagree. The HTML carries its CSS inline and
loads nothing from the network.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from governance.ground.html import Page, Section, Table, page_to_json, render_page
from tasks.model.features import FEATURES_BY_NAME

if TYPE_CHECKING:
    from tasks.model.tracking import TrainingRecord


LIMITATIONS = (
    "Trained on daily closes only: no fundamentals, no transaction costs, no borrow "
    "constraints; CV rank IC is a gross, pre-cost statistic.",
    "Cross-sectional ranks discard the level of expected returns: the scores order assets "
    "on a date, they do not forecast the market.",
    "Several hyperparameter trials were evaluated on the same CV folds: the best CV score "
    "is biased upward; the validator's deflated Sharpe ratio uses the recorded trial count.",
    "Assumes the relations seen in the development period persist; regime changes (e.g. a "
    "momentum crash) can flip the sign of a feature's effect. Monitoring must watch the "
    "live IC and feature drift.",
    "The sealed holdout was not used here; performance on it is established only by the "
    "independent validation stage.",
)


def intended_use(horizon: int) -> str:
    """The card's statement of intended use (the validation report's cover quotes it)."""
    return (
        f"cross-sectional ranking of the universe by expected {horizon}-day forward return, "
        "as the alpha of a long-only constrained portfolio; research, and production scoring "
        "at each rebalance after independent validation and a four-eyes approval."
    )


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "n/a" if not math.isfinite(v) else f"{v:.4f}"
    return str(v)


def build_card(rec: TrainingRecord) -> tuple[str, tuple[Section, ...]]:
    """The card's title and sections for a training record."""
    split, cfg, best = rec.split, rec.model_cfg, rec.best
    dev = rec.dev
    title = f"Model card: {cfg.name}"
    purpose = Section(
        "Purpose and intended use",
        (
            f"Ranks the assets of a universe by expected {split.horizon}-day forward return "
            "(a cross-sectional score) as the alpha input of a long-only, constrained "
            "portfolio optimisation.",
            [
                f"Intended use: {intended_use(split.horizon)}",
                "Not intended for: market timing, single-name calls, horizons other than "
                f"{split.horizon} trading days, or any use while the kill switch is tripped.",
                f"Developer: {rec.developer}.",
            ],
        ),
    )
    data = Section(
        "Data and periods",
        (
            Table(
                ("item", "value"),
                (
                    ("market data fingerprint", rec.data_fingerprint),
                    (
                        "development period",
                        f"{split.dev_period[0].date()} .. {split.dev_period[1].date()}",
                    ),
                    (
                        "holdout period (sealed)",
                        f"{split.holdout_period[0].date()} .. {split.holdout_period[1].date()}",
                    ),
                    ("dev fingerprint", split.dev_fingerprint),
                    ("holdout fingerprint", split.holdout_fingerprint),
                    ("dev rows / assets", f"{len(dev)} / {dev['asset'].nunique()}"),
                    (
                        "label",
                        f"{rec.features_cfg.label.value} of the {split.horizon}-day forward return",
                    ),
                    ("purge between periods", f"{split.horizon} dates"),
                    ("config hash", rec.config_hash),
                ),
            ),
        ),
    )
    feats = Section(
        "Features",
        (
            f"Point-in-time, normalised per date ({rec.features_cfg.normalise.value}); "
            "listed in model input order.",
            Table(
                ("name", "expected sign", "description"),
                tuple(_feature_row(rec, n) for n in split.features),
            ),
        ),
    )
    s = best.cv
    cv = Section(
        "Cross-validation (chosen trial)",
        (
            f"Purged walk-forward CV, scheme {cfg.cv.scheme.value}, {len(s.folds)} folds, "
            f"purge {split.horizon} dates, embargo {cfg.cv.embargo} dates. Scores are "
            "daily cross-sectional correlations against the raw forward return, averaged "
            "per fold.",
            Table(
                ("fold", "test start", "test end", "rank IC", "IC", "hit rate", "rounds"),
                tuple(
                    (
                        f.fold,
                        f.test_start.date(),
                        f.test_end.date(),
                        _fmt(f.rank_ic),
                        _fmt(f.ic),
                        _fmt(f.hit_rate),
                        f.best_iteration,
                    )
                    for f in s.folds
                ),
            ),
            [
                f"mean rank IC {_fmt(s.rank_ic_mean)} ± {_fmt(s.rank_ic_std)} (sd across folds)",
                f"mean IC {_fmt(s.ic_mean)} ± {_fmt(s.ic_std)}",
                f"mean hit rate {_fmt(s.hit_rate_mean)} ± {_fmt(s.hit_rate_std)}",
            ],
        ),
    )
    trials = Section(
        "Trials",
        (
            f"{len(rec.trials)} trials in this run; {rec.trials_total} distinct trials so far on "
            "this data, under any strategy name (tasks/model/trials.py). Chosen: "
            f"{best.name} (highest mean CV rank IC: the best of {len(rec.trials)}, biased "
            "upward), retrained on the whole development period. Sharpe: annualised, daily "
            f"top-minus-bottom {cfg.long_short_quantile:.0%} of the OOS predictions, before "
            "costs.",
            Table(
                ("trial", "overrides", "mean rank IC", "sd rank IC", "Sharpe"),
                tuple(
                    (
                        t.name,
                        _overrides(cfg, t.index),
                        _fmt(t.cv.rank_ic_mean),
                        _fmt(t.cv.rank_ic_std),
                        _fmt(t.sharpe),
                    )
                    for t in rec.trials
                ),
            ),
            f"Model file SHA-256: {rec.model_hash}.",
        ),
    )
    limits = Section("Known limitations", (list(LIMITATIONS),))
    sources = _sources_section(rec)
    return title, (purpose, data, feats, *sources, cv, trials, limits)


def _feature_row(rec: TrainingRecord, name: str) -> tuple[str, str, str]:
    if name in FEATURES_BY_NAME:
        spec = FEATURES_BY_NAME[name]
        return name, _sign(spec.expected_sign), spec.description
    d = rec.declarations.get(name)
    if d:  # a source's column, as its data contract declares it
        return name, _sign(int(d["expected_sign"])), f"{d['description']} [{d.get('unit', '')}]"
    return name, "undeclared", "extra feature supplied by the caller"


def _sources_section(rec: TrainingRecord) -> tuple[Section, ...]:
    by_source: dict[str, dict] = {}
    for d in rec.declarations.values():
        if d.get("source"):
            by_source.setdefault(d["source"], d)
    if not by_source:
        return ()
    rows = tuple(
        (s, d.get("owner", ""), d.get("contract_version", "")) for s, d in by_source.items()
    )
    note = "Joined point in time: a value enters at t only once known (tasks/data/pit.py)."
    return (
        Section("Feature sources", (note, Table(("source", "owner", "contract version"), rows))),
    )


def _sign(s: int) -> str:
    return "+" if s > 0 else "-" if s < 0 else "0 (no view)"


def _overrides(cfg, index: int) -> str:
    search = cfg.search or ({},)
    o = search[index]
    return ", ".join(f"{k}={v}" for k, v in sorted(o.items())) or "(base)"


def to_markdown(title: str, sections: tuple[Section, ...]) -> str:
    """Render the card as Markdown."""
    out = [f"# {title}", ""]
    for sec in sections:
        out += [f"## {sec.title}", ""]
        for block in sec.blocks:
            if isinstance(block, Table):
                out.append("| " + " | ".join(block.headers) + " |")
                out.append("|" + "---|" * len(block.headers))
                out += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in block.rows]
            elif isinstance(block, list):
                out += [f"- {item}" for item in block]
            else:
                out.append(block)
            out.append("")
    return "\n".join(out)


def card_page(title: str, sections: tuple[Section, ...], status: str = "candidate") -> Page:
    """The card as a document of the one HTML renderer (stored as ``model_card.json`` so
    governance can re-render it with the version's current status)."""
    return Page(
        title=title,
        kind="Model card",
        verdict=status,
        sections=tuple(
            Section(
                sec.title,
                tuple(
                    Table(b.headers, tuple(tuple(_fmt(c) for c in r) for r in b.rows))
                    if isinstance(b, Table)
                    else b
                    for b in sec.blocks
                ),
            )
            for sec in sections
        ),
        toc=True,
    )


def to_html(title: str, sections: tuple[Section, ...], status: str = "candidate") -> str:
    """Render the card as one self-contained HTML page (the one renderer, no external links)."""
    return render_page(card_page(title, sections, status))


def render(rec: TrainingRecord) -> tuple[str, str, dict]:
    """``(markdown, html, document)`` of the model card of ``rec``."""
    title, sections = build_card(rec)
    page = card_page(title, sections)
    return to_markdown(title, sections), render_page(page), page_to_json(page)
