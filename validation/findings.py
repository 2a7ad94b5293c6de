"""Findings and the validation verdict.

Each failed check yields a :class:`Finding`; its severity is the default below unless the
policy tier's ``validation.severities`` maps the check name to another one. Verdict: any
``critical`` finding -> ``fail``; else any ``warning`` -> ``review``; else ``pass``.

Default severities (check name: severity — threshold, from ``ValidationPolicy``):

=========================  ========  ===============================================
``rank_ic_below_min``      critical  mean holdout rank IC < ``min_rank_ic``
``ic_tstat_below_min``     critical  Newey-West t-stat of rank IC < ``min_ic_tstat``
``dsr_below_min``          critical  deflated Sharpe ratio < ``min_dsr`` (0.95, Bailey &
                                     López de Prado 2014)
``pbo_above_max``          critical  PBO by CSCV > ``max_pbo`` (0.5, Bailey et al. 2017);
                                     checked with >= ``min_pbo_trials`` trial series only
``rank_ic_implausible``    critical  rank IC > ``max_plausible_rank_ic``: a likely leak of
                                     the future into a feature
``label_timing_leak``      critical  the score's IC falls off a cliff at the end of its
                                     label window (validation/label_timing.py): t-stat >
                                     ``max_label_timing_tstat`` and the window after keeps
                                     less than ``label_timing_max_retained`` of its IC.
                                     Critical in every tier: a policy may not lower it
``holdout_looks_above_max`` critical more distinct models validated on this sealed holdout
                                     than ``max_holdout_looks``
``margin_below_min``       warning   rank-IC margin over a challenger <
                                     ``min_margin_over_challenger``
``shap_sign``              warning   a feature's SHAP relation has the opposite sign of its
                                     declared ``expected_sign``
``shap_concentration``     warning   top feature's share of mean |SHAP| >
                                     ``max_top_feature_share``
``drift_psi_warning``      warning   PSI > ``psi_warning`` (feature or prediction)
``drift_psi_critical``     critical  PSI > ``psi_critical``
``statistic_unavailable``  warning   a gating statistic could not be computed (fail closed:
                                     a human must look)
``challenger_unavailable`` info      a challenger could not be built (e.g. no ``mom_12_1``)
``sensitivity_turnover``   warning   feature noise or a hyperparameter neighbour moves the
                                     top-quantile book more than
                                     ``max_sensitivity_turnover`` of a random book's turnover
``sensitivity_ic_loss``    warning   ... or loses more than ``max_sensitivity_ic_loss`` of the
                                     holdout rank IC, the loss significant (paired t >
                                     ``min_ic_tstat``; validation/sensitivity.py)
``replication_mismatch``   critical  its refit from the signed recipe predicts otherwise beyond
                                     rounding (validation/replication.py); in every tier
=========================  ========  ===============================================
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING

from governance.findings.register import FindingRecord, match_ids
from governance.ground.errors import InputError
from governance.ground.refs import ModelRef
from governance.policy.schema import Severity, ValidationPolicy
from validation.challengers import ChallengerResult
from validation.drift import DriftRow
from validation.explain import ShapSummary
from validation.label_timing import LabelTiming
from validation.metrics import SignalMetrics

if TYPE_CHECKING:
    from validation.robustness import Robustness

__all__ = [
    "ALWAYS_CRITICAL",
    "DEFAULT_SEVERITIES",
    "Finding",
    "Verdict",
    "build_findings",
    "ic_tstat_bar",
    "summarise",
    "verdict_of",
    "with_ids",
]

DEFAULT_SEVERITIES: dict[str, Severity] = {
    "rank_ic_below_min": Severity.CRITICAL,
    "ic_tstat_below_min": Severity.CRITICAL,
    "dsr_below_min": Severity.CRITICAL,
    "pbo_above_max": Severity.CRITICAL,
    "rank_ic_implausible": Severity.CRITICAL,
    "label_timing_leak": Severity.CRITICAL,
    "holdout_looks_above_max": Severity.CRITICAL,
    "regime_rank_ic_below_min": Severity.CRITICAL,
    "margin_below_min": Severity.WARNING,
    "shap_sign": Severity.WARNING,
    "shap_concentration": Severity.WARNING,
    "drift_psi_warning": Severity.WARNING,
    "drift_psi_critical": Severity.CRITICAL,
    "statistic_unavailable": Severity.WARNING,
    "challenger_unavailable": Severity.INFO,
    "sensitivity_turnover": Severity.WARNING,
    "sensitivity_ic_loss": Severity.WARNING,
    "replication_mismatch": Severity.CRITICAL,
}


#: Checks no tier may make less than critical: a leak of the label is never a judgement call.
#: A model that is not what its signed record says it was fitted from is not one either.
ALWAYS_CRITICAL = frozenset({"label_timing_leak", "replication_mismatch"})


class Verdict(StrEnum):
    """Outcome of a validation: ``pass``, ``review`` (a human decides) or ``fail``."""

    PASS = "pass"
    REVIEW = "review"
    FAIL = "fail"


@dataclass(frozen=True)
class Finding:
    """One failed check: its name, severity, a one-line message, the value and threshold.

    ``about`` names what the check looked at when it can fire more than once per
    validation (a feature, a challenger, a drifting variable); with ``check`` it is the
    key under which a revalidation finds the same finding again. ``id`` is the register's
    stable id ``F-<model>-v<N>-<n>`` (governance/findings/register.py), set when the validation is
    recorded.
    """

    check: str
    severity: Severity
    message: str
    value: float | None = None
    threshold: float | None = None
    about: str = ""
    id: str | None = None

    @property
    def key(self) -> str:
        """``check`` and ``about``: what makes two validations' findings the same one."""
        return f"{self.check}:{self.about}"

    def __str__(self) -> str:
        head = f"{self.id} " if self.id else ""
        return f"{head}{self.severity.value}: {self.check}: {self.message}"


