"""Many accounts in one rebalance: one model, one risk model, one compiled problem.

Each account (``portfolio.accounts`` in the run config) has its own holdings, restricted
list and per-asset bounds. The model path solves them all on one compiled problem
(:meth:`tasks.portfolio.optimiser.PortfolioOptimiser.solve_many`, only the solver's right-hand side
changes between accounts); the fallback path gives every account the policy's fallback.
Either way each account passes its own pre-trade gate and gets its own ledger entry
(subject ``portfolio:<asof>:<account>``); an account whose solve fails or whose gate halts
holds what it has and says why, without stopping the others. The published files hold all
accounts, with an ``account`` column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from governance.canonical import canonical_json, to_jsonable
from governance.gates import pretrade_gate, record_gate
from governance.policy import Fallback, PretradeLimits
from governance.pretrade import check_pretrade
from tasks.data.market import MarketPanel
from tasks.portfolio.benchmarks import benchmark_weights
from tasks.portfolio.config import AccountConfig, PortfolioConfig
from tasks.portfolio.diagnose import fallback_weights
from tasks.portfolio.optimiser import Account, PortfolioOptimiser, structural_factors
from tasks.portfolio.rebalance import PortfolioResult, _store, market_inputs, trade_list
from tasks.portfolio.risk import window_returns

MODEL, FALLBACK, HOLD = "model", "fallback", "hold"


@dataclass(frozen=True)
class AccountResult:
    """One account's target: ``source`` is model, fallback, or hold (refused, with reasons)."""

    account: str
    weights: pd.Series
    trades: pd.DataFrame
    source: str
    reasons: tuple[str, ...]
    stats: dict


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
    cfg: PortfolioConfig,
    limits: PretradeLimits,
    asof: pd.Timestamp,
) -> list[tuple[Account, pd.Series | None, dict, tuple[str, ...]]]:
    """Solve every account on one compiled problem: ``(account, weights, stats, errors)``."""
    tight = cfg.within(limits)
    market = market_inputs(scores, panel, asof, tight)
    opt = PortfolioOptimiser(
        market.risk.assets,
        structural_factors(tight, len(market.risk.assets)),
        tight,
        panel.sectors,
        with_impact=market.impact is not None,
        with_restricted=any(a.restricted for a in accounts) or None,
    )
    solutions = opt.solve_many(accounts, market)
    return [
        (a, s.weights, s.stats(), () if s.weights is not None else (f"optimiser: {s.error}",))
        for a, s in zip(accounts, solutions, strict=True)
    ]


def fallback_targets(
    kind: Fallback, panel: MarketPanel, accounts: Sequence[Account], cfg: PortfolioConfig, asof
) -> list[tuple[Account, pd.Series, dict, tuple[str, ...]]]:
    """The policy's fallback for every account (benchmark estimated once)."""
    benchmark = benchmark_weights(
        cfg.tracking_benchmark, window_returns(panel.close, asof, cfg.lookback)
    )
    stats = {"status": "fallback", "fallback": Fallback(kind).value}
    return [(a, fallback_weights(kind, a.current, benchmark), stats, ()) for a in accounts]


def publish_accounts(
    ctx,
    targets,
    panel: MarketPanel,
    cfg: PortfolioConfig,
    limits: PretradeLimits,
    source: str,
    asof: pd.Timestamp,
) -> tuple[list[AccountResult], PortfolioResult]:
    """Gate, record and combine each account's target; return per-account results and the
    combined :class:`PortfolioResult` (files with an ``account`` column)."""
    day, half_spread = str(asof.date()), cfg.half_spread_bps * 1e-4
    results = []
    for account, weights, stats, errors in targets:
        subject = f"portfolio:{day}:{account.name}"
        reasons = list(errors)
        if weights is not None:
            own = limits.model_copy(
                update={"restricted": sorted({*limits.restricted, *account.restricted})}
            )
            breaches = check_pretrade(weights, account.current, panel.sectors, own)
            decision = pretrade_gate(breaches, breach_details=[b.payload() for b in breaches])
            record_gate(ctx, decision, subject=subject)
            reasons += [f"pretrade: {r}" for r in decision.reasons] if decision.halted else []
        if reasons:  # refused: the account keeps what it holds
            held = account.current if account.current is not None else pd.Series(dtype=float)
            weights, acct_source = held.astype(float), HOLD
        else:
            acct_source = source
        trades = trade_list(account.current, weights, half_spread)
        ctx.record(
            "portfolio.optimised",
            subject=subject,
            payload={"account": account.name, "source": acct_source, "asof": day,
                     "stats": stats, "reasons": reasons},
        )  # fmt: skip
        results.append(
            AccountResult(account.name, weights, trades, acct_source, tuple(reasons), stats)
        )
    return results, _combined(ctx, results, source, day)


def _combined(ctx, results: list[AccountResult], source: str, day: str) -> PortfolioResult:
    weights = pd.concat(
        [pd.DataFrame({"account": r.account, "asset": r.weights.index.astype(str),
                       "weight": r.weights.to_numpy()}) for r in results],
        ignore_index=True,
    )  # fmt: skip
    trades = pd.concat([r.trades.assign(account=r.account) for r in results], ignore_index=True)
    trades = trades[["account", *[c for c in trades.columns if c != "account"]]]
    summary = [
        {"account": r.account, "source": r.source, "reasons": list(r.reasons)} for r in results
    ]
    files = {
        "weights.csv": weights.to_csv(index=False, float_format="%.10g").encode(),
        "weights.json": canonical_json({"asof": day, "source": source, "accounts": to_jsonable(
            {r.account: dict(zip(r.weights.index.astype(str), r.weights, strict=True)) for r in results}
        )}),
        "trades.csv": trades.to_csv(index=False, float_format="%.10g").encode(),
        "trades.json": canonical_json(trades.to_dict(orient="records")),
        "accounts.json": canonical_json({"asof": day, "accounts": summary}),
    }  # fmt: skip
    shas = _store(ctx, files)
    stats = {"accounts": summary}
    return PortfolioResult(
        weights.set_index(["account", "asset"])["weight"], trades, stats, source, shas, day
    )
