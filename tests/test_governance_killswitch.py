"""Kill switch and policy through the CLI: two-officer reset, refusals recorded, exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.cli import main
from governance.decisions import killswitch
from governance.ground.vocabulary import Action
from governance.log.ledger import Ledger
from governance.policy.schema import load_policy
from tests.helpers_identity import POLICY, enrol_cast, signer

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def cfg(tmp_path, workspace, monkeypatch):
    """A run config next to a copy of the shipped policy; the enrolled test cast, whose
    keys the keyring holds (tests/helpers_identity.py)."""
    shutil.copy(POLICY, tmp_path / "policy.yaml")  # what enrol_cast adopts
    path = tmp_path / "run.yaml"
    path.write_text("policy: {file: policy.yaml, tier: high}\n")
    enrol_cast(workspace, monkeypatch=monkeypatch)
    return path


def _status(capsys) -> dict:
    capsys.readouterr()
    assert main(["killswitch", "status", "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _actions(ws, action):
    with Ledger.open(ws) as ledger:
        return ledger.entries(action=action)


def test_trip_and_two_officer_reset(cfg, workspace, capsys):
    assert _status(capsys)["state"] == "armed"
    assert main(["killswitch", "trip", "--as", "dana", "--reason", "drawdown"]) == 0
    st = _status(capsys)
    assert (st["state"], st["by"], st["reason"]) == ("tripped", "dana", "drawdown")
    assert st["since"] and st["pending_reset"] is None

    reset = [
        "killswitch",
        "reset",
        "--config",
        str(cfg),
        "--reason",
        "fixed",
        "--incident",
        "INC-1",
    ]
    assert main([*reset, "--as", "rita"]) == 0
    st = _status(capsys)
    assert st["state"] == "tripped" and st["pending_reset"]["officers"] == ["rita"]

    # the same officer twice is refused (exit 4) and recorded; the switch stays tripped
    assert main([*reset, "--as", "rita"]) == 4
    assert "rita" in capsys.readouterr().err
    # a developer cannot reset
    assert main([*reset, "--as", "dana"]) == 4
    refused = _actions(workspace, Action.KILLSWITCH_RESET_REFUSED)
    assert [(e.actor, e.role) for e in refused] == [("rita", "risk_officer"), ("dana", "developer")]
    assert _status(capsys)["state"] == "tripped"

    assert main([*reset, "--as", "omar"]) == 0
    st = _status(capsys)
    assert st["state"] == "armed" and st["by"] == "omar" and st["pending_reset"] is None
    done = _actions(workspace, Action.KILLSWITCH_RESET)
    assert done[-1].payload["officers"] == ["rita", "omar"]
    # resetting an armed switch is a usage error
    assert main([*reset, "--as", "rita"]) == 2


def test_single_person_reset_is_refused_and_incident_required(cfg, workspace, capsys):
    assert main(["killswitch", "trip", "--as", "rita", "--reason", "limit breach"]) == 0
    base = ["killswitch", "reset", "--config", str(cfg), "--reason", "ok"]
    assert main([*base, "--as", "rita"]) == 2  # high tier requires --incident
    assert "--incident" in capsys.readouterr().err
    assert main([*base, "--incident", "INC-9", "--as", "rita"]) == 0
    assert main([*base, "--incident", "INC-9", "--as", "rita"]) == 4
    assert _status(capsys)["state"] == "tripped"
    assert len(_actions(workspace, Action.KILLSWITCH_RESET_REFUSED)) == 1


def test_trip_needs_a_known_user_with_the_right_role(cfg, workspace, capsys, monkeypatch):
    monkeypatch.delenv("ALPHAGATE_USER", raising=False)
    with pytest.raises(SystemExit) as usage:  # no actor named: a usage error (exit 2)
        main(["killswitch", "trip", "--reason", "x"])
    assert usage.value.code == 2
    assert main(["killswitch", "trip", "--as", "mallory", "--reason", "x"]) == 4  # no key
    assert main(["killswitch", "trip", "--as", "vera", "--reason", "x"]) == 4  # validator
    assert _status(capsys)["state"] == "armed"


def test_automatic_trip_follows_policy_and_a_new_trip_voids_a_pending_reset(cfg, workspace):
    policy, _ = load_policy(cfg.parent / "policy.yaml")
    high, low = policy.tier("high"), policy.tier("low")
    with Ledger.open(workspace) as ledger:
        assert killswitch.auto_trip(ledger, low, "monitoring_breach", "psi 0.4") is None
        st = killswitch.auto_trip(ledger, high, "monitoring_breach", "psi 0.4", {"psi": 0.4})
        assert st.tripped and st.by == "alphagate" and st.trigger == "monitoring_breach"
        st = killswitch.reset(ledger, signer(workspace, "rita", ledger), "ok", "INC-2", high)
        assert st.pending_reset["officers"] == ["rita"]
        st = killswitch.trip(ledger, signer(workspace, "dana", ledger), "again")
        assert st.pending_reset is None and st.reason == "psi 0.4"
        with pytest.raises(Exception, match="trigger"):
            killswitch.trip(ledger, None, "no trigger")


def test_reset_refused_for_the_champions_developer(cfg, workspace):
    high = load_policy(cfg.parent / "policy.yaml")[0].tier("high")
    with Ledger.open(workspace) as ledger:
        killswitch.trip(ledger, signer(workspace, "rita", ledger), "x")
        from governance.ground.errors import Forbidden

        omar = signer(workspace, "omar", ledger)
        with pytest.raises(Forbidden, match="developed"):
            killswitch.reset(ledger, omar, "ok", "I", high, champion_developer="omar")
        assert ledger.last(action=Action.KILLSWITCH_RESET_REFUSED).actor == "omar"


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        (
            "version: '1'\ntiers: {high: {approvals: {validators: 0}}}\n",
            "tiers.high.approvals.validators",
        ),
        (
            "version: '1'\ntiers: {high: {kill_switch: {reset_approvals: 1}}}\n",
            "tiers.high.kill_switch.reset_approvals",
        ),
        ("version: '1'\ntiers: {high: {fallback: cash}}\n", "tiers.high.fallback"),
        ("version: '1'\ntiers: {high: {approvals: {quorum: 2}}}\n", "tiers.high.approvals.quorum"),
        ("version: '1'\ntiers: {low: {}}\n", "tier"),
    ],
)
def test_invalid_policy_halts_with_exit_2_naming_the_field(cfg, workspace, capsys, policy, field):
    (cfg.parent / "policy.yaml").write_text(policy)
    code = main(["approve", "--config", str(cfg), "--model-version", "1", "--as", "rita"])
    err = capsys.readouterr().err
    assert code == 2 and field in err and "Traceback" not in err
    assert main(["killswitch", "reset", "--config", str(cfg), "--as", "rita", "--reason", "x"]) == 2


_OPS = st.lists(
    st.tuples(st.sampled_from(["trip", "reset"]), st.sampled_from(["rita", "omar", "kim"])),
    max_size=12,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=_OPS)
def test_fold_invariants_for_any_sequence_of_trips_and_resets(ops):
    """Armed again only after ``reset_approvals`` distinct officers since the last trip."""
    from types import SimpleNamespace

    entries, officers, tripped = [], [], False
    for seq, (op, who) in enumerate(ops, start=1):
        if op == "trip":
            entries.append(
                SimpleNamespace(
                    seq=seq,
                    ts=f"t{seq}",
                    actor=who,
                    action=Action.KILLSWITCH_TRIPPED,
                    payload={"reason": "r"},
                )
            )
            tripped, officers = True, []
            continue
        if not tripped or who in officers:
            continue  # reset() refuses these before appending anything
        officers.append(who)
        done = len(officers) >= 2
        action = Action.KILLSWITCH_RESET if done else Action.KILLSWITCH_RESET_PENDING
        payload = {"needed": 2, "officers": list(officers)}
        entries.append(
            SimpleNamespace(seq=seq, ts=f"t{seq}", actor=who, action=action, payload=payload)
        )
        if done:
            tripped, officers = False, []
    state = killswitch.fold(entries)
    assert state.tripped is tripped
    if tripped:
        pending = state.pending_reset["officers"] if state.pending_reset else []
        assert pending == officers and len(set(pending)) == len(pending) < 2
    else:
        assert state.pending_reset is None


@pytest.mark.parametrize(
    ("governance", "field"),
    [
        ("{cast: [{name: x, role: boss}]}", "governance.cast.0.role"),
        ("{cast: [{name: x, role: developer}, {name: x, role: validator}]}", "duplicate"),
    ],
)
def test_invalid_cast_is_exit_2(cfg, capsys, governance, field):
    cfg.write_text(f"policy: {{file: policy.yaml, tier: high}}\ngovernance: {governance}\n")
    assert main(["approve", "--config", str(cfg), "--model-version", "1", "--as", "rita"]) == 2
    assert field in capsys.readouterr().err


def test_a_strategys_switch_is_its_own_under_the_workspace_wide_one(cfg, workspace, capsys):
    """A strategy's trip stops that strategy only; its reset needs two officers like any
    other and leaves the workspace-wide switch alone; the workspace-wide one stops all."""
    trip = ["killswitch", "trip", "--as", "dana", "--reason", "breach", "--strategy", "alpha"]
    assert main(trip) == 0
    st = _status(capsys)
    assert st["state"] == "armed" and st["strategies"]["alpha"]["state"] == "tripped"
    assert set(st["strategies"]) == {"alpha"}
    with Ledger.open(workspace) as ledger:
        assert killswitch.effective(ledger, "alpha").tripped
        assert not killswitch.effective(ledger, "beta").tripped
        assert not killswitch.status(ledger).tripped
    reset = ["killswitch", "reset", "--config", str(cfg), "--reason", "ok", "--incident", "I-2"]
    assert main([*reset, "--as", "rita"]) == 2  # the workspace-wide switch is armed
    assert main([*reset, "--as", "rita", "--strategy", "alpha"]) == 0
    assert main([*reset, "--as", "rita", "--strategy", "alpha"]) == 4  # same officer twice
    assert _status(capsys)["strategies"]["alpha"]["pending_reset"]["officers"] == ["rita"]
    assert main([*reset, "--as", "omar", "--strategy", "alpha"]) == 0
    assert _status(capsys)["strategies"]["alpha"]["state"] == "armed"
    assert main(["killswitch", "trip", "--as", "dana", "--reason", "all stop"]) == 0
    with Ledger.open(workspace) as ledger:
        assert killswitch.effective(ledger, "alpha").reason == "all stop"
        assert killswitch.effective(ledger, "beta").tripped


def _without_trips(tier):
    """``tier`` with every automatic trigger disabled (its policy says: never trip)."""
    flags = {k: False for k in type(tier.kill_switch).model_fields if k.startswith("trip_on_")}
    return tier.model_copy(update={"kill_switch": tier.kill_switch.model_copy(update=flags)})


@pytest.mark.parametrize(
    "gate, trigger",
    [("pretrade", "pretrade_breach"), ("stress", "pretrade_breach"),
     ("optimiser", "optimiser_failure"), ("scoring", None), ("boundary", None),
     ("data_quality", None)],
)  # fmt: skip
def test_a_model_books_halt_trips_only_when_it_judges_the_model_in_the_market(
    cfg, workspace, gate, trigger
):
    """``governance.decisions.trips``: a pre-trade or stress breach or an optimiser failure
    of the model portfolio trips the strategy's switch (trigger named, the gate in the
    evidence); a halt that says nothing about the model in the market (it cannot score, its
    inputs are outside the domain) leaves it armed, as does any halt under a tier whose
    policy disables the trigger."""
    from governance.decisions.trips import trip_on_model_book_halt
    from governance.ground.errors import GateHalt

    high = load_policy(cfg.parent / "policy.yaml")[0].tier("high")
    exc = GateHalt(gate, ["limit x"])
    with Ledger.open(workspace) as ledger:
        assert trip_on_model_book_halt(ledger, _without_trips(high), exc, "alpha") is None
        assert not killswitch.effective(ledger, "alpha").tripped
        st = trip_on_model_book_halt(ledger, high, exc, "alpha")
        if trigger is None:
            assert st is None and not killswitch.effective(ledger, "alpha").tripped
        else:
            assert st.tripped and st.trigger == trigger and st.reason == "limit x"
            trip = ledger.last(action=Action.KILLSWITCH_TRIPPED)
            assert trip.payload["evidence"] == {"gate": gate}
            assert not killswitch.effective(ledger, "beta").tripped  # its own switch only


@pytest.mark.parametrize("gate", ["data_quality", "pretrade", "stress"])
def test_only_a_critical_data_quality_halt_of_live_data_trips(cfg, workspace, gate):
    """``trips.trip_on_live_data_halt`` (the rebalance's ingest): trigger
    ``data_quality_critical`` for a data-quality halt, nothing for any other gate."""
    from governance.decisions.trips import trip_on_live_data_halt
    from governance.ground.errors import GateHalt

    high = load_policy(cfg.parent / "policy.yaml")[0].tier("high")
    with Ledger.open(workspace) as ledger:
        st = trip_on_live_data_halt(ledger, high, GateHalt(gate, ["nan close"]), "alpha")
        assert (st is not None) == (gate == "data_quality")
        assert killswitch.effective(ledger, "alpha").tripped == (gate == "data_quality")
        if st is not None:
            assert st.trigger == "data_quality_critical" and st.reason == "nan close"