def verdict_of(findings: Iterable[Finding]) -> Verdict:
    """``fail`` if any critical, else ``review`` if any warning, else ``pass``."""
    sev = {f.severity for f in findings}
    if Severity.CRITICAL in sev:
        return Verdict.FAIL
    if Severity.WARNING in sev:
        return Verdict.REVIEW
    return Verdict.PASS


@dataclass(frozen=True)
class _Checker:
    policy: ValidationPolicy

    def severity(self, check: str) -> Severity:
        return Severity(self.policy.severities.get(check, DEFAULT_SEVERITIES[check]))

    def make(
        self, check: str, message: str, value=None, threshold=None, about: str = ""
    ) -> Finding:
        v = None if value is None or not math.isfinite(value) else float(value)
        return Finding(check, self.severity(check), message, v, threshold, about)

    def below(
        self, check: str, label: str, value: float, threshold: float, about: str = ""
    ) -> list[Finding]:
        if not math.isfinite(value):
            unavailable = f"{label} could not be computed"
            return [self.make("statistic_unavailable", unavailable, about=label)]
        if value < threshold:
            msg = f"{label} {value:.4g} < {threshold:.4g}"
            return [self.make(check, msg, value, threshold, about)]
        return []

    def above(
        self, check: str, label: str, value: float, threshold: float, about: str = ""
    ) -> list[Finding]:
        if not math.isfinite(value):
            unavailable = f"{label} could not be computed"
            return [self.make("statistic_unavailable", unavailable, about=label)]
        if value > threshold:
            msg = f"{label} {value:.4g} > {threshold:.4g}"
            return [self.make(check, msg, value, threshold, about)]
        return []


