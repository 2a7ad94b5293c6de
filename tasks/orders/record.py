"""The orders room's ledger entries: what was sent, and what the fills left.

``orders.sent`` (subject ``book:<strategy>``) records an order set the pre-send gate let
through, with its files (``orders.parquet``, ``orders.csv``, ``residuals.json``,
``orders.fix``) and ``{"strategy", "book", "asof", "orders", "gross_notional",
"accounts", "blocked_accounts"}``. It is appended by :func:`send_order_set` in the same
transaction as the kill switch's re-check
(:func:`governance.decisions.killswitch.record_if_armed`), and only then does the sending
adapter (:class:`Outbox`) hand the files on: a trip between publication and sending stops
the orders.

``holdings.reconciled`` (same subject, ``Action.HOLDINGS_RECONCILED``) records a
fills import: the fills, the reconciliation, the shortfall and ``holdings.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from governance.decisions.killswitch import record_if_armed
from governance.ground.vocabulary import Action, Subject
from tasks.orders.orders import read_orders

#: The order set's files handed to the OMS (the store keeps every file).
OUTBOX_FILES = ("orders.fix", "orders.csv")


@dataclass(frozen=True)
class Outbox:
    """The shipped sending adapter: the order files, copied (re-hashed) from the store to
    ``folder/<seq>/``, where an OMS's file import picks them up. Another adapter is any
    object with the same ``send(store, seq, artifacts) -> dict[name, path]``."""

    folder: Path

    def send(self, store, seq: int, artifacts: dict[str, str]) -> dict[str, str]:
        wanted = {k: v for k, v in artifacts.items() if k in OUTBOX_FILES}
        return store.copy_out(Path(self.folder) / f"{seq:08d}", wanted)


def send_order_set(ctx, strategy: str, files: dict[str, bytes], payload: dict, adapter):
    """Store ``files``, record ``orders.sent`` if the switch governing ``strategy`` is armed,
    then hand the files to ``adapter``. Returns ``(entry, paths)``, ``(None, {})`` when the
    switch is tripped (nothing recorded, nothing sent)."""
    shas = {name: ctx.store.put_bytes(data) for name, data in files.items()}
    entry = record_if_armed(
        ctx, Action.ORDERS_SENT, subject=Subject.book(strategy), payload=payload, artifacts=shas,
        strategy=strategy,
    )  # fmt: skip
    if entry is None:
        return None, {}
    return entry, adapter.send(ctx.store, entry.seq, shas)


@dataclass(frozen=True)
class SentHistory:
    """What the strategy sent before: every order id, the orders inside the duplicate
    window, and today's (UTC) gross notional."""

    ids: frozenset
    recent: pd.DataFrame
    today: float


def _ts(entry) -> datetime:
    return datetime.fromisoformat(entry.ts.replace("Z", "+00:00")).astimezone(UTC)


def sent_history(ledger, store, strategy: str, window_minutes: float, now=None) -> SentHistory:
    """The strategy's ``orders.sent`` entries read back (order files re-hashed)."""
    now = now or datetime.now(UTC)
    ids, recent, today = set(), [], 0.0
    for e in ledger.entries(action=Action.ORDERS_SENT, subject=Subject.book(strategy)):
        orders = read_orders(store, e.artifacts)
        ids.update(orders["order_id"])
        at = _ts(e)
        if now - at <= timedelta(minutes=window_minutes):
            recent.append(orders[["order_id", "account", "asset", "side"]])
        if at.date() == now.date():
            today += float(e.payload.get("gross_notional", 0.0))
    frame = (
        pd.concat(recent, ignore_index=True)
        if recent
        else pd.DataFrame(columns=["order_id", "account", "asset", "side"])
    )
    return SentHistory(frozenset(ids), frame, today)


def last_sent(ledger, strategy: str):
    """The strategy's last ``orders.sent`` entry, or None."""
    return ledger.last(action=Action.ORDERS_SENT, subject=Subject.book(strategy))
