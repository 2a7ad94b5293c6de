"""The stress gate of a book about to be published: every book is a list of accounts.

:func:`stress_accounts` stresses a book (``tasks.portfolio.book.PortfolioResult``; one
account is the list of one) under every scenario of the ``stress:`` section:

- the book itself (one account's weights, or the average of many: ``PortfolioResult.book``)
  gets the full report (losses, contributors, cost to exit, the sampled tail), recorded
  once as ``stress.completed`` with its files and each account's losses
  (``stress/accounts.parquet``: two matrix products, ``tasks.risk.stress.account_losses``);
- each account is gated on its own losses (``gate.stress``): one in breach holds what it
  has (``book.hold``, the one rule for a refused account), the others go on; when every
  account is refused the book is refused (``tasks.portfolio.rebalance``'s breach rule):
  :attr:`StressedAccounts.halt` is the halt the caller raises once it has noted the figures.

An error while stressing is a halt (fail closed: no account trades on an unevaluated gate).

Ledger: ``stress.completed`` (subject ``portfolio:<asof>``, with ``:fallback`` for the
fallback or ``:<book>`` for a book never published) and ``gate.stress`` per account (that
subject, then ``:<account>``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from governance.ground.errors import GateHalt
from governance.ground.vocabulary import Subject
from governance.policy.schema import PortfolioSource, StressLimits
from tasks.portfolio.config import PortfolioConfig
from tasks.risk.config import RiskConfig, StressConfig


def portfolio_subject(asof: str, source: str, *qualifiers: str) -> str:
    """``portfolio:<asof>``, with ``:fallback`` for the fallback (as the portfolio stage),
    then the ``qualifiers`` (a book's name, an account's)."""
    fallback = (Subject.FALLBACK,) if source == PortfolioSource.FALLBACK else ()
    return Subject.portfolio(asof, *fallback, *qualifiers)


@dataclass(frozen=True)
class StressedAccounts:
    """A stressed book: the book (an account in breach holds) with the stress files, the
    book's own stress result (None when it holds nothing) and the breaches of its losses,
    the loss table (accounts x scenarios), each breached account's reasons, and the halt
    when every account is refused (None otherwise)."""

    result: object  # tasks.portfolio.book.PortfolioResult
    stressed: object  # tasks.risk.stress.StressResult or None
    breaches: tuple
    table: pd.DataFrame
    breached: dict[str, list[str]]
    halt: GateHalt | None = None


def stress_accounts(
    ctx,
    panel,
    result,
    pcfg: PortfolioConfig,
    rcfg: RiskConfig,
    scfg: StressConfig,
    limits: StressLimits,
    accounts: Sequence,
    book: str | None = None,
) -> StressedAccounts:
    """Stress ``result``, record ``stress.completed`` and each account's ``gate.stress``.

    ``accounts`` (``tasks.portfolio.rebalance.accounts_of``) give what each account holds
    now (what a breached account keeps); ``book``: a book never published (its name in the
    subjects).

    Raises
    ------
    GateHalt
        Gate ``stress``: stressing failed (fail closed), after recording the halt.
    """
    from governance.decisions import decide
    from governance.decisions.pretrade import check_stress
    from governance.ground.errors import Gate
    from tasks.model.dataset import frame_to_parquet
    from tasks.portfolio.book import PortfolioResult, hold, write_rebalance
    from tasks.portfolio.rebalance import refusal
    from tasks.risk.record import record_stress, risk_inputs, store_files, stress
    from tasks.risk.sampling import sample_scenarios
    from tasks.risk.stress import account_losses, build_scenarios

    named_book = (book,) if book else ()
    subject = portfolio_subject(result.asof, result.source, *named_book)
    try:
        inputs = risk_inputs(panel, pcfg, rcfg, asof=result.asof)
        close = panel.close.loc[: inputs.asof]
        named, skipped = build_scenarios(close, panel.sectors, inputs.risk, scfg)
        sampled = sample_scenarios(inputs.window, scfg.sampled)
        table = account_losses(result.holdings(), named, sampled, scfg.sampled.tail)
        weights = result.book()
        res = stress(weights, panel, inputs, scfg)[0] if len(weights) else None
        breaches = tuple(check_stress(res.losses(), limits)) if res is not None else ()
    except Exception as exc:  # fail closed: no account trades on an unevaluated gate
        decide.failed(ctx, Gate.STRESS, exc, subject)
    held = {a.name: a.current for a in accounts}
    half_spread = pcfg.half_spread_bps * 1e-4
    books, breached = [], {}
    for acct in result.accounts:
        found = (
            []
            if acct.source == PortfolioSource.HOLD
            else check_stress(table.loc[acct.account].to_dict(), limits)
        )
        decided = decide.stress(
            ctx, found, portfolio_subject(result.asof, result.source, *named_book, acct.account),
            stops_run=False, account=acct.account,
            weights_sha256=result.artifacts.get("weights.json"),
        )  # fmt: skip
        if decided.halted:
            breached[acct.account] = [str(b) for b in found]
            reasons = tuple(f"{Gate.STRESS}: {b}" for b in found)  # the refusal's own
            acct = hold(acct.account, held.get(acct.account), reasons, half_spread, acct.stats)
        books.append(acct)
    frame = table.reset_index(names="account")
    shas = store_files(ctx, {"stress/accounts.parquet": frame_to_parquet(frame)})
    facts = {"source": result.source, "asof": result.asof, "accounts": len(books),
             "breached": breached}  # fmt: skip
    shas |= record_stress(ctx, res, skipped, limits, list(breaches), subject, facts, shas)
    if breached:
        result = write_rebalance(
            ctx.store, PortfolioResult(result.asof, result.source, tuple(books))
        )
    halt = refusal(result, Gate.STRESS) if breached and result.refused else None
    out = dataclasses.replace(result, artifacts={**result.artifacts, **shas})
    return StressedAccounts(out, res, breaches, table, breached, halt)
