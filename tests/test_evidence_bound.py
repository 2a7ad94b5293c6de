"""Issue 22, item 3 (evidence): an evidence pack proves what ``ledger verify`` proves.

- ``evidence verify`` re-verifies every signed act in the pack (verdicts, resets, trips,
  approvals ...): by the key and role its signer had at the time, folded from the pack's
  own identity entries, bound to its signed document, counted once. A replay dana wrote
  into the database before the export (tests/helpers_forge.py) fails the pack, naming it.
- The pack must hold every identity entry its signatures depend on: a pack exported by
  dana's own copy of the exporter, leaving out a ``user.revoked``, fails.
- ``evidence export`` is recorded as the identity the exporter's key proves, never as
  ``ALPHAGATE_USER``: dana's key claiming rita is refused (exit 4).
"""

from __future__ import annotations

import json
import shutil

import pytest

from flows.cli import main
from governance.decisions.context import RunContext
from governance.evidence import pack as pack_module
from governance.evidence.pack import PackSubject, export_pack
from governance.evidence.verify import verify_pack
from governance.ground.errors import TamperDetected
from governance.ground.vocabulary import Action
from governance.identity.signing import append_signed
from governance.log.ledger import Ledger
from tests.helpers_forge import forge
from tests.helpers_identity import ADMIN, POLICY, enrol_cast, make_key, signer


@pytest.fixture
def run(workspace, monkeypatch, tmp_path):
    """The cast enrolled (keys in the keyring); a run ``mlrun-1`` with vera's signed PASS;
    a run config beside a copy of the shipped policy."""
    enrol_cast(workspace, monkeypatch=monkeypatch)
    ctx = RunContext.open(workspace, actor="vera", role="validator", flow_run_id="flow-1")
    ctx.record(Action.RUN_STARTED, subject="run:flow-1", payload={"mlflow_run_id": "mlrun-1"})
    append_signed(
        ctx.ledger, signer(workspace, "vera", ctx.ledger), Action.VALIDATION_COMPLETED,
        subject="model:m/v1",
        payload={"model_name": "m", "model_version": "1", "verdict": "fail",
                 "mlflow_run_id": "mlrun-1"},
    )  # fmt: skip
    ctx.close()
    shutil.copy(POLICY, tmp_path / "policy.yaml")
    cfg = tmp_path / "run.yaml"
    cfg.write_text("policy: {file: policy.yaml, tier: high}\n")
    return workspace, cfg


def _export(ws, tmp_path, name: str = "pack.zip"):
    out, _ = export_pack(ws, PackSubject(run_id="mlrun-1"), tmp_path / name)
    return out


def test_a_genuine_pack_verifies_every_signed_act(run, tmp_path):
    """The shape of the check: vera's verdict, rita's trip and the enrolments all verify."""
    ws, _cfg = run
    assert main(["killswitch", "trip", "--as", "rita", "--reason", "drill"]) == 0
    report = verify_pack(_export(ws, tmp_path))
    assert report.signatures == 2  # the verdict and the trip (the genesis and enrolments
    # are checked by the registry fold, as ledger verify does)


def test_a_verdict_replayed_as_pass_fails_the_pack(run, tmp_path):
    """dana copies vera's FAIL with the top-level verdict set to pass before the export:
    the pack holds a well-formed, witnessed entry, and ``evidence verify`` names it."""
    ws, _cfg = run
    with Ledger.open(ws) as ledger:
        fail = ledger.last(action=Action.VALIDATION_COMPLETED)
        bad = forge(ledger, Action.VALIDATION_COMPLETED, actor=fail.actor, role=fail.role,
                    subject=fail.subject, payload={**fail.payload, "verdict": "pass"})  # fmt: skip
    with pytest.raises(TamperDetected, match=f"seq {bad.seq} \\(validation.completed by vera\\)"):
        verify_pack(_export(ws, tmp_path))