def build_findings(
    policy: ValidationPolicy,
    *,
    model: SignalMetrics,
    challengers: Iterable[ChallengerResult],
    dsr: float,
    pbo: float | None,
    shap: ShapSummary | None,
    drift: Iterable[DriftRow],
    label_timing: LabelTiming | None = None,
    holdout_looks: int = 1,
    robustness: Robustness | None = None,
) -> list[Finding]:
    """Every failed check, in a stable order (outcomes, overfitting, challengers, SHAP, drift).

    NaN statistics that gate the verdict (rank IC, t-stat, DSR, PBO) yield a
    ``statistic_unavailable`` finding rather than a silent pass. ``holdout_looks`` is the
    number of distinct models validated on this holdout, this one included
    (validation/looks.py).
    """
    unknown = sorted(set(policy.severities) - set(DEFAULT_SEVERITIES))
    if unknown:
        raise InputError(f"policy: validation.severities: unknown check {unknown[0]!r}")
    lowered = sorted(
        k for k in ALWAYS_CRITICAL if policy.severities.get(k, Severity.CRITICAL) != "critical"
    )
    if lowered:
        raise InputError(f"policy: validation.severities: {lowered[0]} is critical in every tier")
    c = _Checker(policy)
    p = policy
    out: list[Finding] = []
    out += c.below("rank_ic_below_min", "holdout mean rank IC", model.rank_ic_mean, p.min_rank_ic)
    bar = ic_tstat_bar(p, holdout_looks)
    looks = f"; bar for {holdout_looks} looks at this holdout" if bar != p.min_ic_tstat else ""
    out += c.below(
        "ic_tstat_below_min",
        f"rank IC t-stat (Newey-West, {model.nw_lags} lags{looks})",
        model.rank_ic_tstat,
        bar,
    )
    if p.max_holdout_looks is not None and holdout_looks > p.max_holdout_looks:
        out.append(
            c.make(
                "holdout_looks_above_max",
                f"{holdout_looks} distinct models validated on this sealed holdout > "
                f"{p.max_holdout_looks}: its outcomes are no longer out of sample",
                holdout_looks,
                p.max_holdout_looks,
            )
        )
    if p.min_regime_rank_ic is not None:  # the policy's minimum in every regime's state
        for definition, per in model.ic_by_state.items():
            for state, v in per.items():
                out += c.below("regime_rank_ic_below_min",
                               f"holdout mean rank IC in {definition} state {state}",
                               v["rank_ic"], p.min_regime_rank_ic, about=f"{definition}:{state}")  # fmt: skip
    if label_timing is not None:
        out += _label_timing_findings(c, label_timing)
    if math.isfinite(model.rank_ic_mean) and model.rank_ic_mean > p.max_plausible_rank_ic:
        out.append(
            c.make(
                "rank_ic_implausible",
                f"holdout rank IC {model.rank_ic_mean:.3f} > {p.max_plausible_rank_ic:.3f}: "
                "implausibly high, likely a leak of future returns",
                model.rank_ic_mean,
                p.max_plausible_rank_ic,
            )
        )
    out += c.below("dsr_below_min", "deflated Sharpe ratio", dsr, p.min_dsr)
    if pbo is not None:  # None: a single trial, no selection to overfit
        out += c.above("pbo_above_max", "probability of backtest overfitting", pbo, p.max_pbo)
    for ch in challengers:
        if not ch.available:
            note = f"challenger {ch.name}: {ch.note}"
            out.append(c.make("challenger_unavailable", note, about=ch.name))
            continue
        out += c.below(
            "margin_below_min",
            f"rank-IC margin over {ch.name}",
            ch.margin_rank_ic,
            p.min_margin_over_challenger,
            about=ch.name,
        )
    if shap is not None:
        for s in shap.sign_checks:
            if not s.ok:
                out.append(
                    c.make(
                        "shap_sign",
                        f"feature {s.feature}: SHAP relation sign {s.observed_sign:+d} "
                        f"(rho {s.correlation:.2f}) against declared {s.expected_sign:+d}",
                        s.correlation,
                        None,
                        about=s.feature,
                    )
                )
        out += c.above(
            "shap_concentration",
            f"top feature {shap.top_feature} share of mean |SHAP|",
            shap.top_share,
            p.max_top_feature_share,
        )
    out += _drift_findings(c, drift)
    if robustness is not None:
        out += _robustness_findings(c, robustness)
    return out


def _robustness_findings(c: _Checker, r: Robustness) -> list[Finding]:
    """Sensitivity warnings (noise and hyperparameter scenarios; a dropped feature's loss is
    its importance, reported only) and the replication's verdict."""
    out: list[Finding] = []
    p = c.policy
    for s in r.scenarios:
        if s.kind == "drop":
            continue
        if math.isfinite(s.relative_turnover) and s.relative_turnover > p.max_sensitivity_turnover:
            msg = f"{s.name}: the top-quantile book turns over {s.turnover:.0%}, " + (
                f"{s.relative_turnover:.2f} of a random book's > {p.max_sensitivity_turnover:.2f}"
            )
            out.append(c.make("sensitivity_turnover", msg, s.relative_turnover,
                              p.max_sensitivity_turnover, about=s.name))  # fmt: skip
        lost = math.isfinite(s.ic_loss) and s.ic_loss > p.max_sensitivity_ic_loss
        if lost and s.ic_loss_tstat > p.min_ic_tstat:  # significant at the model's own bar
            msg = f"{s.name}: holdout rank IC {s.rank_ic:.4f} loses {s.ic_loss:.0%} of the " + (
                f"model's > {p.max_sensitivity_ic_loss:.0%} (paired t {s.ic_loss_tstat:.2f})"
            )
            out.append(c.make("sensitivity_ic_loss", msg, s.ic_loss,
                              p.max_sensitivity_ic_loss, about=s.name))  # fmt: skip
    rep = r.replication
    if not rep.available:
        out.append(c.make("statistic_unavailable", f"replication: {rep.note}", about="replication"))
    elif not rep.matches:
        msg = (
            f"the model fitted again from its signed recipe ({rep.rounds} rounds) predicts "
            f"up to {rep.max_abs_diff:.3g} apart from the registered one > tolerance "
            f"{rep.tolerance:.3g}: the registered model is not what its record says"
        )
        out.append(c.make("replication_mismatch", msg, rep.max_abs_diff, rep.tolerance))
    return out


