"""A kill switch tripped after publication stops the sending, with real processes.

One spawned process sends order sets (:func:`tasks.orders.record.send_order_set`: the kill
switch re-checked in the transaction that records ``orders.sent``, the outbox written only
after) while another trips the switch, both released by one barrier (as
tests/test_killswitch_concurrency.py races the publisher). Whatever the interleaving, no
``orders.sent`` entry follows the trip and the outbox holds exactly the sets recorded. The
tripper waits for the first ``orders.sent`` so that the trip falls inside the sending.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
from pathlib import Path

import pandas as pd
import pytest
from test_ledger_support import BACKENDS, backend_url

from governance.decisions import killswitch
from governance.decisions.context import RunContext
from governance.ground.artifacts import ArtifactStore
from governance.ground.vocabulary import Action
from governance.ground.workspace import Workspace
from governance.log.ledger import Ledger
from tasks.orders.fix import order_messages
from tasks.orders.instruments import default_instruments
from tasks.orders.orders import build_orders, order_files
from tasks.orders.record import Outbox, send_order_set
from tests.helpers_identity import enrol_cast, keyring_signer

SENDS = 200
TIMEOUT_S = 300
STRATEGY = "race-book"


def _files() -> dict[str, bytes]:
    prices = pd.Series({"A": 10.0, "B": 20.0})
    table = default_instruments().for_assets(prices.index)
    order_set = build_orders({"main": pd.Series({"A": 0.5, "B": 0.5})}, {}, prices, table,
                             1e6, asof="2024-01-02", book={"seq": 1, "hash": "ab" * 32})  # fmt: skip
    return {**order_files(order_set), "orders.fix": order_messages(order_set.orders)}


def _send_until_tripped(url: str, home: str, outbox: str, barrier) -> int:
    ws = Workspace(Path(home))
    ledger = Ledger(url, ArtifactStore.of(ws))
    ctx = RunContext(ws, ledger, ledger.store, "alphagate", "system", None, "sender")
    files = _files()
    with ledger:
        barrier.wait(TIMEOUT_S)
        sent = 0
        for i in range(SENDS):
            entry, _ = send_order_set(
                dataclasses.replace(ctx, run_key=f"send-{i}"), STRATEGY, files,
                {"strategy": STRATEGY, "gross_notional": 1e6}, Outbox(Path(outbox)),
            )  # fmt: skip
            sent += entry is not None
    return sent


def _trip(url: str, home: str, barrier) -> str:
    """Trip once the sender has sent its first set, so that the trip lands mid-sending."""
    ws = Workspace(Path(home))
    ledger = Ledger(url, ArtifactStore.of(ws))
    with ledger:
        barrier.wait(TIMEOUT_S)
        while ledger.last(action=Action.ORDERS_SENT) is None:
            pass
        return killswitch.trip(ledger, keyring_signer(ws, "rita", "risk_officer"), "drill").state


@pytest.fixture(params=BACKENDS)
def setup(request, workspace, monkeypatch):
    with backend_url(request, request.param, workspace, monkeypatch) as url:
        enrol_cast(workspace)
        with Ledger(url, ArtifactStore.of(workspace)) as ledger:
            yield url, str(workspace.home), ledger


def test_no_order_set_is_recorded_or_sent_after_a_trip(setup, tmp_path):
    url, home, ledger = setup
    outbox = tmp_path / "outbox"
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(2) as pool:
        barrier = manager.Barrier(2)
        sender = pool.apply_async(_send_until_tripped, (url, home, str(outbox), barrier))
        tripper = pool.apply_async(_trip, (url, home, barrier))
        sent, state = sender.get(TIMEOUT_S), tripper.get(TIMEOUT_S)
    assert state == "tripped" and sent >= 1
    trip = ledger.last(action=Action.KILLSWITCH_TRIPPED)
    recorded = list(ledger.entries(action=Action.ORDERS_SENT))
    assert len(recorded) == sent
    assert all(e.seq < trip.seq for e in recorded)
    folders = sorted(p.name for p in outbox.iterdir()) if outbox.exists() else []
    assert folders == [f"{e.seq:08d}" for e in recorded]
    assert all((outbox / f / "orders.fix").is_file() for f in folders)
    # and once tripped, a send is refused outright: nothing recorded, nothing written
    again = RunContext(Workspace(Path(home)), ledger, ledger.store, "alphagate", "system", None,
                       "after")  # fmt: skip
    entry, paths = send_order_set(again, STRATEGY, _files(), {}, Outbox(outbox))
    assert entry is None and paths == {}
    assert sorted(p.name for p in outbox.iterdir()) == folders if folders else not outbox.exists()
    assert ledger.verify().ok
