"""Restrictions of use and overlays in the rebalance's portfolio stage (issue 27).

Composition only: the documents and their readers are governance/decisions/overlays.py, the
rules governance/decisions/overlay_use.py.

- :func:`restrictions_hold`: before the model drives, the signed restrictions in force
  against the day's book value (``portfolio.portfolio_value`` x accounts) and the market's
  1-month realised volatility; recorded as ``gate.restriction`` (subject ``book:<strategy>``)
  whenever one is in force; a breach is a halt: the tier's fallback is published.
- :func:`adjusted_portfolio`: the model's book with the overlays in force applied to every
  account (excluded names restricted, the cap tightened, alphas scaled; one account is the
  list of one), and, beside it, the book the model alone would have made
  (``portfolio:<asof>:unadjusted:<account>``, never published) to measure the overlays'
  impact; ``overlay.applied`` (subject ``book:<strategy>``) records both books' weights
  (every account), the overlays, the book's impact (``impact``: one account's, or the
  average book's) and each account's (``accounts``); the published entry names the
  overlays.
"""

from __future__ import annotations

from flows.run import Run
from governance.ground.vocabulary import Action, Subject


def restrictions_hold(run: Run, panel, adjustments) -> list[str]:
    """The breaches of the restrictions in force (empty: none, or none breached)."""
    from governance.decisions import decide
    from governance.decisions.overlay_use import market_vol, restriction_breaches
    from governance.decisions.overlays import RESTRICTION_KIND

    restrictions = [a for a in adjustments if a.kind == RESTRICTION_KIND]
    if not restrictions:
        return []
    cfg = run.config.portfolio
    book_value = cfg.portfolio_value * (len(cfg.accounts) or 1)
    vol = market_vol(panel.close, cfg.annualisation)
    breaches = restriction_breaches(restrictions, book_value=book_value, vol=vol)
    decide.restriction(
        run.now, breaches, Subject.book(run.config.model.name), book_value=book_value,
        market_vol=vol, restrictions=[a.to_json() for a in restrictions],
    )  # fmt: skip
    return breaches


def adjusted_portfolio(run: Run, scores, panel, accounts, adjustments, mandate):
    """``rebalance_accounts`` of ``accounts`` under the overlays in force (module
    docstring); ``mandate``: the stage's (``tasks.portfolio.config.Mandate``), an overlay's
    limits tighten it for every account."""
    from governance.decisions.overlay_use import alpha_scale, impact, overlays, tightened
    from governance.ground.errors import GateHalt
    from tasks.portfolio.config import Mandate
    from tasks.portfolio.rebalance import rebalance_accounts

    ctx, cfg = run.now, run.config.portfolio
    applied = overlays(adjustments)
    if not applied:
        return rebalance_accounts(ctx, scores, panel, accounts, mandate)
    ic = cfg.information_coefficient * alpha_scale(applied)
    overlaid = Mandate.of(cfg, tightened(mandate.limits, applied))
    result = rebalance_accounts(ctx, scores, panel, accounts, overlaid, information_coefficient=ic)
    try:  # the model alone, for the impact: recorded under its own subject, never published
        plain = rebalance_accounts(ctx, scores, panel, accounts, mandate, book="unadjusted")
    except GateHalt as exc:
        plain, why = None, f"{exc.gate}: {'; '.join(exc.reasons)}"
    else:
        why = None
    own = plain.holdings() if plain else {}
    effect = impact(result.book(), plain.book() if plain else None)
    strategy = run.config.model.name
    ctx.record(
        Action.OVERLAY_APPLIED,
        subject=Subject.book(strategy),
        payload={"strategy": strategy, "asof": result.asof, "impact": effect,
                 # each account's book against the one the model alone made for it
                 "accounts": {a: impact(w, own.get(a)) for a, w in result.holdings().items()},
                 "overlays": [a.to_json() for a in applied], "unadjusted_failed": why,
                 "information_coefficient": ic},
        artifacts={"weights.json": result.artifacts["weights.json"],
                   **({"unadjusted.json": plain.artifacts["weights.json"]} if plain else {})},
    )  # fmt: skip
    lines = [a.line() for a in applied]
    run.summary.note("overlays", applied=lines, impact_l1=effect["l1"],
                     headline=f"{len(lines)} applied; L1 change {effect['l1']}")  # fmt: skip
    return result
