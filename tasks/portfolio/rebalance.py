"""The governed rebalance: every book is a list of accounts, and one account is the list of one.

An account (``portfolio.accounts`` in the run config; none configured: the one account
:data:`~tasks.portfolio.book.MAIN`) has its own holdings, restricted list and per-asset
bounds. One model, one risk model and one compiled problem serve them all:

- :func:`accounts_of`: the accounts of a config, each holding what it holds now;
- :func:`rebalance_accounts`: risk -> alphas -> optimise every account
  (:func:`tasks.portfolio.accounts.solve_many`, only the solver's right-hand side changes
  between accounts) -> each account's pre-trade gate -> the book's files;
- :func:`fallback_accounts`: the policy's fallback for every account, through the same gate;
- :func:`construct_portfolio` and :func:`publish_fallback`: the same for the one account
  ``main`` holding ``current`` (a version's paper book).

**The breach rule, one for every book** (docs/portfolio.md): an account whose solve fails
or whose pre-trade gate halts (and, in ``tasks.risk.gate``, whose stress gate halts) holds
what it has and says why, and the others trade. When every account of a book is refused
the book is refused: :class:`GateHalt` of the gate that refused the last of them (one
account's optimiser failure raises its own error, the conflicting groups named). The
rebalance then applies the automatic trip rule (governance/decisions/trips.py) and
publishes the fallback; a fallback whose every account is refused halts the run and nothing
is published. For one account this is the rule it always had.

Ledger, per account: ``gate.pretrade`` then ``portfolio.optimised`` (payload ``account,
source, asof, stats, reasons``; ``source`` is ``hold`` for a refused account, ``stats`` the
solver's statistics, the failure's diagnosis or the fallback's reason), subject
``portfolio:<asof>:<account>``, ``portfolio:<asof>:fallback:<account>`` for the fallback,
``portfolio:<asof>:<book>:<account>`` for a book never published (a paper book
``paper-v<N>``, the ``unadjusted`` book of the overlays). The files are written by
``tasks.portfolio.book`` (one writer, one reader).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from governance.decisions import decide
from governance.decisions.pretrade import check_pretrade
from governance.ground.errors import Gate, GateHalt
from governance.ground.vocabulary import Action, Subject
from governance.policy.schema import Fallback, PortfolioSource
from tasks.data.market import MarketPanel
from tasks.portfolio.accounts import solve_many
from tasks.portfolio.book import (
    MAIN,
    TRADE_COLUMNS,
    AccountBook,
    PortfolioResult,
    hold,
    trade_list,
    write_rebalance,
)
from tasks.portfolio.config import AccountConfig, Mandate, PortfolioConfig
from tasks.portfolio.fallback import fallback_weights, glide, without_dust
from tasks.portfolio.market import MarketHistory, market_inputs
from tasks.portfolio.optimiser.contract import from_diagnosis
from tasks.portfolio.optimiser.core import Account, PortfolioOptimiser, structural_factors

__all__ = [
    "TRADE_COLUMNS",
    "PortfolioResult",
    "accounts_of",
    "construct_portfolio",
    "fallback_accounts",
    "publish_fallback",
    "rebalance_accounts",
]


@dataclass(frozen=True)
class Target:
    """One account's target before its gate: weights (None: the solve failed), the
    solver's statistics (or the failure's diagnosis, or the fallback's), the refusal
    (``"<gate>: <reason>"`` lines) and why the target is what it is (the fallback's reason)."""

    account: Account
    weights: pd.Series | None
    stats: dict
    refused: tuple[str, ...] = ()
    why: tuple[str, ...] = ()


def accounts_of(cfg: PortfolioConfig, current: dict[str, pd.Series]) -> list[Account]:
    """The configured accounts, or the one account ``main`` when none is configured, each
    starting from its last published weights if any."""
    if not cfg.accounts:
        return [Account(MAIN, current.get(MAIN))]
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
    information_coefficient: float | None = None,
) -> list[Target]:
    """Solve every account on one compiled problem (``mandate.cfg``: the optimiser aims
    inside the tier's limits)."""
    tight = mandate.cfg
    market = market_inputs(scores, panel, asof, tight, information_coefficient)
    opt = PortfolioOptimiser(
        market.risk.assets,
        structural_factors(tight, len(market.risk.assets)),
        tight,
        panel.sectors,
        with_impact=market.impact is not None,
        with_restricted=any(a.restricted for a in accounts) or None,
    )
    out = []
    for a, s in zip(accounts, solve_many(opt, accounts, market), strict=True):
        if s.weights is not None:
            out.append(Target(a, s.weights, s.stats()))
            continue
        diagnosis = s.diagnosis or {"status": s.status, "reasons": [s.error]}
        refused = tuple(f"{Gate.OPTIMISER}: {r}" for r in diagnosis["reasons"])
        out.append(Target(a, None, {**s.stats(), **diagnosis}, refused))
    return out


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


