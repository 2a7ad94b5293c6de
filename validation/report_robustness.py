"""The validation report's sensitivity and replication sections (from the JSON twin)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from governance.ground.html import Cell, Facts, Section, Table, decimal, percent

__all__ = ["robustness_sections"]

_KINDS = {"noise": "feature noise", "drop": "feature dropped", "hyper": "hyperparameter"}


def _sensitivity(sens: Mapping[str, Any]) -> Section:
    rows = tuple(
        (
            Cell(s["name"], code=True),
            _KINDS.get(s["kind"], s["kind"]),
            decimal(s.get("rank_ic"), 4, True),
            percent(s.get("ic_loss"), 0),
            decimal(s.get("ic_loss_tstat"), 2),
            percent(s.get("turnover"), 0),
            decimal(s.get("relative_turnover"), 2),
            decimal(s.get("prediction_change"), 3),
        )
        for s in sens.get("scenarios") or []
    )
    intro = (
        f"Each scenario perturbs the model's inputs or hyperparameters and scores the sealed "
        f"holdout. Feature noise: every feature plus Gaussian noise of "
        f"{decimal(sens.get('noise'), 2)} times its own per-date standard deviation. Feature "
        "dropped: the feature set to its per-date median. Hyperparameter: the model fitted "
        "again from its signed recipe with one parameter of the selected trial scaled. The "
        f"book is long-only, equal weights on the top {percent(sens.get('quantile'), 0)} of "
        "the score; turnover is the share of it that changes against the model's book, "
        f"relative turnover that share over a random book's ({percent(sens.get('random_turnover'), 0)}). "
        "Score change: mean |change| in per-date standard deviations of the score. IC loss "
        "and relative turnover of noise and hyperparameter scenarios are held to the policy; "
        "an IC loss counts when its paired Newey–West t-statistic passes the model's own IC "
        "bar; a dropped feature's loss is its importance, reported only."
    )
    headers = ("scenario", "kind", "rank IC", "IC loss", "loss t", "turnover", "relative",
               "score change")  # fmt: skip
    return Section("Sensitivity", (intro, Table(headers, rows, numeric=(2, 3, 4, 5, 6, 7))))


def _replication(rep: Mapping[str, Any]) -> Section:
    if not rep.get("available"):
        return Section("Replication", (f"Not replicated: {rep.get('note') or 'unknown'}.",))
    verdict = "matches" if rep.get("matches") else "does NOT match"
    text = (
        "The validator fitted the model again from the recipe its developer signed in "
        "model.trained (the sealed development frame by fingerprint, the selected trial's "
        "parameters, the median of the folds' rounds) with its own call of LightGBM, "
        "deterministic mode, and compared the holdout predictions. Tolerance: rounds × "
        f"float64 epsilon × max(1, max |prediction|). The replica {verdict} the registered model."
    )
    facts = Facts(
        (
            ("boosting rounds", str(rep.get("rounds"))),
            ("max |difference|", Cell(f"{rep.get('max_abs_diff'):.3g}", code=True)),
            ("tolerance", Cell(f"{rep.get('tolerance'):.3g}", code=True)),
            ("mean per-date rank correlation", decimal(rep.get("rank_correlation"), 6)),
            ("same model file bytes", "yes" if rep.get("same_bytes") else "no"),
        )
    )
    return Section("Replication", (text, facts))


def robustness_sections(report: Mapping[str, Any]) -> tuple[Section, ...]:
    """The two sections, or none for a report written before them."""
    out = []
    if report.get("sensitivity"):
        out.append(_sensitivity(report["sensitivity"]))
    if report.get("replication"):
        out.append(_replication(report["replication"]))
    return tuple(out)
