"""Outputs of a rebalance: target weights, a trade list, solver statistics, and the
governed wrapper :func:`construct_portfolio` (risk -> alphas -> optimise -> pre-trade gate).

Artifacts (content-addressed in the workspace store, named in the ledger entries):

============== ===========================================================================
name           content
============== ===========================================================================
weights.csv    ``asset,weight`` (target weights)
weights.json   ``{"asof", "source", "weights": {asset: weight}}``
trades.csv     ``asset,current,target,change,estimated_cost`` (one row per asset)
trades.json    the same rows as a JSON list
solver.json    solver statistics (status, solve time, objective, iterations, ...) or the
               infeasibility diagnosis
============== ===========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from governance.canonical import canonical_json
from governance.gates import enforce, pretrade_gate, record_gate
from governance.policy import Fallback, PretradeLimits
from governance.pretrade import check_pretrade
from tasks.data.market import MarketPanel
from tasks.portfolio.alphas import grinold_alphas
from tasks.portfolio.benchmarks import benchmark_weights
from tasks.portfolio.config import PortfolioConfig
from tasks.portfolio.costs import impact_coefficients, trading_costs
from tasks.portfolio.diagnose import fallback_weights
from tasks.portfolio.optimiser import (
    Account,
    Infeasible,
    MarketInputs,
    OptimisationError,
    PortfolioOptimiser,
    Solution,
    structural_factors,
)
from tasks.portfolio.risk import risk_from_returns, window_returns

TRADE_COLUMNS = ["asset", "current", "target", "change", "estimated_cost"]


@dataclass(frozen=True)
class PortfolioResult:
    """A published (or blocked) portfolio.

    Attributes
    ----------
    weights : Series
        Target weights by asset.
    trades : DataFrame
        :data:`TRADE_COLUMNS`, one row per asset.
    stats : dict
        Solver statistics (``Solution.stats()``), or the fallback's reason.
    source : str
        ``model`` or ``fallback``.
    artifacts : dict
        name -> SHA-256 in the artifact store (see the module docstring).
    asof : str
        Rebalance date (ISO).
    """

    weights: pd.Series
    trades: pd.DataFrame
    stats: dict
    source: str = "model"
    artifacts: dict[str, str] = field(default_factory=dict)
    asof: str = ""


def trade_list(
    current: pd.Series | None,
    target: pd.Series,
    half_spread: float,
    impact: pd.Series | None = None,
) -> pd.DataFrame:
    """One row per asset: current, target, change and estimated cost (fraction of value).

    Assets in either vector appear; a missing weight is 0. The cost is the optimiser's
    model (:func:`tasks.portfolio.optimiser.trading_costs`).
    """
    index = target.index if current is None else target.index.union(current.index)
    tgt = target.reindex(index).fillna(0.0)
    cur = pd.Series(0.0, index=index) if current is None else current.reindex(index).fillna(0.0)
    change = tgt - cur
    cost = trading_costs(change, half_spread, impact)
    return pd.DataFrame(
        {
            "asset": index.astype(str),
            "current": cur.to_numpy(),
            "target": tgt.to_numpy(),
            "change": change.to_numpy(),
            "estimated_cost": cost.to_numpy(),
        }
    )


def output_files(
    weights: pd.Series, trades: pd.DataFrame, stats: dict, asof: str, source: str
) -> dict[str, bytes]:
    """The artifact files of a rebalance, as bytes (CSV and canonical JSON)."""
    wframe = pd.DataFrame({"asset": weights.index.astype(str), "weight": weights.to_numpy()})
    return {
        "weights.csv": wframe.to_csv(index=False, float_format="%.10g").encode(),
        "weights.json": canonical_json(
            {
                "asof": asof,
                "source": source,
                "weights": dict(zip(wframe.asset, wframe.weight, strict=True)),
            }
        ),
        "trades.csv": trades.to_csv(index=False, float_format="%.10g").encode(),
        "trades.json": canonical_json(trades.to_dict(orient="records")),
        "solver.json": canonical_json({"asof": asof, "source": source, **stats}),
    }


def _store(ctx, files: dict[str, bytes]) -> dict[str, str]:
    return {name: ctx.store.put_bytes(data) for name, data in files.items()}


def market_inputs(
    scores: pd.Series,
    panel: MarketPanel,
    asof: pd.Timestamp,
    cfg: PortfolioConfig,
    information_coefficient: float | None = None,
) -> MarketInputs:
    """Risk model, alphas, costs and tracking benchmark at ``asof`` (point in time).

    Parameters
    ----------
    scores : Series
        Model scores on ``asof`` by asset (missing assets: no view).
    panel : MarketPanel
        Prices up to ``asof`` (later rows are ignored).
    information_coefficient : float, optional
        Overrides ``cfg.information_coefficient`` (e.g. validation's holdout rank IC).
    """
    window = window_returns(panel.close, asof, cfg.lookback)
    risk = risk_from_returns(window, cfg)
    vol = risk.volatility()
    ic = cfg.information_coefficient if information_coefficient is None else information_coefficient
    alpha = grinold_alphas(scores.reindex(risk.assets), vol, ic, cfg.z_clip)
    impact = None
    if panel.volume is not None:
        impact = impact_coefficients(panel.close, panel.volume, asof, vol, cfg)
    benchmark = None
    if cfg.max_tracking_error is not None:
        benchmark = benchmark_weights(cfg.tracking_benchmark, window)
    return MarketInputs(
        alpha=alpha,
        risk=risk,
        benchmark=benchmark,
        impact=impact,
        tradable=panel.close.loc[:asof].iloc[-1].notna(),
    )


def construct_portfolio(
    ctx,
    scores: pd.Series,
    panel: MarketPanel,
    current: pd.Series | None,
    cfg: PortfolioConfig,
    limits: PretradeLimits,
    *,
    asof: pd.Timestamp | None = None,
    information_coefficient: float | None = None,
) -> PortfolioResult:
    """Risk -> alphas -> optimise -> pre-trade gate, with artifacts and ledger entries.

    Records ``portfolio.optimised`` (solver statistics, or the infeasibility diagnosis)
    and ``gate.pretrade`` (the breaches) through ``ctx.record`` (subject
    ``portfolio:<asof>``), then raises when the solve failed or the gate halted.

    Parameters
    ----------
    ctx : governance.context.RunContext
    scores : Series
        Champion model scores by asset for ``asof``.
    panel : MarketPanel
    current : Series or None
        Weights held now (None: funding from cash).
    cfg : PortfolioConfig
        Tightened to ``limits`` before optimising (:meth:`PortfolioConfig.within`).
    limits : PretradeLimits
        The tier's pre-trade limits, checked independently after the solve.
    asof : Timestamp, optional
        Rebalance date; default the panel's last date.
    information_coefficient : float, optional
        Overrides ``cfg.information_coefficient``.

    Raises
    ------
    OptimisationError
        Infeasible (message names the conflicting groups), unbounded or numerical (exit 3).
    GateHalt
        Gate ``pretrade``: a limit breach (exit 3).
    """
    asof = panel.close.index[-1] if asof is None else pd.Timestamp(asof)
    day, subject = str(asof.date()), f"portfolio:{asof.date()}"
    tight = cfg.within(limits)
    market = market_inputs(scores, panel, asof, tight, information_coefficient)
    assets = market.risk.assets
    opt = PortfolioOptimiser(
        assets,
        structural_factors(tight, len(assets)),
        tight,
        panel.sectors,
        with_impact=market.impact is not None,
    )
    try:
        solution: Solution = opt.solve(Account(current=current), market)
    except OptimisationError as exc:
        diagnosis = {"status": exc.status, "reasons": exc.reasons}
        if isinstance(exc, Infeasible):
            diagnosis["conflicting_groups"] = [g.value for g in exc.groups]
        sha = ctx.store.put_bytes(canonical_json({"asof": day, **diagnosis}))
        ctx.record(
            "portfolio.optimised",
            subject=subject,
            payload={"source": "model", "asof": day, **diagnosis},
            artifacts={"solver.json": sha},
        )
        raise
    half_spread = tight.half_spread_bps * 1e-4
    trades = trade_list(current, solution.weights, half_spread, market.impact)
    stats = solution.stats()
    files = output_files(solution.weights, trades, stats, day, "model")
    shas = _store(ctx, files)
    ctx.record(
        "portfolio.optimised",
        subject=subject,
        payload={"source": "model", "asof": day, "stats": stats},
        artifacts=shas,
    )
    _gate(ctx, solution.weights, current, panel.sectors, limits, subject, shas)
    return PortfolioResult(solution.weights, trades, stats, "model", shas, day)


def _gate(ctx, weights, current, sectors, limits, subject, shas) -> None:
    """Run, record and enforce the pre-trade gate on ``weights``."""
    breaches = check_pretrade(weights, current, sectors, limits)
    decision = pretrade_gate(
        breaches,
        breach_details=[b.payload() for b in breaches],
        weights_sha256=shas.get("weights.json"),
    )
    record_gate(ctx, decision, subject=subject)
    enforce(decision)


def publish_fallback(
    ctx,
    kind: Fallback,
    panel: MarketPanel,
    current: pd.Series | None,
    cfg: PortfolioConfig,
    limits: PretradeLimits,
    reason: str,
    *,
    asof: pd.Timestamp | None = None,
) -> PortfolioResult:
    """The policy's fallback portfolio, with the same artifacts, entries and gate.

    The benchmark is ``cfg.tracking_benchmark`` estimated at ``asof``. Records
    ``portfolio.optimised`` with ``source: fallback`` and ``reason`` (subject
    ``portfolio:<asof>:fallback``), then the pre-trade gate (a fallback that breaches a
    limit halts too).
    """
    asof = panel.close.index[-1] if asof is None else pd.Timestamp(asof)
    # its own subject: a failed model solve of the same run has recorded portfolio:<day>
    day, subject = str(asof.date()), f"portfolio:{asof.date()}:fallback"
    window = window_returns(panel.close, asof, cfg.lookback)
    benchmark = benchmark_weights(cfg.tracking_benchmark, window)
    weights = fallback_weights(kind, current, benchmark)
    trades = trade_list(current, weights, cfg.half_spread_bps * 1e-4)
    stats = {"status": "fallback", "fallback": Fallback(kind).value, "reason": reason}
    stats["turnover"] = float(np.abs(trades["change"]).sum())
    shas = _store(ctx, output_files(weights, trades, stats, day, "fallback"))
    ctx.record(
        "portfolio.optimised",
        subject=subject,
        payload={"source": "fallback", "asof": day, "stats": stats},
        artifacts=shas,
    )
    _gate(ctx, weights, current, panel.sectors, limits, subject, shas)
    return PortfolioResult(weights, trades, stats, "fallback", shas, day)