def fallback_targets(
    kind: Fallback,
    panel: MarketPanel,
    accounts: Sequence[Account],
    mandate: Mandate,
    asof: pd.Timestamp,
    reason: str,
) -> list[Target]:
    """The policy's fallback for every account, with ``reason`` and its turnover."""
    history = MarketHistory(panel, mandate.cfg)
    pos = history.position(asof)
    out = []
    for a in accounts:
        weights, stats = fallback_target(kind, history, pos, a.current)
        turnover = float(trade_list(a.current, weights, 0.0)["change"].abs().sum())
        out.append(
            Target(a, weights, {**stats, "reason": reason, "turnover": turnover}, (), (reason,))
        )
    return out


def gate_accounts(
    ctx,
    targets: Sequence[Target],
    panel: MarketPanel,
    mandate: Mandate,
    source: PortfolioSource,
    asof: pd.Timestamp,
    book: str | None = None,
) -> PortfolioResult:
    """Gate and record each account's target, combine them into one
    :class:`PortfolioResult` (its files stored), and apply the breach rule (module
    docstring).

    Raises
    ------
    GateHalt
        Every account refused: gate ``pretrade`` when a pre-trade breach refused one, else
        the optimiser's (one account: its own :class:`OptimisationError`).
    """
    history, limits = MarketHistory(panel, mandate.cfg), mandate.limits
    impact = history.impact(history.position(asof))  # the optimiser's cost model
    day, half_spread = str(asof.date()), history.cfg.half_spread_bps * 1e-4
    qualifier = (
        (Subject.FALLBACK,) if source == PortfolioSource.FALLBACK else (book,) if book else ()
    )
    books = []
    for t in targets:
        account = t.account
        subject = Subject.portfolio(day, *qualifier, account.name)
        reasons = list(t.refused)
        if t.weights is not None:
            own = limits.model_copy(
                update={"restricted": sorted({*limits.restricted, *account.restricted})}
            )
            breaches = check_pretrade(t.weights, account.current, panel.sectors, own)
            decision = decide.pretrade(
                ctx, breaches, subject, stops_run=False, account=account.name,
                breach_details=[b.payload() for b in breaches],
            )  # fmt: skip
            reasons += (
                [f"{Gate.PRETRADE}: {r}" for r in decision.reasons] if decision.halted else []
            )
        if reasons:  # refused: the account keeps what it holds
            held = hold(account.name, account.current, tuple(reasons), half_spread, t.stats)
        else:
            trades = trade_list(account.current, t.weights, half_spread, impact)
            held = AccountBook(account.name, t.weights, trades, source, t.why, t.stats)
        ctx.record(
            Action.PORTFOLIO_OPTIMISED,
            subject=subject,
            payload={"account": account.name, "source": held.source, "asof": day,
                     "stats": t.stats, "reasons": reasons},
        )  # fmt: skip
        books.append(held)
    result = write_rebalance(ctx.store, PortfolioResult(day, source, tuple(books)))
    if result.refused:
        failed = [t for t in targets if t.weights is None]
        if not result.many and failed:
            raise from_diagnosis(failed[0].stats)
        pretrade = any(r.startswith(f"{Gate.PRETRADE}: ") for a in books for r in a.reasons)
        raise refusal(result, Gate.PRETRADE if pretrade else Gate.OPTIMISER)
    return result