def ic_tstat_bar(policy: ValidationPolicy, looks: int) -> float:
    """The rank-IC t-stat bar after ``looks`` looks at one holdout.

    Without ``adjust_for_holdout_looks`` (or with one look) it is ``min_ic_tstat``. With it,
    the one-sided level ``alpha = 1 - Phi(min_ic_tstat)`` is split over the looks
    (Bonferroni): the bar is ``Phi^-1(1 - alpha / looks)`` (2.0 -> 2.28 for 2 looks, 2.39 for 3).
    """
    if not policy.adjust_for_holdout_looks or looks <= 1:
        return float(policy.min_ic_tstat)
    from scipy.stats import norm

    alpha = float(norm.sf(policy.min_ic_tstat))
    return float(norm.isf(alpha / looks))


def _label_timing_findings(c: _Checker, lt: LabelTiming) -> list[Finding]:
    bar = c.policy.max_label_timing_tstat
    if not math.isfinite(lt.step_tstat):
        return [c.make("statistic_unavailable", "label-timing step could not be computed",
                       about="label timing")]  # fmt: skip
    keeps = c.policy.label_timing_max_retained
    smooth = math.isfinite(lt.retained) and lt.retained >= keeps
    if lt.step_tstat <= bar or smooth:  # no step, or the smooth decay of a genuine signal
        return []
    msg = (
        f"score's rank IC drops from {lt.inside:+.4f} a day inside its {lt.horizon}-day label "
        f"window to {lt.after:+.4f} after it (t {lt.step_tstat:.2f} > {bar:.2f}; keeps "
        f"{lt.retained:.0%} < {keeps:.0%}): it knows the label's returns, a leak of the future "
        "into a feature, or its horizon is longer than what it knows"
    )
    return [c.make("label_timing_leak", msg, lt.step_tstat, bar)]


def _drift_findings(c: _Checker, drift: Iterable[DriftRow]) -> list[Finding]:
    out = []
    for row in drift:
        if row.status is Severity.CRITICAL:
            check, threshold = "drift_psi_critical", c.policy.psi_critical
        elif row.status is Severity.WARNING:
            check, threshold = "drift_psi_warning", c.policy.psi_warning
        else:
            continue
        msg = f"PSI of {row.variable} {row.psi:.3f} > {threshold:.2f}"
        out.append(c.make(check, msg, row.psi, threshold, about=row.variable))
    return out


def summarise(findings: Iterable[Finding]) -> str:
    """Short one-line summary for an MLflow tag: ``"2 critical, 1 warning: check, check"``."""
    fs = list(findings)
    if not fs:
        return "none"
    counts = {s.value: sum(f.severity is s for f in fs) for s in Severity}
    head = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    names = sorted({f.check for f in fs if f.severity is not Severity.INFO})
    text = f"{head}: {', '.join(names)}" if names else head
    return text[:250]


def with_ids(
    findings: Iterable[Finding], prior: Iterable[FindingRecord], ref: ModelRef
) -> tuple[Finding, ...]:
    """The findings with their register ids (``F-<model>-v<N>-<n>``): one that an earlier
    validation of ``ref`` (``prior``) raised keeps its id (findings/register.py ``match_ids``)."""
    fs = list(findings)
    ids = match_ids(list(prior), ref, [f.key for f in fs])
    return tuple(replace(f, id=i) for f, i in zip(fs, ids, strict=True))
