"""The stress gate of a book about to be published: one book, or many accounts.

:func:`stress_book` stresses one book (the model's, the fallback's, a paper book) under every
scenario of the ``stress:`` section, records ``stress.completed`` and ``gate.stress``, and
returns the book with the stress files added; a loss above the tier's ``stress`` limits is
a halt the caller enforces once it has noted the figures. :func:`stress_accounts` checks
each account of many on its own: one in breach holds what it has (``book.hold``, the one
rule for a refused account), the others go on. An error while stressing is a halt (fail
closed).

Ledger: ``stress.completed`` and ``gate.stress`` (subject ``portfolio:<asof>``, with
``:fallback`` for the fallback, ``:<account>`` or ``:<book>`` after it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pandas as pd

from governance.decisions.decide import Decided
from governance.ground.vocabulary import Action, Subject
from governance.policy.schema import PortfolioSource, StressLimits
from tasks.portfolio.config import PortfolioConfig
from tasks.risk.config import RiskConfig, StressConfig


def portfolio_subject(asof: str, source: str, *account: str) -> str:
    """``portfolio:<asof>``, with ``:fallback`` for the fallback (as the portfolio stage),
    then ``:<account>`` when one is named."""
    fallback = (Subject.FALLBACK,) if source == PortfolioSource.FALLBACK else ()
    return Subject.portfolio(asof, *fallback, *account)


@dataclass(frozen=True)
class StressedBook:
    """One stressed book: the book with its stress files, the recorded decision (enforce it
    after noting: ``decided.enforce()``), and the figures."""

    result: object  # tasks.portfolio.book.PortfolioResult
    decided: Decided
    stressed: object  # tasks.risk.stress.StressResult
    breaches: tuple = ()


def stress_book(
    ctx,
    panel,
    result,
    pcfg: PortfolioConfig,
    rcfg: RiskConfig,
    scfg: StressConfig,
    limits: StressLimits,
    subject: str,
) -> StressedBook:
    """Stress ``result`` (one book), record ``stress.completed`` and ``gate.stress``.

    The gate is recorded, not enforced: the caller notes the figures, then enforces
    ``decided`` (``GateHalt("stress")``).

    Raises
    ------
    GateHalt
        Gate ``stress``: stressing failed (fail closed), after recording the halt.
    """
    from governance.decisions import decide
    from governance.decisions.pretrade import check_stress
    from governance.ground.errors import Gate
    from tasks.risk.record import record_stress, risk_inputs, stress

    try:
        inputs = risk_inputs(panel, pcfg, rcfg, asof=result.asof)
        res, skipped = stress(result.weights, panel, inputs, scfg)
        breaches = check_stress(res.losses(), limits)
        facts = {"source": result.source, "asof": result.asof}
        shas = record_stress(ctx, res, skipped, limits, breaches, subject, facts)
    except Exception as exc:  # a gate that cannot be evaluated halts (fail closed)
        decide.failed(ctx, Gate.STRESS, exc, subject)
    decided = decide.stress(
        ctx, breaches, subject, stops_run=False,
        stress_summary_sha256=shas["stress/summary.json"],
        weights_sha256=result.artifacts.get("weights.json"),
    )  # fmt: skip
    book = dataclasses.replace(result, artifacts={**result.artifacts, **shas})
    return StressedBook(book, decided, res, tuple(breaches))


@dataclass(frozen=True)
class StressedAccounts:
    """Many stressed accounts: the books (an account in breach holds), the loss table
    (accounts x scenarios), the historical scenarios, and each breached account's reasons."""

    result: object  # tasks.portfolio.book.PortfolioResult (many)
    table: pd.DataFrame
    historical: tuple[str, ...]
    breached: dict[str, list[str]]


def stress_accounts(
    ctx,
    panel,
    result,
    pcfg: PortfolioConfig,
    rcfg: RiskConfig,
    scfg: StressConfig,
    limits: StressLimits,
    strategy: str,
) -> StressedAccounts:
    """Many accounts: each account's stressed losses against the tier's limits.

    Every account's loss in every scenario comes from two matrix products
    (``tasks.risk.stress.account_losses``); an account above a limit gets its own
    ``gate.stress`` halt (subject ``portfolio:<asof>:<account>``) and holds what it has,
    as an account refused by its pre-trade gate does, without stopping the others. One
    ``stress.completed`` records the table (``stress/accounts.parquet``).

    Raises
    ------
    GateHalt
        Gate ``stress``: stressing failed (fail closed: no account trades on an
        unevaluated gate), after recording the decision.
    """
    from governance.decisions import decide
    from governance.decisions.pretrade import check_stress
    from governance.ground.errors import Gate
    from tasks.model.dataset import frame_to_parquet
    from tasks.portfolio.accounts_rebalance import accounts_of
    from tasks.portfolio.book import PortfolioResult, current_holdings, hold, write_rebalance
    from tasks.risk.record import risk_inputs, store_files
    from tasks.risk.sampling import sample_scenarios
    from tasks.risk.stress import account_losses, build_scenarios

    subject = portfolio_subject(result.asof, result.source)
    try:
        inputs = risk_inputs(panel, pcfg, rcfg, asof=result.asof)
        close = panel.close.loc[: inputs.asof]
        named, skipped = build_scenarios(close, panel.sectors, inputs.risk, scfg)
        sampled = sample_scenarios(inputs.window, scfg.sampled)
        table = account_losses(result.holdings(), named, sampled, scfg.sampled.tail)
    except Exception as exc:  # fail closed: no account trades on an unevaluated gate
        decide.failed(ctx, Gate.STRESS, exc, subject)
    held = {
        a.name: a.current
        for a in accounts_of(pcfg, current_holdings(ctx.ledger, ctx.store, strategy))
    }
    books, breached = [], {}
    for book in result.accounts:
        breaches = (
            []
            if book.source == PortfolioSource.HOLD
            else check_stress(table.loc[book.account].to_dict(), limits)
        )
        account = portfolio_subject(result.asof, result.source, book.account)
        decided = decide.stress(ctx, breaches, account, stops_run=False, account=book.account)
        if decided.halted:
            breached[book.account] = [str(b) for b in breaches]
            reasons = (*book.reasons, *(f"stress: {b}" for b in breaches))
            half_spread = pcfg.half_spread_bps * 1e-4
            book = hold(book.account, held.get(book.account), reasons, half_spread, book.stats)
        books.append(book)
    historical = tuple(sc.name for sc in named if sc.kind.value == "historical")
    frame = table.reset_index(names="account")
    shas = store_files(ctx, {"stress/accounts.parquet": frame_to_parquet(frame)})
    payload = {"source": result.source, "asof": result.asof, "accounts": len(books),
               "breached": breached, "skipped_windows": skipped,
               "limits": limits.model_dump(mode="json")}  # fmt: skip
    ctx.record(Action.STRESS_COMPLETED, subject=subject, payload=payload, artifacts=shas)
    if breached:
        result = write_rebalance(
            ctx.store, PortfolioResult(result.asof, result.source, tuple(books), many=True)
        )
    book = dataclasses.replace(result, artifacts={**result.artifacts, **shas})
    return StressedAccounts(book, table, historical, breached)
