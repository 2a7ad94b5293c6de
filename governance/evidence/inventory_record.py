"""The inventory of record's columns (issue 27; SS1/23 principle 1, SR 26-2 "inventory").

For one model, beside what governance/evidence/inventory.py lists: the owner, the
accountable senior manager (SMF), purpose and users and the attestation status (signed acts,
governance/registry/stewardship.py); the materiality drivers (the value and accounts of the
strategy's latest book that holds, governance/audit/books.py; the tier) and complexity
(features, sources, distinct trials) with a score that *proposes* a tier — the adopted
policy still assigns it, under four eyes; the dependencies (price vendor, feature sources
with their contracts, the risk model, upstream models, vendor components with the versions
signed in ``model.trained``); and the lifecycle through model-level retirement (every
registered version retired by a signed act, governance/registry/retired.py).

The score's breakpoints are the adopted policy's ``materiality:`` section
(governance/policy/materiality.py; by default book value 0-3 at 1e7, 1e8, 1e9, accounts 0-2
at 10, 100, features 0-2 at 5, 20, one each for external feature sources and for more than
100 distinct trials; >= 5 proposes ``high``, >= 3 ``medium``, else ``low``).
"""

from __future__ import annotations

import datetime as dt

from governance.audit.books import Books
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action, Subject
from governance.policy.materiality import MaterialityPolicy
from governance.registry.change_control import trained_entry_of
from governance.registry.retired import retirements
from governance.registry.stewardship import attestation_status, owner_records

__all__ = ["materiality_score", "record_fields"]


def materiality_score(
    drivers: dict, complexity: dict, rule: MaterialityPolicy | None = None
) -> tuple[int, str]:
    """``(score, proposed tier)`` from the drivers and complexity under ``rule`` (the
    adopted policy's ``materiality:``; None: its defaults)."""
    rule = rule or MaterialityPolicy()
    score = rule.points(drivers, complexity)
    return score, rule.proposed(score)


def _book(ledger, store, name: str) -> dict:
    entries = ledger.entries(action=Action.PORTFOLIO_PUBLISHED, subject=Subject.book(name))
    last = Books(ledger, store, name).last(entries) if entries else None
    p = last.payload if last is not None else {}
    return {"book_value": p.get("book_value"), "accounts": p.get("accounts"),
            "risk_model": p.get("risk_model"), "seq": last.seq if last else None}  # fmt: skip


def _lifecycle(ledger, name: str, versions: list[int], champion: int | None) -> str:
    if champion:
        return "in_use"
    retired = retirements(ledger, name)
    return "retired" if versions and all(v in retired for v in versions) else "in_development"


def record_fields(
    ledger, store, focus: ModelRef, versions: list[int], champion: int | None,
    tier_name: str | None, tier, day: dt.date, materiality: MaterialityPolicy | None = None,
) -> dict:  # fmt: skip
    """The inventory of record's columns for the model of its row's ``focus`` version;
    ``materiality``: the breakpoints of the policy in force (None: the defaults)."""
    name = focus.name
    records = owner_records(ledger, name)
    trained = trained_entry_of(ledger, focus)
    t = trained.payload if trained is not None else {}
    components = t.get("components") or {}
    sources = [
        {k: s.get(k) for k in ("source", "contract", "version", "owner", "contract_sha256")}
        for s in t.get("sources") or []
    ]
    book = _book(ledger, store, name)
    drivers = {"book_value": book["book_value"], "accounts": book["accounts"], "tier": tier_name}
    complexity = {"features": len(t.get("features") or []), "sources": len(sources),
                  "trials_total": t.get("trials_total")}  # fmt: skip
    score, proposed = materiality_score(drivers, complexity, materiality)
    return {
        "owner": records[-1].to_json() if records else None,
        "attestation": attestation_status(ledger, name, tier.inventory.attestation_days, day),
        "model_type": "LightGBM regression (cross-sectional return forecast)" if t else None,
        "materiality": {
            "drivers": drivers,
            "complexity": complexity,
            "score": score,
            "proposed_tier": proposed,
        },
        "dependencies": {
            "price_vendor": components.get("price_vendor"),
            "sources": sources,
            "risk_model": book["risk_model"],
            "upstream_models": [],  # a model here takes market data and sources, no model
            "components": components.get("packages") or {},
            "python": components.get("python"),
            "trained_seq": trained.seq if trained is not None else None,
        },
        "lifecycle": _lifecycle(ledger, name, versions, champion),
    }
