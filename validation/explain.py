"""SHAP explanations of a tree model on a time-stratified sample of holdout rows.

Exact tree SHAP values (Lundberg et al., 2020, "From local explanations to global
understanding with explainable AI for trees", Nature Machine Intelligence 2) from
``shap.TreeExplainer`` with its default path-dependent algorithm — no sampling
approximation. Conceptual soundness: each feature's SHAP relation should have the sign
its developer declared (``features.json`` ``expected_sign``: +1, -1 or 0 for "no view").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "ShapSummary",
    "SignCheck",
    "dependence_plot_png",
    "importance_plot_png",
    "shap_values",
    "stratified_sample",
    "summarise_shap",
]


def stratified_sample(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """About ``n`` rows spread evenly over the dates of ``frame`` (time-stratified).

    Each date contributes ``ceil(n / n_dates)`` rows drawn at random (all its rows when it
    has fewer); the surplus over ``n`` is dropped from the dates' last draws, so every date
    keeps at least one row when ``n >= n_dates``. Sorted by date; the same ``seed`` gives
    the same rows.
    """
    if len(frame) <= n:
        return frame.sort_values(["date", "asset"]).reset_index(drop=True)
    per_date = max(1, math.ceil(n / frame["date"].nunique()))
    rng = np.random.default_rng(seed)
    keys = rng.random(len(frame))
    ranked = frame.assign(_k=keys)
    ranked["_r"] = ranked.groupby("date")["_k"].rank(method="first")
    picked = ranked[ranked["_r"] <= per_date]
    if len(picked) > n:  # drop surplus draws, last-drawn first, so every date keeps a row
        picked = picked.sort_values(["_r", "_k"]).head(n)
    return picked.drop(columns=["_k", "_r"]).sort_values(["date", "asset"]).reset_index(drop=True)


def shap_values(booster, features: pd.DataFrame) -> np.ndarray:
    """Exact tree SHAP values, shape (n_rows, n_features), columns in ``features`` order.

    ``booster`` is a LightGBM ``Booster`` (or any model ``shap.TreeExplainer`` accepts), or a
    model that explains itself (``shap_matrix``: the regime ensemble, whose values are the
    probability-weighted mixture of its boosters' exact TreeSHAP values).
    NaN feature values are allowed (trees route them by their learned default direction).
    """
    if hasattr(booster, "shap_matrix"):
        return np.asarray(booster.shap_matrix(features), dtype=float)
    import shap

    explainer = shap.TreeExplainer(booster)
    values = explainer.shap_values(features)
    if isinstance(values, list):  # multi-output API: regression has one output
        values = values[0]
    return np.asarray(values, dtype=float)


@dataclass(frozen=True)
class SignCheck:
    """Observed sign of a feature's SHAP relation vs its declared sign.

    ``correlation`` is Spearman's rho between the feature's values and its SHAP values on
    the sample; ``observed_sign`` is its sign when ``|rho| >= min_abs_corr`` and the feature
    is material (share of mean |SHAP| >= ``min_share``), else 0 (no clear relation). ``ok`` is False only when both signs are non-zero and differ.
    """

    feature: str
    expected_sign: int
    correlation: float
    observed_sign: int
    ok: bool


@dataclass(frozen=True)
class ShapSummary:
    """Global and per-year SHAP importance, stability, concentration and sign checks.

    Attributes
    ----------
    n_rows : int
        Sample size explained.
    importance : dict
        feature -> mean |SHAP| over the sample, in decreasing order.
    by_year : dict
        year -> {feature: mean |SHAP|}.
    rank_stability : float
        Mean Spearman correlation of the features' importance between every pair of years
        (1 = same ordering every year); NaN with fewer than two years.
    top_feature, top_share : str, float
        Most important feature and its share of the total mean |SHAP|.
    sign_checks : tuple of SignCheck
    """

    n_rows: int
    importance: dict[str, float]
    by_year: dict[str, dict[str, float]]
    rank_stability: float
    top_feature: str
    top_share: float
    sign_checks: tuple[SignCheck, ...]


def summarise_shap(
    sample: pd.DataFrame,
    values: np.ndarray,
    features: Sequence[str],
    expected_signs: Mapping[str, int],
    min_abs_corr: float = 0.2,
    min_share: float = 0.05,
) -> ShapSummary:
    """Summarise SHAP ``values`` (n_rows x n_features) computed on ``sample[features]``.

    Only features carrying at least ``min_share`` of the total mean |SHAP| are sign-checked:
    a tree's SHAP values are step functions of the feature, so a feature used in a handful of
    noise splits shows a strong but meaningless feature/SHAP correlation.
    """
    absv = pd.DataFrame(np.abs(values), columns=list(features))
    imp = absv.mean().sort_values(ascending=False)
    years = pd.DatetimeIndex(sample["date"]).year
    by_year = absv.groupby(np.asarray(years)).mean()
    rhos = []
    yrs = list(by_year.index)
    for i in range(len(yrs)):
        for j in range(i + 1, len(yrs)):
            rho = stats.spearmanr(by_year.loc[yrs[i]], by_year.loc[yrs[j]]).statistic
            if np.isfinite(rho):
                rhos.append(rho)
    total = float(imp.sum())
    checks = []
    for k, feat in enumerate(features):
        x = sample[feat].to_numpy(dtype=float)
        ok_rows = np.isfinite(x)
        rho = math.nan
        if ok_rows.sum() > 2 and np.ptp(x[ok_rows]) > 0 and np.ptp(values[ok_rows, k]) > 0:
            rho = float(stats.spearmanr(x[ok_rows], values[ok_rows, k]).statistic)
        material = total > 0 and imp[feat] / total >= min_share
        clear = material and np.isfinite(rho) and abs(rho) >= min_abs_corr
        observed = int(np.sign(rho)) if clear else 0
        expected = int(expected_signs.get(feat, 0))
        checks.append(
            SignCheck(
                feat, expected, rho, observed, not (expected and observed and expected != observed)
            )
        )
    return ShapSummary(
        n_rows=len(sample),
        importance={k: float(v) for k, v in imp.items()},
        by_year={str(y): {k: float(v) for k, v in row.items()} for y, row in by_year.iterrows()},
        rank_stability=float(np.mean(rhos)) if rhos else math.nan,
        top_feature=str(imp.index[0]),
        top_share=float(imp.iloc[0]) / total if total > 0 else math.nan,
        sign_checks=tuple(checks),
    )


def dependence_plot_png(
    x: np.ndarray, shap_col: np.ndarray, feature: str, label: str | None = None
) -> bytes:
    """Scatter of a feature's value against its SHAP value, as PNG bytes."""
    from governance.ground.charts import png, pyplot, title

    fig, ax = pyplot().subplots(figsize=(4.5, 3.2))
    ax.scatter(x, shap_col, s=4, alpha=0.4, color="#1f77b4")
    ax.axhline(0, color="#888", lw=0.8)
    ax.set_xlabel(f"{feature} (normalised per date)")
    ax.set_ylabel(f"SHAP value of {feature} (score units)")
    ax.set_title(title(f"SHAP dependence: {feature}", label), fontsize=9)
    return png(fig)


def importance_plot_png(importance: Mapping[str, float], label: str | None = None) -> bytes:
    """Horizontal bar chart of mean |SHAP| per feature, as PNG bytes; ``label`` names the
    model and period in the title."""
    from governance.ground.charts import png, pyplot, title

    names = list(importance)[::-1]
    fig, ax = pyplot().subplots(figsize=(5.5, 0.3 * len(names) + 1.2))
    ax.barh(names, [importance[n] for n in names], color="#1f77b4")
    ax.set_xlabel("mean |SHAP value| (score units)")
    ax.set_title(title("SHAP global importance", label), fontsize=9)
    return png(fig)
