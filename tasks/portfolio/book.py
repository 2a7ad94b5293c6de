"""A strategy's book: the rebalance artifacts, their one writer and one reader, and the
ledger entries that publish them.

A rebalance produces, for one account or for many, target weights, a trade list and the
solver's statistics. :func:`write_rebalance` stores them (content-addressed, named in the
ledger entries); :func:`read_rebalance` reads them back; :func:`latest_book` and
:func:`book_history` find a strategy's publications (``portfolio.published`` entries,
subject ``book:<strategy>``). The next rebalance, monitoring and the risk reports read
through these, so a strategy never sees another strategy's holdings.

============== ===========================================================================
name           content
============== ===========================================================================
weights.csv    ``asset,weight`` (one account) or ``account,asset,weight`` (many)
weights.json   ``{"asof", "source", "accounts": [{"account", "weights": {asset: weight}}]}``
trades.csv     ``[account,]asset,current,target,change,estimated_cost``
trades.json    the trade rows as a JSON list, each with its ``account``
solver.json    ``{"asof", "source", "accounts": [{"account", "source", "reasons", "stats"}]}``
               (solver statistics, or the fallback's reason)
holdings.json  ``{"asof", "accounts": [{"account", "value", "shares", "prices", "weights"}]}``:
               what the account holds once fills are imported (``holdings.reconciled``)
============== ===========================================================================

Once fills are imported (``alphagate fills import``, ``tasks.orders``), the strategy holds
what was filled, not its targets: :func:`current_holdings` reads whichever of its last
publication and its last ``holdings.reconciled`` entry is later, and :func:`held_shares`
the shares the next orders start from.

Every rebalance is a list of accounts (``tasks.portfolio.rebalance``): one account is the
list of one, named :data:`MAIN`; the configured accounts are named by the config. The
single-account files (``weights.csv`` as ``asset,weight``, ``trades.csv`` without the
``account`` column) are a view of a book whose only account is :data:`MAIN`
(:attr:`PortfolioResult.many`). Accounts are lists, in the configured order (canonical
JSON sorts object keys).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd

from governance.ground.canonical import canonical_json, to_jsonable
from governance.ground.vocabulary import Action, Subject
from governance.policy.schema import PortfolioSource

MAIN = "main"
TRADE_COLUMNS = ["asset", "current", "target", "change", "estimated_cost"]


@dataclass(frozen=True)
class AccountBook:
    """One account's target.

    Attributes
    ----------
    account : str
    weights : Series
        Target weights by asset.
    trades : DataFrame
        :data:`TRADE_COLUMNS`, one row per asset.
    source : str
        ``model``, ``fallback``, or ``hold`` (refused: keeps what it holds, ``reasons`` say
        why).
    reasons : tuple of str
    stats : dict
        Solver statistics (``Solution.stats()``), or the fallback's reason.
    """

    account: str
    weights: pd.Series
    trades: pd.DataFrame
    source: str
    reasons: tuple[str, ...] = ()
    stats: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PortfolioResult:
    """A rebalance's targets for one account or many, and their artifacts.

    ``weights``, ``trades`` and ``stats`` read one account's figures directly; with many
    accounts, ``weights`` is indexed by (account, asset), ``trades`` has an ``account``
    column and ``stats`` is ``{"accounts": [{account, source, reasons}, ...]}``.
    """

    asof: str
    source: str
    accounts: tuple[AccountBook, ...]
    artifacts: dict[str, str] = field(default_factory=dict)

    @property
    def many(self) -> bool:
        """False for the book of one account named :data:`MAIN` (the single-account view
        of its files), True otherwise."""
        return [a.account for a in self.accounts] != [MAIN]

    @property
    def refused(self) -> bool:
        """True when every account holds (``hold``: each refused by a gate or its solve)."""
        return all(a.source == PortfolioSource.HOLD for a in self.accounts)

    @property
    def weights(self) -> pd.Series:
        if not self.many:
            return self.accounts[0].weights
        return pd.concat(
            {a.account: a.weights.rename("weight") for a in self.accounts},
            names=["account", "asset"],
        )

    @property
    def trades(self) -> pd.DataFrame:
        if not self.many:
            return self.accounts[0].trades
        frame = pd.concat(
            [a.trades.assign(account=a.account) for a in self.accounts], ignore_index=True
        )
        return frame[["account", *TRADE_COLUMNS]]

    @property
    def stats(self) -> dict:
        if not self.many:
            return self.accounts[0].stats
        return {"accounts": self.summary()}

    def summary(self) -> list[dict]:
        """``[{account, source, reasons}]``: what each account did."""
        return [
            {"account": a.account, "source": a.source, "reasons": list(a.reasons)}
            for a in self.accounts
        ]

    def holdings(self) -> dict[str, pd.Series]:
        """account -> target weights (what the next rebalance starts from)."""
        return {a.account: a.weights for a in self.accounts}

    def book(self) -> pd.Series:
        """The strategy's book: one account's weights, or the equal-weighted average of many
        (each account sums to the budget, so the average does too: the book that the
        model and risk model shared by all accounts drive). Empty when nothing is held."""
        held = [w for w in self.holdings().values() if len(w)]
        if not held:
            return pd.Series(dtype=float, name="weight")
        if len(held) == 1:
            return held[0].astype(float).rename("weight")
        return pd.concat(held, axis=1).fillna(0.0).mean(axis=1).rename("weight")


def trade_list(
    current: pd.Series | None,
    target: pd.Series,
    half_spread: float,
    impact: pd.Series | None = None,
) -> pd.DataFrame:
    """One row per asset: current, target, change and estimated cost (fraction of value).

    Assets in either vector appear; a missing weight is 0. The cost is the optimiser's
    model (:func:`tasks.portfolio.costs.trading_costs`).
    """
    from tasks.portfolio.costs import trading_costs

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


def hold(
    account: str,
    current: pd.Series | None,
    reasons: tuple[str, ...],
    half_spread: float,
    stats: dict | None = None,
) -> AccountBook:
    """A refused account's book: it keeps what it holds (``current``; nothing when it holds
    nothing), trades nothing, and says why (``reasons``): the one rule for an account whose
    solve failed or whose pre-trade or stress gate halted, beside the accounts that trade."""
    held = pd.Series(dtype=float) if current is None else current.astype(float)
    trades = trade_list(held, held, half_spread)
    return AccountBook(account, held, trades, PortfolioSource.HOLD, tuple(reasons), stats or {})


def rebalance_files(result: PortfolioResult) -> dict[str, bytes]:
    """The artifact files of a rebalance (module docstring), as bytes."""
    weights = result.weights.rename("weight").reset_index()
    if not result.many:
        weights.columns = ["asset", "weight"]
    rows = [a.trades.assign(account=a.account) for a in result.accounts]
    trades = pd.concat(rows, ignore_index=True)[["account", *TRADE_COLUMNS]]
    head = {"asof": result.asof, "source": result.source}
    accounts = [
        {
            "account": a.account,
            "weights": dict(zip(a.weights.index.astype(str), a.weights.astype(float), strict=True)),
        }
        for a in result.accounts
    ]
    solver = [
        {"account": a.account, "source": a.source, "reasons": list(a.reasons), "stats": a.stats}
        for a in result.accounts
    ]
    return {
        "weights.csv": weights.to_csv(index=False, float_format="%.10g").encode(),
        "weights.json": canonical_json({**head, "accounts": to_jsonable(accounts)}),
        "trades.csv": (trades if result.many else trades.drop(columns="account"))
        .to_csv(index=False, float_format="%.10g")
        .encode(),
        "trades.json": canonical_json(to_jsonable(trades.to_dict(orient="records"))),
        "solver.json": canonical_json({**head, "accounts": to_jsonable(solver)}),
    }


def write_rebalance(store, result: PortfolioResult) -> PortfolioResult:
    """Store :func:`rebalance_files`; return ``result`` with ``artifacts`` (name -> sha)."""
    shas = {name: store.put_bytes(data) for name, data in rebalance_files(result).items()}
    return PortfolioResult(result.asof, result.source, result.accounts, shas)


def read_rebalance(store, artifacts: dict[str, str]) -> PortfolioResult:
    """The :class:`PortfolioResult` a rebalance stored (hashes verified by the store)."""
    weights = store.read_json(artifacts["weights.json"])
    solver = store.read_json(artifacts["solver.json"])
    trades = pd.DataFrame(store.read_json(artifacts["trades.json"]))
    solved = {a["account"]: a for a in solver["accounts"]}
    books = []
    for doc in weights["accounts"]:
        name, own = doc["account"], solved.get(doc["account"], {})
        rows = trades[trades["account"] == name] if len(trades) else trades
        books.append(
            AccountBook(
                account=name,
                weights=pd.Series(doc["weights"], dtype=float, name="weight"),
                trades=rows.reindex(columns=TRADE_COLUMNS).reset_index(drop=True),
                source=own.get("source", weights["source"]),
                reasons=tuple(own.get("reasons", ())),
                stats=own.get("stats", {}),
            )
        )
    return PortfolioResult(weights["asof"], weights["source"], tuple(books), artifacts)


def publish(ctx, result: PortfolioResult, strategy: str, payload: dict, *, if_armed=False):
    """Record ``portfolio.published`` of ``strategy``'s book (subject ``book:<strategy>``).

    With ``if_armed`` the switch that governs the strategy (the workspace-wide one, else the
    strategy's own) is re-checked in the recording transaction
    (:func:`governance.decisions.killswitch.record_if_armed`): None, nothing recorded, when tripped.
    """
    from governance.decisions.killswitch import record_if_armed

    body = {"strategy": strategy, "source": result.source, "asof": result.asof, **payload}
    record = partial(record_if_armed, ctx, strategy=strategy) if if_armed else ctx.record
    return record(
        Action.PORTFOLIO_PUBLISHED,
        subject=Subject.book(strategy),
        payload=body,
        artifacts=result.artifacts,
    )


def publications(ledger, strategy: str) -> list:
    """The strategy's ``portfolio.published`` entries that are books, in seq order: each
    re-checked as it is read (governance/audit/books.py), so a publication anyone appended
    naming weights the pre-trade gate never passed, or a model that was not the champion,
    is never the book."""
    from governance.audit.books import Books

    entries = ledger.entries(action=Action.PORTFOLIO_PUBLISHED, subject=Subject.book(strategy))
    return Books(ledger, ledger.store, strategy).holding(entries)


def latest_publication(ledger, strategy: str):
    """The strategy's last ``portfolio.published`` entry that is a book, or None."""
    from governance.audit.books import Books

    entries = ledger.entries(action=Action.PORTFOLIO_PUBLISHED, subject=Subject.book(strategy))
    return Books(ledger, ledger.store, strategy).last(entries)


def latest_book(ledger, store, strategy: str) -> PortfolioResult | None:
    """The strategy's last published rebalance, or None before its first."""
    entry = latest_publication(ledger, strategy)
    if entry is None:
        return None
    return read_rebalance(store, entry.payload["artifacts"])


def holdings_file(asof: str, accounts: list[dict]) -> bytes:
    """``holdings.json`` (module docstring): per account its ``value``, ``shares``,
    ``prices`` (the mark of each position) and ``weights`` (shares x price / value)."""
    return canonical_json({"asof": asof, "accounts": to_jsonable(accounts)})


def latest_holdings(ledger, store, strategy: str) -> dict | None:
    """The strategy's last reconciled ``holdings.json``, or None before its first fills."""
    entry = ledger.last(action=Action.HOLDINGS_RECONCILED, subject=Subject.book(strategy))
    return None if entry is None else store.read_json(entry.payload["artifacts"]["holdings.json"])


def held_shares(ledger, store, strategy: str) -> dict[str, pd.Series]:
    """account -> shares held (int) after the last fills import (empty before it)."""
    doc = latest_holdings(ledger, store, strategy)
    if doc is None:
        return {}
    return {a["account"]: pd.Series(a["shares"], dtype=np.int64) for a in doc["accounts"]}


def current_holdings(ledger, store, strategy: str) -> dict[str, pd.Series]:
    """account -> weights held now by ``strategy``: the targets of its last publication, or
    what its last fills import left when that is later (empty before either)."""
    published = latest_publication(ledger, strategy)
    filled = ledger.last(action=Action.HOLDINGS_RECONCILED, subject=Subject.book(strategy))
    if filled is not None and (published is None or filled.seq > published.seq):
        doc = store.read_json(filled.payload["artifacts"]["holdings.json"])
        return {a["account"]: pd.Series(a["weights"], dtype=float) for a in doc["accounts"]}
    book = None if published is None else read_rebalance(store, published.payload["artifacts"])
    return {} if book is None else book.holdings()


def book_history(ledger, store, strategy: str) -> pd.DataFrame:
    """Dates × assets: :meth:`PortfolioResult.book` of each of ``strategy``'s publications.

    A later publication on the same date replaces an earlier one; empty when nothing was
    published.
    """
    rows: dict[pd.Timestamp, pd.Series] = {}
    for e in publications(ledger, strategy):
        book = read_rebalance(store, e.payload["artifacts"]).book()
        if len(book):
            rows[pd.Timestamp(e.payload["asof"])] = book
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows).T.sort_index().fillna(0.0).astype(np.float64)
