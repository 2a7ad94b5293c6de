"""A fills import: reconcile the fills with the last order set sent, analyse their cost,
and record the holdings they leave (``holdings.reconciled``, tasks/portfolio/book.py).

Fills count once: an execution id imported before for the same order set is refused
(exit 2, naming the line), so a file imported twice moves nothing twice. Later imports
for the same order set add to the earlier ones (partial fills arriving over the day).
Realised cost above the cost model's estimate by more than the tier's margin raises a
finding on the model version whose book was traded (tasks/orders/cost_finding.py), after
``holdings.reconciled`` names the version in its ``cost_check``.
"""

from __future__ import annotations

import pandas as pd

from governance.ground.canonical import canonical_json, to_jsonable
from governance.ground.errors import InputError
from governance.ground.vocabulary import Action, Subject
from tasks.model.dataset import frame_to_parquet
from tasks.orders.cost_finding import cost_check, finding_version, raise_cost_finding
from tasks.orders.fills import FILL_FIELDS, positions_after, reconcile
from tasks.orders.orders import read_frame, read_orders
from tasks.orders.plan import holdings_after, marks
from tasks.orders.plots import shortfall_png
from tasks.orders.record import last_sent
from tasks.orders.shortfall import rebalance_shortfall, shortfall
from tasks.portfolio.book import holdings_file

#: Findings listed in the ledger entry itself (all of them are in reconciliation.json).
LISTED = 20


def _earlier(ledger, store, strategy: str, sent_seq: int):
    """The reconciled entries before the order set (the last is what it was built from)
    and the fills already imported for it."""
    before, prior = None, []
    for e in ledger.entries(action=Action.HOLDINGS_RECONCILED, subject=Subject.book(strategy)):
        if e.seq < sent_seq:
            before = e
        elif e.payload.get("orders_seq") == sent_seq:
            prior.append(read_frame(store, e.artifacts["fills.parquet"]))
    doc = None if before is None else store.read_json(before.artifacts["holdings.json"])
    return doc, prior


def _held(doc: dict | None) -> pd.DataFrame:
    rows = [
        {"account": a["account"], "asset": asset, "shares": int(n)}
        for a in (doc or {"accounts": []})["accounts"]
        for asset, n in a["shares"].items()
    ]
    return pd.DataFrame(rows, columns=["account", "asset", "shares"])


def reconcile_import(ctx, strategy: str, fills: pd.DataFrame, cfg, limits) -> tuple:
    """Reconcile ``fills`` (from :func:`tasks.orders.fills.read_fills`), record
    ``holdings.reconciled`` through ``ctx``; return its artifacts and the summary note's
    facts."""
    sent = last_sent(ctx.ledger, strategy)
    if sent is None:
        raise InputError(f"fills: strategy {strategy} has no orders sent to reconcile against")
    orders = read_orders(ctx.store, sent.artifacts)
    doc, prior = _earlier(ctx.ledger, ctx.store, strategy, sent.seq)
    seen = set().union(*(set(p["exec_id"]) for p in prior)) if prior else set()
    again = fills[fills["exec_id"].isin(seen)]
    if len(again):
        first = again.iloc[0]
        raise InputError(f"{first['line']}: exec_id {first['exec_id']} was imported before")
    new = fills[FILL_FIELDS].reset_index(drop=True)
    every = pd.concat([*prior, new], ignore_index=True)
    rec = reconcile(orders, every)
    positions = positions_after(_held(doc), rec.applied)
    accounts = list(dict.fromkeys([*(a["account"] for a in (doc or {"accounts": []})["accounts"]),
                                   *orders["account"]]))  # fmt: skip
    value = cfg.portfolio_value
    held = holdings_after(positions, marks(orders, every, doc), value, accounts)
    per_order = shortfall(orders, rec.applied)
    cost = rebalance_shortfall(per_order)
    check = cost_check(cost, limits.max_cost_excess_bp)
    held_by = finding_version(ctx.ledger, strategy, sent) if check["breach"] else None
    version = held_by.version_text if held_by else None  # recorded as a string
    files = {
        "fills.parquet": frame_to_parquet(new),
        "reconciliation.json": canonical_json(to_jsonable(
            {"orders": rec.orders.to_dict("records"), "findings": rec.findings}
        )),
        "shortfall.parquet": frame_to_parquet(per_order),
        "shortfall.png": shortfall_png(per_order, cost, strategy),
        "holdings.json": holdings_file(sent.payload["asof"], held),
    }  # fmt: skip
    shas = {name: ctx.store.put_bytes(data) for name, data in files.items()}
    checks = pd.Series([f["check"] for f in rec.findings], dtype=str).value_counts().to_dict()
    payload = {
        "strategy": strategy, "orders_seq": sent.seq, "fills": len(new),
        "status": rec.counts(), "findings": checks,
        "listed_findings": rec.findings[:LISTED], "shortfall": cost,
        "cost_check": {**check, "finding_version": version},
    }  # fmt: skip
    entry = ctx.record(Action.HOLDINGS_RECONCILED, subject=Subject.book(strategy), payload=payload,
                       artifacts=shas)  # fmt: skip
    raised = raise_cost_finding(
        ctx.ledger, held_by, check, cost, cfg,
        {"strategy": strategy, "reconciled_seq": entry.seq, "orders_seq": sent.seq},
    )  # fmt: skip
    reasons = [f"{n} {c}" for c, n in checks.items()]
    if check["breach"]:
        held = (
            f"finding {', '.join(raised)} raised on {strategy} v{version}" if raised
            else f"a finding about this cost model stands on {strategy} v{version}" if version
            else f"no model version of {strategy} to hold a finding"
        )  # fmt: skip
        reasons.append(
            f"cost model: realised {cost['shortfall_bp']:.1f} bp exceeds the estimate "
            f"{cost['estimated_bp']:.1f} bp by more than {limits.max_cost_excess_bp:g} bp; " + held
        )
    return shas, {
        "headline": f"{len(new)} fills against {len(orders)} orders; "
        + ", ".join(f"{n} {s}" for s, n in rec.counts().items()),
        "details": reasons,
        "fills": len(new),
        "reconciled_seq": entry.seq,
        "findings": checks,
        "shortfall": cost,
        "cost_check": {**check, "finding_version": version},
        "findings_raised": raised,
    }
