"""Thin wrappers: the risk model's inputs at a date, the artifact files, the ledger entries.

Artifacts (content-addressed in the workspace store, named in the ledger entries):

==========================  =================================================================
name                        content
==========================  =================================================================
risk/summary.json           volatility, tracking error, factor share, top contributors, VaR
risk/assets.parquet         Euler contributions by asset (``Decomposition.assets``)
risk/sectors.parquet        by sector
risk/factors.parquet        exposures, active exposures and contributions by factor
risk/var.parquet            ``method, confidence, horizon, var, es``
risk/contributions.png      the three contribution panels
stress/summary.json         loss and cost to exit per scenario, the sampled tail, breaches
stress/scenarios.parquet    ``StressResult.scenarios`` (+ ``limit``, ``breach``)
stress/contributors.parquet top contributors of each scenario
stress/sampled.parquet      the loss of every sampled scenario
stress/losses.png           loss and cost to exit by scenario
==========================  =================================================================

Ledger actions: ``risk.analysed`` and ``stress.completed`` (subject ``portfolio:<asof>``,
``:fallback`` for the fallback book).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from governance.decisions.pretrade import Breach
from governance.ground.canonical import canonical_json
from governance.ground.vocabulary import Action
from governance.policy.schema import StressLimits
from tasks.data.market import MarketPanel
from tasks.model.dataset import frame_to_parquet
from tasks.portfolio.config import PortfolioConfig
from tasks.portfolio.market import MarketHistory
from tasks.portfolio.risk import RiskModel
from tasks.risk.config import RiskConfig, StressConfig
from tasks.risk.decomposition import Decomposition, decompose
from tasks.risk.plots import contributions_png, losses_png
from tasks.risk.stress import StressResult, run_stress
from tasks.risk.var import VarFigure, var_frame, var_table


@dataclass(frozen=True)
class RiskInputs:
    """The optimiser's view of the market at ``asof``: risk model, window, costs, benchmark."""

    asof: pd.Timestamp
    risk: RiskModel
    window: pd.DataFrame
    impact: pd.Series | None
    benchmark: pd.Series
    half_spread: float


def risk_inputs(
    panel: MarketPanel, pcfg: PortfolioConfig, rcfg: RiskConfig, asof=None
) -> RiskInputs:
    """Risk model, window and costs at ``asof`` from the rebalance's own market inputs
    (``tasks.portfolio.market``), and the ``risk.benchmark``."""
    history = MarketHistory(panel, pcfg)
    pos = history.position(panel.close.index[-1] if asof is None else asof)
    market = history.inputs(pos, np.zeros(len(history.assets)))  # alphas play no part
    bench = pd.Series(history.benchmark(rcfg.benchmark, pos), index=history.assets)
    return RiskInputs(
        history.index[pos],
        market.risk,
        history.window_frame(pos),
        market.impact,
        bench,
        pcfg.half_spread_bps * 1e-4,
    )


@dataclass(frozen=True)
class RiskAnalysis:
    """Decomposition and VaR/ES of one portfolio."""

    decomposition: Decomposition
    var: list[VarFigure]

    def summary(self) -> dict:
        return {
            **self.decomposition.summary(),
            "var": var_frame(self.var).to_dict(orient="records"),
            "var_scaling": "sqrt(h) x 1-day (square root of time)",
        }


def analyse(
    weights: pd.Series, inputs: RiskInputs, sectors, pcfg: PortfolioConfig, rcfg: RiskConfig
) -> RiskAnalysis:
    """Decompose the ex-ante risk of ``weights`` and compute its VaR/ES table."""
    d = decompose(weights, inputs.risk, sectors, inputs.benchmark, pcfg.annualisation)
    w = weights.reindex(inputs.window.columns).fillna(0.0)
    history = inputs.window.fillna(0.0).to_numpy() @ w.to_numpy()
    return RiskAnalysis(d, var_table(d.volatility, history, rcfg.confidence, rcfg.horizons))


