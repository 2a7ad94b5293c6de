"""The kill switch under concurrency, with real processes (SQLite and PostgreSQL).

Each round starts two spawned processes behind a barrier, so that their transactions race:

- two risk officers resetting a tripped switch at once complete exactly one reset (one
  ``reset_pending`` then one ``reset``), never "2 of 2 pending";
- a trip racing the second officer's reset leaves the switch tripped whichever commits first;
- a publisher recording ``portfolio.published`` through :func:`killswitch.record_if_armed`
  while another process trips the switch never records a portfolio after the trip.
"""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest
from test_ledger_support import BACKENDS, backend_url

from governance.decisions import killswitch
from governance.decisions.context import RunContext
from governance.ground.artifacts import ArtifactStore
from governance.ground.errors import Forbidden, InputError
from governance.ground.vocabulary import Action, Subject
from governance.ground.workspace import Workspace
from governance.log.ledger import Ledger
from governance.policy.schema import load_policy
from tests.helpers_identity import enrol_cast, keyring_signer

ROLES = {"dana": "developer", "rita": "risk_officer", "omar": "risk_officer"}

REPO = Path(__file__).resolve().parents[1]
ROUNDS = 4
PUBLISHES = 60
TIMEOUT_S = 300


def _open(url: str, home: str) -> tuple[Ledger, Workspace]:
    ws = Workspace(Path(home))
    return Ledger(url, ArtifactStore.of(ws)), ws


def _reset(url: str, home: str, officer: str, barrier) -> str:
    tier = load_policy(REPO / "configs" / "policy.yaml")[0].tier("high")
    ledger, ws = _open(url, home)
    with ledger:
        barrier.wait(TIMEOUT_S)
        try:
            state = killswitch.reset(ledger, _signer(ws, officer), "fixed", "INC-7", tier)
        except (Forbidden, InputError) as exc:
            return f"refused: {exc}"
    return state.state.value


def _trip(url: str, home: str, user: str, barrier) -> str:
    ledger, ws = _open(url, home)
    with ledger:
        barrier.wait(TIMEOUT_S)
        return killswitch.trip(ledger, _signer(ws, user), "breach again").state.value


def _signer(ws: Workspace, name: str):
    return keyring_signer(ws, name, ROLES[name])


def _publish_until_tripped(url: str, home: str, barrier) -> int:
    ledger, ws = _open(url, home)
    ctx = RunContext(ws, ledger, ledger.store, "alphagate", "system", None, "publisher")
    with ledger:
        barrier.wait(TIMEOUT_S)
        done = 0
        for i in range(PUBLISHES):
            entry = killswitch.record_if_armed(
                ctx,
                Action.PORTFOLIO_PUBLISHED,
                subject=f"portfolio:{i}",
                payload={"source": "model"},
            )
            done += entry is not None
    return done


@pytest.fixture(scope="module")
def pool():
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(2) as workers:
        yield workers, manager


@pytest.fixture(params=BACKENDS)
def setup(request, workspace, monkeypatch):
    with backend_url(request, request.param, workspace, monkeypatch) as url:
        enrol_cast(workspace)
        with Ledger(url, ArtifactStore.of(workspace)) as ledger:
            yield url, str(workspace.home), ledger


def race(pool, *calls):
    workers, manager = pool
    barrier = manager.Barrier(len(calls))
    jobs = [workers.apply_async(fn, (*args, barrier)) for fn, *args in calls]
    return [job.get(TIMEOUT_S) for job in jobs]


def test_two_officers_resetting_at_once_complete_exactly_one_reset(pool, setup):
    url, home, ledger = setup
    for _ in range(ROUNDS):
        killswitch.trip(ledger, _signer(Workspace(Path(home)), "dana"), "drawdown")
        outcomes = race(pool, (_reset, url, home, "rita"), (_reset, url, home, "omar"))
        assert sorted(outcomes) == ["armed", "tripped"], outcomes
        assert killswitch.status(ledger).state is killswitch.SwitchState.ARMED
    actions = [e.action for e in ledger.entries(subject=Subject.KILLSWITCH)]
    one_round = [
        Action.KILLSWITCH_TRIPPED,
        Action.KILLSWITCH_RESET_PENDING,
        Action.KILLSWITCH_RESET,
    ]
    assert actions == one_round * ROUNDS


def test_a_trip_racing_the_completing_reset_leaves_the_switch_tripped(pool, setup):
    url, home, ledger = setup
    tier = load_policy(REPO / "configs" / "policy.yaml")[0].tier("high")
    ws = Workspace(Path(home))
    for _ in range(ROUNDS):
        killswitch.trip(ledger, _signer(ws, "dana"), "drawdown")
        killswitch.reset(ledger, _signer(ws, "rita"), "fixed", "INC-7", tier)  # 1 of 2
        race(pool, (_reset, url, home, "omar"), (_trip, url, home, "dana"))
        state = killswitch.status(ledger)
        assert state.tripped, state
        # Put the switch back to armed for the next round, through the two officers.
        while killswitch.status(ledger).tripped:
            pending = killswitch.status(ledger).pending_reset or {"officers": []}
            officer = "omar" if "rita" in pending["officers"] else "rita"
            killswitch.reset(ledger, _signer(ws, officer), "fixed", "INC-8", tier)


def test_no_model_portfolio_is_recorded_after_a_trip(pool, setup):
    url, home, ledger = setup
    race(pool, (_publish_until_tripped, url, home), (_trip, url, home, "dana"))
    trip = ledger.last(action=Action.KILLSWITCH_TRIPPED)
    published = ledger.entries(action=Action.PORTFOLIO_PUBLISHED)
    assert all(e.seq < trip.seq for e in published)
    assert ledger.verify().ok