def test_a_drill_reset_replayed_onto_a_live_trip_fails_the_pack(run, tmp_path):
    """omar's completing reset of a drill, replayed naming the live trip: the kill switch's
    history is in every pack, and ``evidence verify`` names the replay."""
    ws, cfg = run
    reset = ["killswitch", "reset", "--config", str(cfg), "--reason", "ok", "--incident", "I-1"]
    assert main(["killswitch", "trip", "--as", "rita", "--reason", "drill"]) == 0
    assert main([*reset, "--as", "rita"]) == 0
    assert main([*reset, "--as", "omar"]) == 0
    assert main(["killswitch", "trip", "--as", "rita", "--reason", "live"]) == 0
    with Ledger.open(ws) as ledger:
        drill = ledger.last(action=Action.KILLSWITCH_RESET)
        live = ledger.last(action=Action.KILLSWITCH_TRIPPED)
        bad = forge(ledger, Action.KILLSWITCH_RESET, actor=drill.actor, role=drill.role,
                    subject=drill.subject, payload={**drill.payload, "trip_seq": live.seq})  # fmt: skip
    with pytest.raises(TamperDetected, match=f"seq {bad.seq} \\(killswitch.reset by omar\\)"):
        verify_pack(_export(ws, tmp_path))


def test_a_pack_without_a_revocation_fails(run, tmp_path, monkeypatch):
    """vera is revoked after her verdict; dana's own exporter leaves the ``user.revoked``
    out (so a later act by vera's key would seem to verify): ``evidence verify`` names the
    missing entry. The genuine export holds it and verifies."""
    from governance.identity.enrolment import revoke_user

    ws, _cfg = run
    make_key(ws, ADMIN)
    with Ledger.open(ws) as ledger:
        revoke_user(ws, ledger, signer(ws, ADMIN, ledger), "vera", "left")
        revoked = ledger.last(action=Action.USER_REVOKED)
    assert verify_pack(_export(ws, tmp_path, "genuine.zip"))
    real = pack_module.select_entries

    def without_revocations(*args, **kwargs):
        return [e for e in real(*args, **kwargs) if e.action != Action.USER_REVOKED]

    monkeypatch.setattr(pack_module, "select_entries", without_revocations)
    missing = rf"entry {revoked.seq} \(user\.revoked, user:vera\) .* missing from the pack"
    with pytest.raises(TamperDetected, match=missing):
        verify_pack(_export(ws, tmp_path, "forged.zip"))


def _exports(ws) -> list:
    with Ledger.open(ws) as ledger:
        return ledger.entries(action=Action.EVIDENCE_EXPORTED)


def test_an_export_records_the_proven_identity_never_alphagate_user(run, tmp_path, monkeypatch):
    """``ALPHAGATE_USER=rita`` with dana's key: refused (exit 4), nothing exported or
    recorded as rita. ``--as dana`` with her key: recorded as dana. No key at all: recorded
    as alphagate itself, whatever ``ALPHAGATE_USER`` claims."""
    from governance.identity.keys import KEY_ENV, KEYRING_ENV

    ws, cfg = run
    argv = ["evidence", "export", "--run-id", "mlrun-1", "--config", str(cfg)]
    monkeypatch.setenv("ALPHAGATE_USER", "rita")
    monkeypatch.setenv(KEY_ENV, str(make_key(ws, "dana")))
    assert main([*argv, "--out", str(tmp_path / "a.zip")]) == 4
    assert not _exports(ws) and not (tmp_path / "a.zip").exists()
    assert main([*argv, "--out", str(tmp_path / "b.zip"), "--as", "dana"]) == 0
    assert [(e.actor, e.role) for e in _exports(ws)] == [("dana", "developer")]
    monkeypatch.delenv(KEY_ENV)
    monkeypatch.delenv(KEYRING_ENV)
    assert main([*argv, "--out", str(tmp_path / "c.zip")]) == 0
    assert [e.actor for e in _exports(ws)] == ["dana", "alphagate"]
    with Ledger.open(ws) as ledger:
        refused = ledger.last(action=Action.IDENTITY_REFUSED)
    assert refused.payload["action"] == "evidence export" and refused.actor == "rita"
    assert json.loads(json.dumps(refused.payload))["claimed"] == "rita"
