"""The paper stage of the rebalance (issue 24): every version in paper books its portfolio
with the live chain (its scores, the optimiser, the pre-trade and stress gates, the cost
model) into a paper book that is never published for trading, and marks the previous
booking up to today's close, where the paper broker fills it (tasks/portfolio/paper.py).

Composition only: the record's writer and verifying reader are in
tasks/portfolio/paper_record.py; which versions are in paper in
governance/decisions/paper.py. A gate that refuses a paper portfolio leaves the paper book
holding what it holds (recorded with the reason); nothing trips, nothing is published.
"""

from __future__ import annotations

import pandas as pd

from flows.run import Run, service_stage
from governance.ground.refs import ModelRef


@service_stage("paper")
def paper_books(run: Run, panel) -> None:
    """Mark and book the paper book of each version of the strategy in paper."""
    from governance.decisions.paper import in_paper
    from tasks.portfolio.market import MarketHistory
    from tasks.portfolio.paper_record import latest_booking, record_mark

    ctx, strategy = run.now, run.config.model.name
    entries = in_paper(ctx.ledger, strategy)
    if not entries:
        return
    from tasks.portfolio.config import Mandate

    mandate = Mandate.of(run.config.portfolio, run.tier.pretrade)  # once for every paper book
    cfg = mandate.cfg
    asof = panel.close.index[-1]
    day = str(asof.date())
    history = MarketHistory(panel, cfg)
    impact = history.impact(history.position(asof))
    half_spread = cfg.half_spread_bps * 1e-4
    lines = []
    for entry in entries:
        ref = ModelRef.from_subject(entry.subject)  # in_paper: this strategy's versions
        version = ref.version
        booking = latest_booking(ctx.ledger, ctx.store, ref, entry.seq)
        if booking is not None and booking.asof >= day:
            continue  # booked on this close already
        held = None
        if booking is not None:
            since = pd.Timestamp(booking.asof)
            returns = panel.close.loc[asof] / panel.close.loc[:since].iloc[-1] - 1.0
            mark = record_mark(ctx, ref, booking, day, returns, half_spread, impact)
            held = booking.target  # filled at today's close
            lines.append(
                f"v{version} marked {booking.asof}..{day}: net {mark.payload['net_return']:+.4%},"
                f" cost {mark.payload['cost']:.5f}"
            )
        lines.append(_book(run, panel, mandate, ref, entry, held, half_spread, impact, day))
    run.summary.note("paper", headline=f"{len(entries)} version(s) in paper", details=lines)


def _book(
    run: Run, panel, mandate, ref: ModelRef, entry, held, half_spread, impact, day: str
) -> str:
    """Book the version ``ref``'s paper portfolio of ``day``; the summary line."""
    from flows.portfolio_stage import version_scores
    from flows.risk_stage import stress_gate
    from governance.ground.errors import GateHalt
    from governance.policy.schema import PortfolioSource
    from tasks.portfolio.paper_record import record_booking
    from tasks.portfolio.rebalance import construct_portfolio

    ctx = run.now
    version, name = ref.version, f"paper-v{ref.version}"
    model_hash = entry.payload.get("model_artifact_hash")
    scores = pd.Series(dtype=float)
    try:
        scores = version_scores(run, panel, ref, model_hash)
        result = construct_portfolio(ctx, scores, panel, held, mandate, book=name)
        result = stress_gate(run, panel, result, book=name)
        target, source, reasons = result.weights, PortfolioSource.MODEL, []
    except GateHalt as exc:  # the paper book keeps what it holds
        assets = panel.close.columns
        target = pd.Series(0.0, index=assets) if held is None else held
        source, reasons = PortfolioSource.HOLD, [f"{exc.gate}: {r}" for r in exc.reasons]
    held = pd.Series(0.0, index=target.index) if held is None else held
    record_booking(
        ctx, ref, day, scores=scores, held=held, target=target,
        half_spread=half_spread, impact=impact, source=str(source), reasons=reasons,
        model_hash=model_hash,
    )  # fmt: skip
    why = f" ({'; '.join(reasons)})" if reasons else ""
    return (
        f"v{version} booked {day}: {source}, turnover {float((target - held).abs().sum()):.3f}{why}"
    )