def refusal(result: PortfolioResult, gate: Gate) -> GateHalt:
    """The halt of a book whose every account is refused (``result.refused``), named after
    ``gate``, the gate that refused the last of them: one account's reasons as its gate
    gave them, or each account's reasons after its name."""
    if not result.many:
        (only,) = result.accounts
        return GateHalt(gate, [r.removeprefix(f"{gate}: ") for r in only.reasons])
    return GateHalt(gate, [f"account {a.account}: {r}" for a in result.accounts for r in a.reasons])


def rebalance_accounts(
    ctx,
    scores: pd.Series,
    panel: MarketPanel,
    accounts: Sequence[Account],
    mandate: Mandate,
    *,
    asof: pd.Timestamp | None = None,
    information_coefficient: float | None = None,
    book: str | None = None,
) -> PortfolioResult:
    """The model's book of ``accounts``: solve, gate, record (:func:`gate_accounts`).

    Parameters
    ----------
    ctx : governance.decisions.context.RunContext
    scores : Series
        Model scores by asset for ``asof``.
    panel : MarketPanel
    accounts : sequence of Account
        :func:`accounts_of`.
    mandate : Mandate
        The config tightened to the tier's pre-trade limits (what the optimiser aims
        inside) and the limits (checked independently after the solve).
    asof : Timestamp, optional
        Rebalance date; default the panel's last date.
    information_coefficient : float, optional
        Overrides ``cfg.information_coefficient``.
    book : str, optional
        A book never published (``paper-v<N>``, ``unadjusted``): in its subjects.

    Raises
    ------
    GateHalt
        Every account refused (module docstring).
    """
    asof = panel.close.index[-1] if asof is None else pd.Timestamp(asof)
    targets = model_targets(scores, panel, accounts, mandate, asof, information_coefficient)
    return gate_accounts(ctx, targets, panel, mandate, PortfolioSource.MODEL, asof, book)


def fallback_accounts(
    ctx,
    kind: Fallback,
    panel: MarketPanel,
    accounts: Sequence[Account],
    mandate: Mandate,
    reason: str,
    *,
    asof: pd.Timestamp | None = None,
) -> PortfolioResult:
    """The policy's fallback for ``accounts`` through the same gate and records (a fallback
    account that breaches a limit holds; every account refused halts)."""
    asof = panel.close.index[-1] if asof is None else pd.Timestamp(asof)
    targets = fallback_targets(kind, panel, accounts, mandate, asof, reason)
    return gate_accounts(ctx, targets, panel, mandate, PortfolioSource.FALLBACK, asof)


def construct_portfolio(
    ctx,
    scores: pd.Series,
    panel: MarketPanel,
    current: pd.Series | None,
    mandate: Mandate,
    **kw,
) -> PortfolioResult:
    """:func:`rebalance_accounts` of the one account ``main`` holding ``current``."""
    return rebalance_accounts(ctx, scores, panel, [Account(MAIN, current)], mandate, **kw)


def publish_fallback(
    ctx,
    kind: Fallback,
    panel: MarketPanel,
    current: pd.Series | None,
    mandate: Mandate,
    reason: str,
    **kw,
) -> PortfolioResult:
    """:func:`fallback_accounts` of the one account ``main`` holding ``current``."""
    return fallback_accounts(ctx, kind, panel, [Account(MAIN, current)], mandate, reason, **kw)
