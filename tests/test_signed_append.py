"""Issue 26: ``Ledger.append`` refuses a signed action that is not a valid signed act.

The attacker is dana, a developer with a shell, the Python API and write access to the
ledger database. Through ``Ledger.append`` she tries an unsigned ``validation.completed``,
one signed by a key nobody registered, one signed with her own (registered) key in the wrong
role, and the same from a script that imports the log room alone (no identity rule loaded:
fail closed). Each is refused (:class:`TamperDetected`, exit 3) and nothing is appended.
The row written past ``append`` (raw SQL, as a DBA; tests/helpers_forge.py) is caught at
read: ``ledger verify`` names its seq (exit 3) and the verdict reader ignores it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from flows.cli import main
from governance.findings.verdict import latest_validation
from governance.ground.errors import TamperDetected
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import SIGNED_ACTIONS, Action, Subject
from governance.identity.keys import public_hex
from governance.identity.signed_acts import SIGNED_ACTS
from governance.identity.signing import Signer, append_signed
from governance.log.ledger import Ledger
from tests.helpers_forge import forge
from tests.helpers_identity import enrol_cast, sign_validation, signer

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def env(workspace, monkeypatch):
    """The cast enrolled; the verdicts are about ``model:m/v1`` (no model needs to exist
    for the ledger to refuse or record one)."""
    enrol_cast(workspace, monkeypatch=monkeypatch)
    return workspace, "1", "run"


def _verdict_payload(version) -> dict:
    return {"model_name": "m", "model_version": str(version), "verdict": "pass"}


def test_every_signed_action_has_its_act():
    assert set(SIGNED_ACTS) == SIGNED_ACTIONS


def test_unsigned_verdict_through_the_python_api_is_refused(env):
    ws, version, _ = env
    with Ledger.open(ws) as ledger:
        before = ledger.head()
        with pytest.raises(TamperDetected, match="unsigned"):
            ledger.append(Action.VALIDATION_COMPLETED, actor="vera", role="validator",
                          subject=Subject.model("m", version), payload=_verdict_payload(version))  # fmt: skip
        assert ledger.head() == before


def test_a_verdict_signed_by_an_unregistered_key_is_refused(env):
    ws, version, _ = env
    own = Ed25519PrivateKey.generate()  # dana's key made for the occasion, claiming vera
    fake = Signer("vera", "validator", public_hex(own), own)
    with Ledger.open(ws) as ledger:
        before = ledger.head()
        with pytest.raises(TamperDetected, match="registered key"):
            append_signed(ledger, fake, Action.VALIDATION_COMPLETED,
                          subject=Subject.model("m", version), payload=_verdict_payload(version))  # fmt: skip
        assert ledger.head() == before


def test_a_verdict_signed_by_a_developer_is_refused(env):
    ws, version, _ = env
    with Ledger.open(ws) as ledger:
        dana = signer(ws, "dana", ledger)
        before = ledger.head()
        with pytest.raises(TamperDetected, match="needs"):
            append_signed(ledger, dana, Action.VALIDATION_COMPLETED,
                          subject=Subject.model("m", version), payload=_verdict_payload(version))  # fmt: skip
        assert ledger.head() == before
        # the validator's own signed verdict is appended
        assert sign_validation(ws, ledger, "m", version, "pass", "run").action == (
            Action.VALIDATION_COMPLETED
        )


def test_a_script_that_opens_the_log_alone_cannot_append_a_signed_action(env):
    """Without the identity room the rule is not loaded: every signed action is refused."""
    ws, version, _ = env
    script = (
        "import sys\n"
        "from governance.ground.workspace import Workspace\n"
        "from governance.log.ledger import Ledger\n"
        "assert not any(m.startswith('governance.identity') for m in sys.modules)\n"
        "with Ledger.open(Workspace.from_env()) as ledger:\n"
        f"    ledger.append({str(Action.VALIDATION_COMPLETED)!r}, actor='vera', role='validator',"
        f" subject={Subject.model('m', version)!r}, payload={{'verdict': 'pass'}})\n"
    )
    env_vars = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env_vars,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode != 0
    assert "TamperDetected" in done.stderr and "no signed-act rule is loaded" in done.stderr
    with Ledger.open(ws) as ledger:
        assert not ledger.entries(action=Action.VALIDATION_COMPLETED)


def test_an_unsigned_verdict_written_past_append_is_caught_at_read(env, capsys):
    ws, version, _ = env
    with Ledger.open(ws) as ledger:
        bad = forge(ledger, Action.VALIDATION_COMPLETED, actor="vera", role="validator",
                    subject=Subject.model("m", version), payload=_verdict_payload(version))  # fmt: skip
        assert latest_validation(ledger, ModelRef.parse("m", version)) is None  # decides nothing
    capsys.readouterr()
    assert main(["ledger", "verify", "--json"]) == 3
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["first_bad_seq"] == bad.seq and "unsigned" in out["reason"]


def test_an_automatic_trip_needs_no_signature(env):
    ws, _, _ = env
    with Ledger.open(ws) as ledger:
        e = ledger.append(Action.KILLSWITCH_TRIPPED, actor="alphagate", role="system",
                          subject=Subject.killswitch(), payload={"reason": "drill"})  # fmt: skip
        assert e.seq == ledger.head()[0]
        with pytest.raises(TamperDetected):  # the same trip claimed by a person
            ledger.append(Action.KILLSWITCH_TRIPPED, actor="rita", role="risk_officer",
                          subject=Subject.killswitch(), payload={"reason": "drill"})  # fmt: skip
