"""Whether a ``portfolio.published`` entry is a book the rebalance could have published
(issue 22, "derived state is derived").

A publication is the run's unsigned record of a computation: anyone who can append to the
ledger (its own ``Ledger.append``, or SQL) can write one naming any weights and any model
version. So the readers of a strategy's book (``tasks.portfolio.book``: the book the next
rebalance starts from, its turnover and trades, status, risk, monitoring, orders) take only
publications that hold, re-checked each time they are read (:class:`Books`):

- a model portfolio names the version that was the strategy's champion at that point, as
  the signed approvals make it (governance/registry/champion.py), with no valid signed
  rejection of that version before it;
- every weight is finite and within ``[min_weight, max_weight]`` (``tolerance`` either
  side) of the tier the adopted policy in force then assigns the strategy: the pre-trade
  gate lets no model or fallback book past it otherwise.

``ledger verify`` names the first publication that fails (:func:`publications_hold`). A
``--sandbox`` workspace, or one with no genesis, has no adopted policy to judge by: its
publications stand.
"""

from __future__ import annotations

import math

from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action, Subject
from governance.identity.users import load_registry, valid_acts
from governance.log.chain import VerifyReport
from governance.policy.tiers import adopted_policies, in_force_at
from governance.registry.champion import document, promotions

#: The ``source`` of a publication the model drove (governance/policy/schema.py PortfolioSource).
MODEL = "model"


class Books:
    """The judge of one strategy's publications, built once per read."""

    def __init__(self, ledger, store, strategy: str):
        registry = load_registry(ledger)
        self.store, self.strategy = store, strategy
        # a sandbox, or a workspace never initialised (no genesis: nothing governs it, and
        # no deciding command runs there), has no adopted policy to judge by
        self.sandbox = registry.sandbox or registry.genesis_seq is None
        self.history = [] if self.sandbox else adopted_policies(ledger, registry)
        self.promotions = [] if self.sandbox else promotions(ledger, strategy, registry)
        rejections = valid_acts(registry, ledger.entries(action=Action.APPROVAL_REJECTED), None)
        self.rejected = {}  # version -> the first valid rejection's seq
        for e in rejections:
            if document(e).get("model_name") == strategy:
                self.rejected.setdefault(
                    ModelRef.recorded_number(document(e).get("model_version")), e.seq
                )

    def problem(self, entry) -> str | None:
        """Why ``entry`` (a ``portfolio.published`` of the strategy) is no book, or None."""
        if self.sandbox:
            return None
        p = entry.payload or {}
        where = f"portfolio.published (seq {entry.seq}) of {self.strategy!r}"
        if p.get("source") == MODEL:
            before = [x for x in self.promotions if x.seq < entry.seq]
            champ = before[-1] if before else None
            if champ is None or champ.version != ModelRef.recorded_number(p.get("model_version")):
                now = f"v{champ.version}" if champ else "none"
                return (
                    f"{where} names model v{p.get('model_version')}, but the champion the"
                    f" signed approvals made then was {now}"
                )
            refused = self.rejected.get(champ.version)
            if refused is not None and refused < entry.seq:
                return f"{where} names v{champ.version}, rejected at seq {refused}"
        policy = in_force_at(self.history, entry.seq)
        assigned = policy.assigned_tier(self.strategy) if policy is not None else None
        if assigned is None:
            return f"{where}: no adopted policy assigned the strategy a tier then"
        limits = policy.tiers[assigned].pretrade
        try:
            doc = self.store.read_json((p.get("artifacts") or {})["weights.json"])
            weights = [
                (a["account"], asset, float(w))
                for a in doc["accounts"]
                for asset, w in a["weights"].items()
            ]
        except Exception as exc:  # a missing or malformed artifact is no book either
            return f"{where}: its weights cannot be read ({type(exc).__name__}: {exc})"
        low, high = limits.min_weight - limits.tolerance, limits.max_weight + limits.tolerance
        for account, asset, w in weights:
            if not math.isfinite(w) or not low <= w <= high:
                return (
                    f"{where}: account {account} holds {w:.4g} of {asset}, outside the"
                    f" tier {assigned!r} limits [{limits.min_weight}, {limits.max_weight}]"
                    " the pre-trade gate enforces"
                )
        return None

    def holding(self, entries: list) -> list:
        """``entries`` without those that are no book (order kept)."""
        return [e for e in entries if self.problem(e) is None]

    def last(self, entries: list):
        """The last of ``entries`` that is a book, or None."""
        return next((e for e in reversed(entries) if self.problem(e) is None), None)


def publications_hold(ws, ledger) -> VerifyReport | None:
    """Integrity check: every strategy's publications are books (:class:`Books`)."""
    prefix = Subject.book("")
    by_strategy: dict[str, list] = {}
    for e in ledger.entries(action=Action.PORTFOLIO_PUBLISHED):
        if e.subject.startswith(prefix):
            by_strategy.setdefault(e.subject.removeprefix(prefix), []).append(e)
    problems = []
    for strategy, entries in sorted(by_strategy.items()):
        books = Books(ledger, ledger.store, strategy)
        problems += [(e.seq, why) for e in entries if (why := books.problem(e))]
    if not problems:
        return None
    seq, reason = min(problems)
    return VerifyReport(ok=False, entries=ledger.head()[0], first_bad_seq=seq, reason=reason)