def stress(
    weights: pd.Series,
    panel: MarketPanel,
    inputs: RiskInputs,
    scfg: StressConfig,
    n_scenarios: int | None = None,
) -> tuple[StressResult, list[str]]:
    """Every configured scenario on ``weights`` with the market as of ``inputs.asof``."""
    close = panel.close.loc[: inputs.asof]
    return run_stress(
        weights,
        close,
        panel.sectors,
        inputs.risk,
        inputs.window,
        scfg,
        inputs.half_spread,
        inputs.impact,
        n_scenarios,
    )


def risk_files(analysis: RiskAnalysis, title: str) -> dict[str, bytes]:
    d = analysis.decomposition
    return {
        "risk/summary.json": canonical_json(analysis.summary()),
        "risk/assets.parquet": frame_to_parquet(d.assets),
        "risk/sectors.parquet": frame_to_parquet(d.sectors),
        "risk/factors.parquet": frame_to_parquet(d.factors),
        "risk/var.parquet": frame_to_parquet(var_frame(analysis.var)),
        "risk/contributions.png": contributions_png(d, title),
    }


def with_limits(result: StressResult, limits: StressLimits) -> pd.DataFrame:
    """The scenario table with each scenario's policy limit and whether it is breached."""
    from governance.decisions.pretrade import check_stress

    table = result.scenarios.copy()
    tail = table.kind == "sampled"
    own = table.scenario.map(limits.scenarios)
    table["limit"] = own.where(own.notna(), limits.max_scenario_loss)
    table.loc[tail, "limit"] = limits.max_sampled_tail_loss
    breached = {b.subject for b in check_stress(result.losses(), limits)}
    table["breach"] = table.scenario.isin(breached)
    return table


def stress_files(
    result: StressResult, skipped: list[str], limits: StressLimits, title: str
) -> dict[str, bytes]:
    table = with_limits(result, limits)
    summary = {
        **result.summary(),
        "skipped_windows": skipped,
        "breaches": table.scenario[table.breach].tolist(),
    }
    return {
        "stress/summary.json": canonical_json(summary),
        "stress/scenarios.parquet": frame_to_parquet(table.astype({"limit": float})),
        "stress/contributors.parquet": frame_to_parquet(result.contributors),
        "stress/sampled.parquet": frame_to_parquet(pd.DataFrame({"loss": result.sampled_losses})),
        "stress/losses.png": losses_png(result, title),
    }


def store_files(ctx, files: dict[str, bytes]) -> dict[str, str]:
    return {name: ctx.store.put_bytes(data) for name, data in files.items()}


def record_risk(ctx, analysis: RiskAnalysis, subject: str, facts: dict, shas: dict[str, str]):
    """Record ``risk.analysed`` naming the stored :func:`risk_files`; returns the entry."""
    payload = {**facts, **analysis.summary()}
    return ctx.record(Action.RISK_ANALYSED, subject=subject, payload=payload, artifacts=shas)


def record_stress(
    ctx,
    result: StressResult | None,
    skipped: list[str],
    limits: StressLimits,
    breaches: list[Breach],
    subject: str,
    facts: dict,
    stored: dict[str, str] | None = None,
) -> dict[str, str]:
    """Store the stress artifacts and record ``stress.completed`` (with the ``stored``
    files beside them); returns name -> sha256. ``result`` None: a book that holds nothing
    (no report, no losses)."""
    files = {} if result is None else stress_files(result, skipped, limits, subject)
    shas = {**(stored or {}), **store_files(ctx, files)}
    payload = {
        **facts,
        "losses": {} if result is None else result.losses(),
        "sampled": {} if result is None else result.sampled,
        "skipped_windows": skipped,
        "breaches": [b.payload() for b in breaches],
        "limits": limits.model_dump(mode="json"),
    }
    ctx.record(Action.STRESS_COMPLETED, subject=subject, payload=payload, artifacts=shas)
    return shas
