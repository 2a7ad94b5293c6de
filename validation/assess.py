"""Run every check on loaded inputs and build the report document (no I/O, no MLflow).

:func:`assess` is the whole statistical content of a validation: outcomes, challengers,
overfitting statistics, SHAP, drift, findings and verdict, plus the JSON twin and the PNG
figures of the report. :mod:`validation.run` loads the inputs and records the result.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from governance.ground.canonical import sha256_bytes, to_jsonable
from governance.policy.schema import ValidationPolicy
from tasks.model.stats import annualise_sharpe
from validation.challengers import run_challengers
from validation.config import ValidationConfig
from validation.drift import drift_table
from validation.explain import (
    dependence_plot_png,
    importance_plot_png,
    shap_values,
    stratified_sample,
    summarise_shap,
)
from validation.findings import Finding, Verdict, build_findings, ic_tstat_bar, verdict_of
from validation.label_timing import label_timing
from validation.metrics import SignalMetrics, evaluate_signal, holdout_states
from validation.overfitting import (
    PBOSource,
    deflated_sharpe_ratio,
    min_track_record_length,
    pbo_cscv,
    probabilistic_sharpe_ratio,
    return_moments,
)
from validation.report import SCHEMA
from validation.robustness import Robustness, section

__all__ = ["PREDICTION", "Assessment", "assess", "overfitting_statistics"]

PREDICTION = "prediction"


@dataclass(frozen=True)
class Assessment:
    """Outcome of :func:`assess`: verdict, findings, the report's JSON twin and figures."""

    verdict: Verdict
    findings: tuple[Finding, ...]
    metrics: SignalMetrics
    report: dict[str, Any]
    figures: dict[str, bytes]


def overfitting_statistics(
    holdout_ls: pd.Series,
    trials: pd.DataFrame,
    *,
    n_trials: int,
    trial_sharpes_annual: tuple[float, ...],
    selected: str | None,
    cfg: ValidationConfig,
    policy: ValidationPolicy,
) -> dict[str, Any]:
    """PSR and MinTRL of the holdout long-short; DSR of the selected trial; PBO by CSCV.

    Parameters
    ----------
    holdout_ls : Series
        Daily long-short returns of the model on the holdout (not selection-biased).
    trials : DataFrame, shape (n_days, n_trials)
        Daily OOS long-short returns of every trial of the strategy (development CV).
    n_trials : int
        Honest number of trials from the ledger (may exceed ``trials.shape[1]``).
    trial_sharpes_annual : tuple of float
        Annualised trial Sharpe ratios from the ledger.
    selected : str or None
        Column of ``trials`` holding the trial the version was built from; its OOS series
        is the selected backtest the DSR deflates (falls back to the holdout series).
    cfg, policy : ValidationConfig, ValidationPolicy
        ``cscv_partitions``; ``min_pbo_trials`` decides whether PBO gates (``gating``).
    """
    ppy = cfg.periods_per_year
    min_trials = policy.min_pbo_trials
    hm = return_moments(holdout_ls.to_numpy())
    psr = probabilistic_sharpe_ratio(holdout_ls.to_numpy())
    min_trl = min_track_record_length(hm.sharpe, hm.skew, hm.kurtosis, confidence=0.95)
    if selected is not None and selected in trials.columns:
        backtest, dsr_series = (
            trials[selected].dropna().to_numpy(),
            f"development OOS of {selected}",
        )
    else:
        backtest, dsr_series = (
            holdout_ls.to_numpy(),
            "holdout long-short (selected trial not found)",
        )
    bm = return_moments(backtest)
    sharpes = np.asarray(trial_sharpes_annual, dtype=float)
    var_annual = float(np.var(sharpes, ddof=1)) if sharpes.size > 1 else 0.0
    n = max(int(n_trials), 1)
    dsr, sr0 = deflated_sharpe_ratio(backtest, n, var_annual / ppy)
    matrix = trials.dropna(how="all")
    if matrix.shape[1] >= 2:
        res = pbo_cscv(matrix.to_numpy(), cfg.cscv_partitions)
        pbo = {
            "source": PBOSource.TRIALS.value,
            "pbo": res.pbo,
            "n_strategies": res.n_strategies,
            "n_partitions": res.n_partitions,
            "n_combinations": res.n_combinations,
            "n_obs": res.n_obs,
            "performance_degradation": res.performance_degradation,
            "prob_oos_loss": res.prob_oos_loss,
            "gating": res.n_strategies >= min_trials,
        }
        if not pbo["gating"]:
            pbo["note"] = (
                f"{res.n_strategies} trial series < policy min_pbo_trials {min_trials}: "
                "reported, not gating"
            )
    else:
        pbo = {
            "source": PBOSource.NONE.value,
            "pbo": math.nan,
            "n_strategies": int(matrix.shape[1]),
            "gating": False,
            "note": "fewer than 2 trial series: no selection to overfit",
        }
    return {
        "holdout_sharpe_annual": annualise_sharpe(hm.sharpe, ppy),
        "holdout_n_obs": hm.n_obs,
        "holdout_skew": hm.skew,
        "holdout_kurtosis": hm.kurtosis,
        "psr": psr,
        "min_track_record_days": min_trl,
        "dsr": dsr,
        "dsr_series": dsr_series,
        "dsr_sharpe_annual": annualise_sharpe(bm.sharpe, ppy),
        "dsr_n_obs": bm.n_obs,
        "dsr_benchmark_sharpe_annual": annualise_sharpe(sr0, ppy),
        "n_trials": n,
        "trial_sharpe_variance_annual": var_annual,
        "pbo": pbo,
    }


