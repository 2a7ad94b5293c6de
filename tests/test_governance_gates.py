"""Gates: the building blocks other stages import (users and keys: tests/test_identity.py)."""

from __future__ import annotations

import pytest

from governance.decisions.gates import (
    Decision,
    GateDecision,
    approval_gate,
    data_quality_gate,
    enforce,
    fail_closed,
    kill_switch_gate,
    pretrade_gate,
    record_gate,
    validation_gate,
)
from governance.ground.errors import Gate, GateHalt
from governance.ground.vocabulary import Action


def test_data_quality_gate_halts_on_critical_passes_warnings():
    d = data_quality_gate({"critical_failures": ["close: 3 nulls"], "warnings": ["w1"]})
    assert d.halted and d.reasons == ("critical: close: 3 nulls", "warning: w1")
    ok = data_quality_gate({"critical_failures": [], "warnings": ["w1"], "fingerprint": "ab"})
    assert ok.passed and ok.evidence["fingerprint"] == "ab"


def test_an_exception_inside_a_gate_is_a_halt():
    # a malformed quality result (no lists) must not pass
    d = data_quality_gate({"nothing": 1})
    assert d.decision is Decision.HALT and "error while evaluating" in d.reasons[0]
    assert validation_gate("maybe").halted
    assert kill_switch_gate({"state": "???", "by": None, "reason": None, "since": None}).halted

    @fail_closed(Gate.PRETRADE)
    def broken() -> GateDecision:
        raise ZeroDivisionError("boom")

    assert broken().halted and "ZeroDivisionError: boom" in broken().reasons[0]
    assert broken().gate is Gate.PRETRADE


def test_every_halt_names_a_gate_of_the_enum():
    from governance.ground.errors import TamperDetected

    assert GateHalt("scoring", "x").gate is Gate.SCORING
    assert TamperDetected("x").gate is Gate.INTEGRITY
    assert str(GateHalt(Gate.OPTIMISER, ["infeasible"])) == "optimiser: infeasible"
    with pytest.raises(ValueError, match="stres"):
        GateHalt("stres", "a gate the enum lacks is a bug, not a halt")
    with pytest.raises(ValueError):
        GateDecision("custom", Decision.PASS)


def test_validation_approval_killswitch_pretrade_gates():
    assert validation_gate("pass").passed
    assert (
        validation_gate("review", [{"severity": "warning", "message": "psi"}]).decision == "review"
    )
    assert validation_gate("fail", ["ic too low"]).halted
    assert approval_gate(["risk_officer"], ["validator:vera"]).halted
    assert approval_gate([]).passed
    armed = {"state": "armed", "by": None, "reason": None, "since": None}
    assert kill_switch_gate(armed).passed
    tripped = {"state": "tripped", "by": "rita", "reason": "loss", "since": "t"}
    assert "rita" in kill_switch_gate(tripped).reasons[0]
    assert pretrade_gate(["max_weight 0.2 > 0.1"]).halted and pretrade_gate([]).passed
    with pytest.raises(GateHalt, match="pretrade: max_weight"):
        enforce(pretrade_gate(["max_weight 0.2 > 0.1"]))
    payload = pretrade_gate([]).payload("abc")
    assert payload["decision"] == "pass" and payload["policy_hash"] == "abc"


def test_record_gate_writes_decision_reasons_and_policy_hash(workspace):
    from governance.decisions.context import RunContext

    ctx = RunContext.open(workspace, actor="alphagate", flow_run_id="fr-1", policy_hash="c" * 64)
    try:
        entry = record_gate(
            ctx, data_quality_gate({"critical_failures": ["dup rows"], "warnings": []})
        )
        assert entry.action == Action.GATE_DATA_QUALITY
        p = entry.payload
        assert p["decision"] == "halt" and p["reasons"] == ["critical: dup rows"]
        assert p["policy_hash"] == "c" * 64 and p["flow_run_id"] == "fr-1"
        assert ctx.ledger.verify().ok
    finally:
        ctx.close()
