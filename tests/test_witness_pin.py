"""Issue 23's open row: a rewrite that truncates the ledger to before the adoption of the
policy's ``witnesses:`` section leaves a policy that names none. A reader who ran under that
section pinned its witness set in its own account (governance/policy/witness_pin.py), so its
next deciding command still asks those witnesses, and they refuse the truncated tree.

Real witness services (separate processes, their own keys and SQLite state), 3, quorum 2.
"""

from __future__ import annotations

import json
import shutil

import pytest
from helpers_witness import held, start_witnesses, witnessed_policy

from flows.cli import main
from governance.ground.vocabulary import Action
from governance.log.checkpoint import log_key, origin_of
from governance.log.ledger import Ledger
from governance.policy.witness_pin import pin_file
from tests.helpers_identity import POLICY, adopt_policy, enrol_cast
from tests.test_ledger_support import truncate_tail


@pytest.fixture
def witnesses(workspace, monkeypatch, tmp_path):
    """3 running witness services for the workspace's log (its key held by the operator)."""
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.setenv("ALPHAGATE_LOG_KEY", str(tmp_path / "operator" / "log.key"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "reader"))  # the honest reader's own
    services = start_witnesses(
        tmp_path / "witnesses", 3, log_key(origin_of(workspace.ledger_url)).vkey()
    )
    try:
        yield services
    finally:
        for w in services:
            w.stop()


def _config(monkeypatch, tmp_path, policy) -> None:
    config = tmp_path / f"run-{policy.stem}.yaml"
    config.write_text(f"policy:\n  file: {policy}\n")
    monkeypatch.setenv("ALPHAGATE_CONFIG", str(config))


def _head(ws) -> int:
    with Ledger.open(ws) as ledger:
        return ledger.head()[0]


def test_a_truncation_to_before_the_witnesses_adoption_meets_the_pinned_witnesses(
    workspace, witnesses, capsys, monkeypatch, tmp_path
):
    """rita and omar first adopt a policy with no witnesses, rita trips the switch, then they
    adopt the same policy with a ``witnesses:`` section (3 services, quorum 2); rita's reset
    step is witnessed by them, which pins them in her account.

    dana truncates the ledger back to just before that adoption (the reset step goes with
    it) and sets ``ALPHAGATE_WITNESS=none``. Control: a reader with no pin (dana's own
    account) asks nobody, and a reset step acts. rita's next reset step, in her account, is
    exit 3 in one line naming the pinned witnesses (and so is her ``ledger verify``); nothing
    recorded but the refusal; the witnesses hold exactly what they held."""
    ws = workspace
    origin = origin_of(ws.ledger_url)
    enrol_cast(ws, monkeypatch=monkeypatch)  # POLICY, no witnesses, adopted by rita and omar
    assert main(["killswitch", "trip", "--as", "rita", "--reason", "desk breach"]) == 0
    keep = _head(ws)
    witnessed = witnessed_policy(POLICY, tmp_path / "policy.yaml", witnesses, quorum=2)
    with Ledger.open(ws) as ledger:
        adopt_policy(ws, ledger, witnessed)
    _config(monkeypatch, tmp_path, witnessed)  # names the policy in force (none may choose)
    step = ["killswitch", "reset", "--reason", "fixed", "--incident", "I-1"]
    assert main([*step, "--as", "rita"]) == 0
    pin = json.loads(pin_file(origin).read_text())
    assert pin["quorum"] == 2 and {m["url"] for m in pin["members"]} == {w.url for w in witnesses}
    assert [held(w, origin).checkpoint.size for w in witnesses] == [_head(ws)] * 3
    before = {w.url: held(w, origin).text() for w in witnesses}

    truncate_tail(ws.ledger_url, keep)  # dana: the adoption and the reset step are gone
    monkeypatch.setenv("ALPHAGATE_WITNESS", "none")
    _config(monkeypatch, tmp_path, POLICY)  # and the policy file back to the one in force

    with monkeypatch.context() as dana:  # control: a reader without the pin asks nobody
        dana.setenv("XDG_DATA_HOME", str(tmp_path / "dana"))
        assert main([*step, "--as", "omar"]) == 0
    capsys.readouterr()

    # rita's account: her pin alone (her verified head, a cache for incremental
    # verification that also catches a shorter ledger at read time, is set aside)
    shutil.rmtree(tmp_path / "reader" / "alphagate" / "verified")
    assert main(["ledger", "verify"]) == 3  # a full verify meets the pinned witnesses too
    err = capsys.readouterr().err
    assert all(f"at {w.url}" in err for w in witnesses), err
    head = _head(ws)
    assert main([*step, "--as", "rita"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "killswitch reset:" in err
    for w in witnesses:
        assert f"witness {w.vkey.split('+')[0]} at {w.url}" in err, err
    with Ledger.open(ws) as ledger:
        refused = ledger.last(action=Action.INTEGRITY_REFUSED)
        assert ledger.head()[0] == head + 1 and refused.seq == head + 1
    assert refused.payload["action"] == "killswitch reset"
    assert {w.url: held(w, origin).text() for w in witnesses} == before
    assert pin_file(origin).exists()  # a refusal moves no pin


def test_an_unreadable_pin_fails_closed_naming_it(
    workspace, witnesses, capsys, monkeypatch, tmp_path
):
    enrol_cast(workspace, monkeypatch=monkeypatch)
    _config(monkeypatch, tmp_path, POLICY)  # the policy in force (issue 24's live test policy)
    path = pin_file(origin_of(workspace.ledger_url))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json")
    capsys.readouterr()
    assert main(["killswitch", "reset", "--as", "rita", "--reason", "x", "--incident", "I"]) == 3
    err = capsys.readouterr().err
    assert f"witness pin {path}: unreadable" in err and err.count("\n") == 1, err
