"""Issue 22, item 2: a signed document binds the context it answers, and outside that
context it decides nothing, even when its signature is genuine and it is not a replay.

Each document names what it acts on inside what is signed: a reset step the trip it resets
(``trip_seq``), an approval the validation it was given on (``validation_entry_hash``), an
adoption step the policy's hash. A genuine document whose context is no longer the current
one (a step for an earlier trip, an approval of a superseded validation, an adoption step
of another hash) is recorded, verifies, and counts for nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from flows.cli import main
from governance.decisions import killswitch
from governance.decisions.approvals import approve
from governance.decisions.promotion import compute_state, facts_for
from governance.ground.canonical import sha256_file
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action, Subject
from governance.identity.signing import append_signed
from governance.log.ledger import Ledger
from governance.policy.adoption import adopt, policy_in_force
from governance.policy.schema import load_policy
from tests.helpers_identity import POLICY, enrol_cast, sign_validation, signer, tiny_version


def _cfg(tmp_path) -> Path:
    shutil.copy(POLICY, tmp_path / "policy.yaml")
    cfg = tmp_path / "run.yaml"
    cfg.write_text("policy: {file: policy.yaml, tier: high}\n")
    return cfg


def test_reset_steps_signed_for_an_earlier_trip_re_arm_nothing(workspace, monkeypatch, tmp_path):
    """After a drill (tripped, reset by rita and omar) the switch is tripped again. rita and
    omar each sign a genuine, new reset document, but naming the drill's trip: both are
    recorded as valid signed acts and the live trip stands."""
    enrol_cast(workspace, monkeypatch=monkeypatch)
    reset = ["killswitch", "reset", "--config", str(_cfg(tmp_path)), "--reason", "ok",
             "--incident", "I-1"]  # fmt: skip
    assert main(["killswitch", "trip", "--as", "rita", "--reason", "drill"]) == 0
    assert main([*reset, "--as", "rita"]) == 0
    assert main([*reset, "--as", "omar"]) == 0
    assert main(["killswitch", "trip", "--as", "rita", "--reason", "live"]) == 0
    with Ledger.open(workspace) as ledger:
        drill = ledger.last(action=Action.KILLSWITCH_RESET).payload["trip_seq"]
        live = ledger.last(action=Action.KILLSWITCH_TRIPPED)
        step = {"reason": "late", "incident": "I-1", "needed": 2, "trip_seq": drill}
        append_signed(ledger, signer(workspace, "rita", ledger), Action.KILLSWITCH_RESET_PENDING,
                      subject=Subject.KILLSWITCH, payload={**step, "officers": ["rita"]})  # fmt: skip
        append_signed(ledger, signer(workspace, "omar", ledger), Action.KILLSWITCH_RESET,
                      subject=Subject.KILLSWITCH, payload={**step, "officers": ["rita", "omar"]})  # fmt: skip
        state = killswitch.status(ledger)
    assert state.tripped and state.seq == live.seq and state.pending_reset is None


def test_an_approval_of_a_superseded_validation_counts_for_nothing(workspace, monkeypatch):
    """vera approves v1 on its first PASS; vera revalidates (a new PASS); rita approves on
    the new one. vera's approval names the superseded validation's entry hash: it is not
    counted, a validator's approval is still missing and nothing is promoted."""
    enrol_cast(workspace, monkeypatch=monkeypatch)
    version, run_id = tiny_version(workspace, "ctxA")
    tier = load_policy(POLICY)[0].tier("high")
    with Ledger.open(workspace) as ledger:
        h = policy_in_force(ledger).policy_hash
        kw = {"tier": tier, "tier_name": "high", "policy_hash": h}
        approve(
            workspace,
            ledger,
            ModelRef.parse("ctxA", version),
            signer(workspace, "vera", ledger),
            "ok",
            **kw,
        )
        sign_validation(workspace, ledger, "ctxA", version, "pass", run_id)
        out = approve(
            workspace,
            ledger,
            ModelRef.parse("ctxA", version),
            signer(workspace, "rita", ledger),
            "ok",
            **kw,
        )
        state = compute_state(
            workspace, ledger, facts_for(workspace, ledger, ModelRef.parse("ctxA", version)), tier
        )
        promoted = ledger.entries(action=Action.MODEL_PROMOTED)
    assert out.promoted is None and not promoted
    assert [g["user"] for g in state.granted] == ["rita"]
    assert "validator" in state.missing and not state.champion


def test_adoption_steps_of_different_hashes_adopt_nothing(workspace, monkeypatch, tmp_path):
    """rita signs the adoption of one policy file, omar of another (both valid): each step
    binds its hash, so they do not make four eyes on either, and the policy in force is
    still the one adopted before."""
    enrol_cast(workspace, monkeypatch=monkeypatch)
    text = Path(POLICY).read_text()
    one, two = tmp_path / "one.yaml", tmp_path / "two.yaml"
    one.write_text(text + "\n# variant one\n")
    two.write_text(text + "\n# variant two\n")
    rule = {"rule": "fallback"}
    with Ledger.open(workspace) as ledger:
        before = policy_in_force(ledger)
        _, first = adopt(workspace, ledger, signer(workspace, "rita", ledger), one, rule)
        _, second = adopt(workspace, ledger, signer(workspace, "omar", ledger), two, rule)
        after = policy_in_force(ledger)
    assert first is None and second is None
    assert after.policy_hash == before.policy_hash == sha256_file(POLICY)
    assert sha256_file(one) != after.policy_hash != sha256_file(two)
