"""The governed rebalance of one account: :func:`construct_portfolio` (risk -> alphas ->
optimise -> pre-trade gate) and :func:`publish_fallback` (the policy's fallback through the
same gate). The artifacts are written by ``tasks.portfolio.book`` (one writer, one reader).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from governance.decisions import decide
from governance.decisions.pretrade import check_pretrade
from governance.ground.canonical import canonical_json
from governance.ground.vocabulary import Action, Subject
from governance.policy.schema import Fallback, PortfolioSource
from tasks.data.market import MarketPanel
from tasks.portfolio.book import (
    MAIN,
    TRADE_COLUMNS,
    AccountBook,
    PortfolioResult,
    trade_list,
    write_rebalance,
)
from tasks.portfolio.config import Mandate
from tasks.portfolio.fallback import fallback_weights, glide, without_dust
from tasks.portfolio.market import MarketHistory, market_inputs
from tasks.portfolio.optimiser.core import (
    Account,
    Infeasible,
    OptimisationError,
    PortfolioOptimiser,
    Solution,
    structural_factors,
)

__all__ = ["TRADE_COLUMNS", "PortfolioResult", "construct_portfolio", "publish_fallback"]


def construct_portfolio(
    ctx,
    scores: pd.Series,
    panel: MarketPanel,
    current: pd.Series | None,
    mandate: Mandate,
    *,
    asof: pd.Timestamp | None = None,
    information_coefficient: float | None = None,
    book: str | None = None,
) -> PortfolioResult:
    """Risk -> alphas -> optimise -> pre-trade gate, with artifacts and ledger entries.

    Records ``portfolio.optimised`` (solver statistics, or the infeasibility diagnosis)
    and ``gate.pretrade`` (the breaches) through ``ctx.record`` (subject
    ``portfolio:<asof>``), then raises when the solve failed or the gate halted.

    Parameters
    ----------
    ctx : governance.decisions.context.RunContext
    scores : Series
        Champion model scores by asset for ``asof``.
    panel : MarketPanel
    current : Series or None
        Weights held now (None or all zero: funding from cash).
    mandate : Mandate
        The config tightened to the tier's pre-trade limits (what the optimiser aims
        inside) and the limits (checked independently after the solve).
    asof : Timestamp, optional
        Rebalance date; default the panel's last date.
    information_coefficient : float, optional
        Overrides ``cfg.information_coefficient``.
    book : str, optional
        A book other than the published one (a version's paper book, ``paper-v<N>``): its
        entries' subject is ``portfolio:<asof>:<book>``.

    Raises
    ------
    OptimisationError
        Infeasible (message names the conflicting groups), unbounded or numerical (exit 3).
    GateHalt
        Gate ``pretrade``: a limit breach (exit 3).
    """
    asof = panel.close.index[-1] if asof is None else pd.Timestamp(asof)
    day = str(asof.date())
    subject = Subject.portfolio(day, *((book,) if book else ()))
    tight, limits = mandate.cfg, mandate.limits
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
            Action.PORTFOLIO_OPTIMISED,
            subject=subject,
            payload={"source": PortfolioSource.MODEL.value, "asof": day, **diagnosis},
            artifacts={"solver.json": sha},
        )
        raise
    trades = trade_list(current, solution.weights, tight.half_spread_bps * 1e-4, market.impact)
    stats = solution.stats()
    book = AccountBook(MAIN, solution.weights, trades, PortfolioSource.MODEL, (), stats)
    result = write_rebalance(ctx.store, PortfolioResult(day, PortfolioSource.MODEL, (book,)))
    ctx.record(
        Action.PORTFOLIO_OPTIMISED,
        subject=subject,
        payload={"source": PortfolioSource.MODEL.value, "asof": day, "stats": stats},
        artifacts=result.artifacts,
    )
    _gate(ctx, solution.weights, current, panel.sectors, limits, subject, result.artifacts)
    return result


def _gate(ctx, weights, current, sectors, limits, subject, shas) -> None:
    """Run, record and enforce the pre-trade gate on ``weights``."""
    breaches = check_pretrade(weights, current, sectors, limits)
    decide.pretrade(
        ctx,
        breaches,
        subject,
        breach_details=[b.payload() for b in breaches],
        weights_sha256=shas.get("weights.json"),
    )


def fallback_target(
    kind: Fallback, history: MarketHistory, pos: int, current: pd.Series | None
) -> tuple[pd.Series, dict]:
    """The fallback's weights at row ``pos`` and their stats.

    The target (benchmark: ``cfg.tracking_benchmark`` estimated point in time) is reached
    along the glide path within ``cfg.max_turnover`` (``tasks.portfolio.fallback.glide``;
    ``glide`` < 1 in the stats: part of the way), then trades below ``cfg.min_trade_weight``
    are left undone (which never adds turnover).
    """
    cfg = history.cfg
    bench = history.benchmark(cfg.tracking_benchmark, pos)
    weights = fallback_weights(kind, current, pd.Series(bench, index=history.assets))
    stats = {"status": "fallback", "fallback": Fallback(kind).value}
    if Fallback(kind) is Fallback.FLAT:
        return weights, stats  # all cash: every holding is sold, however small, at once
    weights, theta = glide(weights, current, cfg.max_turnover)
    stats["glide"] = theta
    return without_dust(weights, current, cfg.min_trade_weight), stats


def publish_fallback(
    ctx,
    kind: Fallback,
    panel: MarketPanel,
    current: pd.Series | None,
    mandate: Mandate,
    reason: str,
    *,
    asof: pd.Timestamp | None = None,
) -> PortfolioResult:
    """The policy's fallback portfolio, with the same artifacts, entries and gate.

    Records ``portfolio.optimised`` with ``source: fallback`` and ``reason`` (subject
    ``portfolio:<asof>:fallback``), then the pre-trade gate (a fallback that breaches a
    limit halts too).
    """
    asof = panel.close.index[-1] if asof is None else pd.Timestamp(asof)
    # its own subject: a failed model solve of the same run has recorded portfolio:<day>
    day = str(asof.date())
    subject = Subject.portfolio(day, Subject.FALLBACK)
    history = MarketHistory(panel, mandate.cfg)
    pos = history.position(asof)
    weights, stats = fallback_target(kind, history, pos, current)
    hs = history.cfg.half_spread_bps * 1e-4
    trades = trade_list(current, weights, hs, history.impact(pos))  # the optimiser's costs
    stats["reason"] = reason
    stats["turnover"] = float(np.abs(trades["change"]).sum())
    book = AccountBook(MAIN, weights, trades, PortfolioSource.FALLBACK, (reason,), stats)
    result = write_rebalance(ctx.store, PortfolioResult(day, PortfolioSource.FALLBACK, (book,)))
    ctx.record(
        Action.PORTFOLIO_OPTIMISED,
        subject=subject,
        payload={"source": PortfolioSource.FALLBACK.value, "asof": day, "stats": stats},
        artifacts=result.artifacts,
    )
    _gate(ctx, weights, current, panel.sectors, mandate.limits, subject, result.artifacts)
    return result
