"""The cost model's check after a fills import: "the cost model itself is then a finding".

Issue 25: when a rebalance's realised cost (implementation shortfall, notional-weighted:
:func:`tasks.orders.shortfall.rebalance_shortfall`) exceeds the cost model's pre-trade
estimate by more than the tier's ``orders.max_cost_excess_bp``, the cost model
(:mod:`tasks.portfolio.costs`, the portfolio config's ``half_spread_bps`` and
``impact_coefficient``) has understated what trading costs. :func:`cost_check` states the
comparison; :func:`raise_cost_finding` turns a breach into a finding of the register
(governance/findings/), raised once (:func:`governance.findings.escalation.raise_once`):

- check ``cost_model``, ``about`` the cost model's parameters (a changed cost model that
  breaches again is a new finding), severity warning, value the excess in bp, threshold the
  margin; ``origin`` ``fills``, with the ``holdings.reconciled`` and ``orders.sent`` seqs;
- held by the model version whose book the orders implemented (the ``portfolio.published``
  entry's ``model_version``): its validation and its optimiser priced trades with this
  cost model, so its net-of-cost figures rest on it. A fallback book has no version; the
  finding then goes to the strategy's champion (the ledger's last ``model.promoted`` of it),
  whose next books the same cost model will price. With neither, no version can hold it:
  the breach stays in ``holdings.reconciled``'s ``cost_check`` (``finding_version`` None)
  and in the run summary.

What this check cannot tell apart: the shortfall is measured from the decision price, so
it includes the market's move between the decision and the fill. A one-sided basket
(say, all buys) on a day the market moves by more than the margin breaches while the cost
model may be right; the finding's message gives both figures so a reviewer can judge it.
"""

from __future__ import annotations

from governance.findings.escalation import finding, raise_once
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action, Subject
from governance.registry.champion import champion

#: The finding's check name in the register.
CHECK = "cost_model"


def cost_check(cost: dict, limit_bp: float) -> dict:
    """``{"excess_bp", "limit_bp", "breach"}`` of a rebalance's cost (``rebalance_shortfall``):
    a breach when some order filled and realised minus estimated bp exceeds ``limit_bp``."""
    excess = (cost.get("shortfall_bp") or 0.0) - (cost.get("estimated_bp") or 0.0)
    return {"excess_bp": excess, "limit_bp": float(limit_bp),
            "breach": bool(cost.get("orders", 0) > 0 and excess > limit_bp)}  # fmt: skip


def cost_model_about(cfg) -> str:
    """The cost model a finding is about: the portfolio config's cost parameters."""
    return f"half_spread_bps={cfg.half_spread_bps:g}, impact_coefficient={cfg.impact_coefficient:g}"


def finding_version(ledger, strategy: str, sent) -> ModelRef | None:
    """The model version that holds a cost-model finding of the order set ``sent`` (module
    docstring): the version that drove its book, else the strategy's last promoted, else
    None."""
    book = sent.payload.get("book") or {}
    seq = book.get("seq")
    found = [] if seq is None else ledger.entries_between(int(seq), int(seq))
    for e in found:  # the book the orders name, by seq and hash
        if (e.action, e.subject, e.entry_hash) == (
            Action.PORTFOLIO_PUBLISHED, Subject.book(strategy), book.get("hash"),
        ) and e.payload.get("model_version") is not None:  # fmt: skip
            return ModelRef.recorded(strategy, e.payload["model_version"])
    promoted = champion(ledger, strategy)  # what the signed approvals make
    return None if promoted is None else promoted.ref


def cost_finding(check: dict, cost: dict, cfg) -> dict:
    """The finding of a breached :func:`cost_check` (``escalation.finding``)."""
    return finding(
        CHECK,
        f"cost model understates trading cost: realised {cost['shortfall_bp']:.1f} bp against "
        f"the estimate {cost['estimated_bp']:.1f} bp, {check['excess_bp']:.1f} bp over the "
        f"margin of {check['limit_bp']:g} bp, on {cost['orders']} filled orders "
        f"({cost['notional']:,.0f} notional)",
        about=cost_model_about(cfg),
        value=check["excess_bp"],
        threshold=check["limit_bp"],
    )


def raise_cost_finding(
    ledger, ref: ModelRef | None, check: dict, cost: dict, cfg, evidence: dict
) -> list[str]:
    """Raise the cost-model finding on the version ``ref`` when ``check`` breached and no
    finding about the same cost model stands there already; the ids raised (empty otherwise)."""
    if not check["breach"] or ref is None:
        return []
    raised = raise_once(
        ledger, ref, [cost_finding(check, cost, cfg)], origin="fills",
        evidence=evidence,
    )  # fmt: skip
    return [r.id for r in raised]