def _shap_part(
    holdout: pd.DataFrame,
    booster,
    features: list[str],
    expected_signs: Mapping[str, int],
    cfg: ValidationConfig,
    model: str = "",
):
    sample = stratified_sample(holdout, cfg.shap_sample, cfg.seed)
    values = shap_values(booster, sample[features].astype(float))
    summary = summarise_shap(
        sample, values, features, expected_signs, cfg.shap_min_abs_corr, cfg.shap_sign_min_share
    )
    label = f"{model}, holdout {sample['date'].min().date()} to {sample['date'].max().date()}"
    figures = {"SHAP global importance": importance_plot_png(summary.importance, label)}
    for feat in list(summary.importance)[: cfg.shap_dependence_plots]:
        k = features.index(feat)
        png = dependence_plot_png(sample[feat].to_numpy(dtype=float), values[:, k], feat, label)
        figures[f"SHAP dependence: {feat}"] = png
    return summary, figures


def assess(
    holdout: pd.DataFrame,
    reference: pd.DataFrame,
    trials: pd.DataFrame,
    booster,
    *,
    features: list[str],
    expected_signs: Mapping[str, int],
    horizon: int,
    n_trials: int,
    trial_sharpes_annual: tuple[float, ...],
    selected_trial: str | None,
    cfg: ValidationConfig,
    policy: ValidationPolicy,
    header: Mapping[str, Any],
    holdout_looks: int = 1,
    robustness: Robustness | None = None,
) -> Assessment:
    """Every check of an independent validation.

    Parameters
    ----------
    holdout : DataFrame
        Sealed holdout rows with a ``prediction`` column from the registered model.
    reference : DataFrame
        Training reference sample: feature columns and ``prediction``.
    trials : DataFrame
        Daily OOS returns of the strategy's trials (one column each), for PBO and DSR.
    booster
        The registered LightGBM booster (for exact tree SHAP).
    header : mapping
        ``model``, ``holdout``, ``policy`` and ``validator`` blocks copied into the report.
    holdout_looks : int
        Distinct models validated on this holdout, this one included (validation/looks.py).
    robustness : Robustness, optional
        The sensitivity scenarios and the replication (validation/robustness.py).
    """
    kw = dict(
        horizon=horizon,
        n_quantiles=cfg.n_quantiles,
        decay_horizons=tuple(cfg.decay_horizons),
        periods_per_year=cfg.periods_per_year,
        regime_window=cfg.regime_window,
        # The model and its challengers are scored on the same rows: one market, one fit.
        states=holdout_states(holdout, cfg.regime_window),
    )
    metrics, ls = evaluate_signal(holdout, PREDICTION, name="model", **kw)
    challengers = run_challengers(holdout, metrics, seed=cfg.seed, **kw)
    over = overfitting_statistics(
        ls,
        trials,
        n_trials=n_trials,
        trial_sharpes_annual=trial_sharpes_annual,
        selected=selected_trial,
        cfg=cfg,
        policy=policy,
    )
    timing = label_timing(holdout, PREDICTION, horizon)
    over["holdout_looks"] = int(holdout_looks)
    over["ic_tstat_bar"] = ic_tstat_bar(policy, holdout_looks)
    m = header.get("model") or {}
    model = f"{m.get('name', 'model')} v{m.get('version', '?')}"
    shap, figures = _shap_part(holdout, booster, features, expected_signs, cfg, model)
    drift = drift_table(
        reference,
        holdout,
        [*features, PREDICTION],
        psi_warning=policy.psi_warning,
        psi_critical=policy.psi_critical,
    )
    findings = build_findings(
        policy,
        model=metrics,
        challengers=challengers,
        dsr=over["dsr"],
        pbo=over["pbo"]["pbo"] if over["pbo"]["gating"] else None,
        shap=shap,
        drift=drift,
        label_timing=timing,
        holdout_looks=holdout_looks,
        robustness=robustness,
    )
    verdict = verdict_of(findings)
    report = to_jsonable(
        {
            "schema": SCHEMA,
            **header,
            "verdict": verdict,
            "findings": [asdict(f) for f in findings],
            "metrics": metrics,
            "challengers": challengers,
            "overfitting": over,
            "label_timing": timing,
            "shap": shap,
            "drift": drift,
            **section(robustness),
            "figures": {cap: sha256_bytes(png) for cap, png in figures.items()},
        }
    )
    return Assessment(verdict, tuple(findings), metrics, report, figures)
