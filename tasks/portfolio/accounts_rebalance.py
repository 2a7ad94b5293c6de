"""Many accounts in one rebalance: one model, one risk model, one compiled problem.

Each account (``portfolio.accounts`` in the run config) has its own holdings, restricted
list and per-asset bounds. The model path solves them all on one compiled problem
(:func:`tasks.portfolio.accounts.solve_many`, only the solver's right-hand side
changes between accounts); the fallback path gives every account the policy's fallback.
Either way each account passes its own pre-trade gate and gets its own ledger entry
(subject ``portfolio:<asof>:<account>``); an account whose solve fails or whose gate halts
holds what it has and says why, without stopping the others. The published files hold all
accounts, with an ``account`` column.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from governance.decisions import decide
from governance.decisions.pretrade import check_pretrade
from governance.ground.vocabulary import Action, Subject
from governance.policy.schema import Fallback, PortfolioSource
from tasks.data.market import MarketPanel
from tasks.portfolio.accounts import solve_many
from tasks.portfolio.book import AccountBook, PortfolioResult, hold, trade_list, write_rebalance
from tasks.portfolio.config import AccountConfig, Mandate, PortfolioConfig
from tasks.portfolio.market import MarketHistory, market_inputs
from tasks.portfolio.optimiser.core import Account, PortfolioOptimiser, structural_factors
from tasks.portfolio.rebalance import fallback_target


def accounts_of(cfg: PortfolioConfig, current: dict[str, pd.Series]) -> list[Account]:
    """The configured accounts, each starting from its last published weights if any."""
    return [to_account(a, current.get(a.name)) for a in cfg.accounts]


def to_account(cfg: AccountConfig, current: pd.Series | None) -> Account:
    """The optimiser's :class:`Account` for ``cfg`` holding ``current`` (else its seed)."""
    held = current if current is not None else (pd.Series(cfg.holdings) if cfg.holdings else None)
    lower = pd.Series({a: lo for a, (lo, _) in cfg.bounds.items()}, dtype=float)
    upper = pd.Series({a: hi for a, (_, hi) in cfg.bounds.items()}, dtype=float)
    return Account(
        name=cfg.name,
        current=held,
        restricted=tuple(cfg.restricted),
        lower=lower if len(lower) else None,
        upper=upper if len(upper) else None,
    )


def model_targets(
    scores: pd.Series,
    panel: MarketPanel,
    accounts: Sequence[Account],
    mandate: Mandate,
    asof: pd.Timestamp,
) -> list[tuple[Account, pd.Series | None, dict, tuple[str, ...]]]:
    """Solve every account on one compiled problem: ``(account, weights, stats, errors)``."""
    tight = mandate.cfg
    market = market_inputs(scores, panel, asof, tight)
    opt = PortfolioOptimiser(
        market.risk.assets,
        structural_factors(tight, len(market.risk.assets)),
        tight,
        panel.sectors,
        with_impact=market.impact is not None,
        with_restricted=any(a.restricted for a in accounts) or None,
    )
    solutions = solve_many(opt, accounts, market)
    return [
        (a, s.weights, s.stats(), () if s.weights is not None else (f"optimiser: {s.error}",))
        for a, s in zip(accounts, solutions, strict=True)
    ]


def fallback_targets(
    kind: Fallback,
    panel: MarketPanel,
    accounts: Sequence[Account],
    mandate: Mandate,
    asof,
) -> list[tuple[Account, pd.Series, dict, tuple[str, ...]]]:
    """The policy's fallback for every account."""
    history = MarketHistory(panel, mandate.cfg)
    pos = history.position(asof)
    return [(a, *fallback_target(kind, history, pos, a.current), ()) for a in accounts]


def publish_accounts(
    ctx,
    targets,
    panel: MarketPanel,
    mandate: Mandate,
    source: PortfolioSource,
    asof: pd.Timestamp,
) -> PortfolioResult:
    """Gate, record and combine each account's target into one :class:`PortfolioResult`
    (files with an ``account`` column, ``tasks.portfolio.book``)."""
    history, limits = MarketHistory(panel, mandate.cfg), mandate.limits
    impact = history.impact(history.position(asof))  # the optimiser's cost model
    day, half_spread = str(asof.date()), history.cfg.half_spread_bps * 1e-4
    books = []
    for account, weights, stats, errors in targets:
        subject = Subject.portfolio(day, account.name)
        reasons = list(errors)
        if weights is not None:
            own = limits.model_copy(
                update={"restricted": sorted({*limits.restricted, *account.restricted})}
            )
            breaches = check_pretrade(weights, account.current, panel.sectors, own)
            decision = decide.pretrade(
                ctx, breaches, subject, stops_run=False,
                breach_details=[b.payload() for b in breaches],
            )  # fmt: skip
            reasons += [f"pretrade: {r}" for r in decision.reasons] if decision.halted else []
        if reasons:  # refused: the account keeps what it holds
            book = hold(account.name, account.current, tuple(reasons), half_spread, stats)
        else:
            trades = trade_list(account.current, weights, half_spread, impact)
            book = AccountBook(account.name, weights, trades, source, (), stats)
        ctx.record(
            Action.PORTFOLIO_OPTIMISED,
            subject=subject,
            payload={"account": account.name, "source": book.source, "asof": day,
                     "stats": stats, "reasons": reasons},
        )  # fmt: skip
        books.append(book)
    return write_rebalance(ctx.store, PortfolioResult(day, source, tuple(books), many=True))
