"""The policy's witness set and its quorum, with real witness services (separate processes,
their own keys and SQLite state): 3 witnesses, quorum 2.

- all up: deciding commands act and all three cosign each command's entries;
- one stopped: commands go on (2 of 3);
- two stopped: a deciding command is exit 3 before acting, naming both missing witnesses,
  and the refusal is recorded; a kill-switch trip made meanwhile is recorded (exit 0, one
  line saying so) and is witnessed by the first command after a witness is back;
- ``ALPHAGATE_WITNESS=none`` removes nothing the policy names;
- the policy's witness section is checked like every field (exit 2 naming it).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from helpers_witness import held, start_witnesses, witnessed_policy

from flows.cli import main
from governance.decisions import killswitch
from governance.ground.errors import InputError
from governance.ground.vocabulary import Action
from governance.log.checkpoint import COSIGNATURE_V1, NoteKey, SignedNote, log_key, origin_of
from governance.log.ledger import Ledger
from governance.policy.schema import load_policy
from tests.helpers_identity import POLICY, enrol_cast, make_key, new_public


@pytest.fixture
def quorum_ws(workspace, monkeypatch, tmp_path):
    """A workspace whose adopted policy names 3 running witness services, quorum 2."""
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.setenv("ALPHAGATE_LOG_KEY", str(tmp_path / "operator" / "log.key"))
    origin = origin_of(workspace.ledger_url)
    witnesses = start_witnesses(tmp_path / "witnesses", 3, log_key(origin).vkey())
    try:
        policy = witnessed_policy(POLICY, tmp_path / "policy.yaml", witnesses, quorum=2)
        enrol_cast(workspace, monkeypatch=monkeypatch, policy=policy)
        config = tmp_path / "run.yaml"  # names the adopted policy (a config cannot choose)
        config.write_text(f"policy:\n  file: {policy}\n")
        monkeypatch.setenv("ALPHAGATE_CONFIG", str(config))
        yield workspace, origin, witnesses
    finally:
        for w in witnesses:
            w.stop()


def _head(ws) -> int:
    with Ledger.open(ws) as ledger:
        return ledger.head()[0]


def _state(ws):
    with Ledger.open(ws) as ledger:
        return killswitch.status(ledger)


def test_two_of_three_decide_one_of_three_halts_and_a_trip_is_witnessed_later(
    quorum_ws, capsys, tmp_path
):
    ws, origin, (w0, w1, w2) = quorum_ws
    capsys.readouterr()
    dave = make_key(ws, "dave")
    pub = tmp_path / "dave.pub"
    pub.write_text(new_public(dave) + "\n")
    add = ["users", "add", "dave", "--role", "developer", "--public-key", str(pub), "--as", "ada"]
    assert main(add) == 0
    size = _head(ws)
    assert [held(w, origin).checkpoint.size for w in (w0, w1, w2)] == [size] * 3

    w2.stop()  # one down: 2 of 3 still decide
    assert main(["killswitch", "trip", "--as", "rita", "--reason", "desk breach"]) == 0
    assert (
        main(["killswitch", "reset", "--as", "rita", "--reason", "fixed", "--incident", "I-1"]) == 0
    )
    assert held(w0, origin).checkpoint.size == _head(ws) == held(w1, origin).checkpoint.size
    capsys.readouterr()
    assert main(["ledger", "verify", "--json"]) == 0  # per policy witness: size and when
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    rows = {r["url"]: r for r in report["policy_witnesses"]}
    assert rows[w2.url]["size"] is None and rows[w2.url]["cosigned_at"] is None
    for w in (w0, w1):
        assert rows[w.url]["size"] == report["entries"] and rows[w.url]["cosigned_at"] > 0
    assert report["quorum"] == 2 and report["witness_set"].startswith("policy ")

    w1.stop()  # two down: no quorum, no decision
    capsys.readouterr()
    before = _head(ws)
    reset = ["killswitch", "reset", "--as", "omar", "--reason", "fixed", "--incident", "I-1"]
    assert main(reset) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "witness quorum not reached: 1 of 3" in err and "2 needed" in err
    for w in (w1, w2):
        assert f"at {w.url} unreachable" in err
    assert _state(ws).state == "tripped"  # omar's half of the reset never happened
    with Ledger.open(ws) as ledger:
        refused = ledger.last(action=Action.INTEGRITY_REFUSED)
    assert refused.seq > before and refused.payload["action"] == "killswitch reset"

    # The trip always records; it is witnessed when a quorum is back.
    assert main(["killswitch", "trip", "--as", "rita", "--reason", "second breach"]) == 0
    err = capsys.readouterr().err
    assert "the trip is recorded; witnessed when a quorum is back" in err
    with Ledger.open(ws) as ledger:
        trip = ledger.last(action=Action.KILLSWITCH_TRIPPED)
    assert trip.payload.get("reason") == "second breach" or "second breach" in str(trip.payload)
    assert held(w1, origin).checkpoint.size < trip.seq

    w1.start()
    assert main(["killswitch", "status"]) == 0
    assert held(w1, origin).checkpoint.size >= trip.seq
    assert held(w0, origin).checkpoint.size >= trip.seq


def test_the_environment_cannot_remove_the_policys_witnesses(quorum_ws, capsys, monkeypatch):
    _ws, _origin, witnesses = quorum_ws
    monkeypatch.setenv("ALPHAGATE_WITNESS", "none")
    for w in witnesses[1:]:
        w.stop()
    capsys.readouterr()
    assert main(["killswitch", "reset", "--as", "rita", "--reason", "x", "--incident", "I"]) == 3
    assert "witness quorum not reached" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("section", "named"),
    [
        ("  quorum: 3\n  members:\n    - url: http://a\n      key: {k}\n", "quorum"),
        ("  quorum: 1\n  members:\n    - url: ftp://a\n      key: {k}\n", "url"),
        ("  quorum: 1\n  members:\n    - url: http://a\n      key: nokey\n", "key"),
    ],
)
def test_a_bad_witness_section_is_named(tmp_path, section, named):
    k = NoteKey("w.example/1", Ed25519PrivateKey.generate()).vkey(COSIGNATURE_V1)
    bad = tmp_path / "bad.yaml"
    bad.write_text(POLICY.read_text().rstrip("\n") + "\nwitnesses:\n" + section.format(k=k))
    with pytest.raises(
        InputError, match=rf"bad.yaml: witnesses(\.members\.0)?(\.{named}|: Value error, {named}): "
    ):
        load_policy(bad)


def _rezip(src: Path, dst: Path, edit) -> Path:
    with zipfile.ZipFile(src) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    edit(files)
    with zipfile.ZipFile(dst, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return dst


def test_a_pack_checked_with_the_witnesses_keys_needs_their_quorum(quorum_ws, capsys, tmp_path):
    """The pack's checkpoint carries the three cosignatures; the auditor verifies with the
    keys the witnesses published (``witness keys``). Two cosignatures removed (1 left, quorum
    2), or two replaced by an insider's keys under the same names (with keys/witnesses.json
    edited to match: the pack alone then still verifies), fail with those keys."""
    from governance.decisions.context import RunContext

    ws, _origin, witnesses = quorum_ws
    ctx = RunContext.open(ws, actor="vera", role="validator", flow_run_id="flow-1")
    ctx.record(Action.RUN_STARTED, subject="run:flow-1", payload={"mlflow_run_id": "mlrun-1"})
    ctx.close()
    out = tmp_path / "pack.zip"
    assert main(["evidence", "export", "--run-id", "mlrun-1", "--out", str(out)]) == 0
    keys = [a for w in witnesses for a in ("--witness-key", w.vkey)]
    capsys.readouterr()
    assert main(["evidence", "verify", str(out), *keys]) == 0
    said = capsys.readouterr().out
    assert "keys held by the auditor; witness set: policy " in said
    names = [w.vkey.split("+")[0] for w in witnesses]

    def strip_two(files):
        text = files["ledger/checkpoint.txt"].decode()
        keep = [ln for ln in text.splitlines(keepends=True) if not any(n in ln for n in names[1:])]
        files["ledger/checkpoint.txt"] = "".join(keep).encode()

    stripped = _rezip(out, tmp_path / "stripped.zip", strip_two)
    assert main(["evidence", "verify", str(stripped), *keys]) == 3
    assert f"1 cosignature(s) verify with the witness keys given ({', '.join(names)})" in (
        capsys.readouterr().err
    )

    def swap_two(files):
        note = SignedNote.parse(files["ledger/checkpoint.txt"].decode())
        doc = json.loads(files["keys/witnesses.json"])
        sigs = [s for s in note.signatures if s.name not in names[1:]]
        forged = SignedNote(note.body, tuple(sigs))
        for n in names[1:]:
            insider = NoteKey(n, Ed25519PrivateKey.generate())
            forged = forged.with_line(insider.cosign(note.body, 1_800_000_000))
            doc[n] = insider.public.hex()
        files["ledger/checkpoint.txt"] = forged.text().encode()
        files["keys/witnesses.json"] = json.dumps(doc).encode()

    swapped = _rezip(out, tmp_path / "swapped.zip", swap_two)
    assert main(["evidence", "verify", str(swapped)]) == 0  # the pack's own keys: fooled
    capsys.readouterr()
    assert main(["evidence", "verify", str(swapped), *keys]) == 3
    assert "1 cosignature(s) verify with the witness keys given" in capsys.readouterr().err


def test_the_log_key_rotates_by_a_signed_witnessed_act(workspace, monkeypatch, tmp_path, capsys):
    """An admin records ``log.key_rotated`` (old and new keys), cosigned under the old key;
    the witness operator trusts both keys; the log then signs with the new key and the
    witness cosigns. A developer cannot rotate (exit 4); a key no witness was given is
    refused before any witness is asked (exit 3: not the key the genesis recorded or a
    rotation moved it to), as is the new key before the rotation is recorded."""
    from governance.log.checkpoint import load_or_create_key
    from tests.helpers_witness import WitnessProcess

    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.setenv("ALPHAGATE_WITNESS", "none")  # local witnesses pin one key for good
    old_file, new_file = tmp_path / "op" / "log-1.key", tmp_path / "op" / "log-2.key"
    monkeypatch.setenv("ALPHAGATE_LOG_KEY", str(old_file))
    origin = origin_of(workspace.ledger_url)
    vkeys = [
        NoteKey(origin, load_or_create_key(f, origin).private).vkey() for f in (old_file, new_file)
    ]
    w = WitnessProcess(tmp_path / "w", f"sqlite:///{tmp_path / 'w.db'}", vkeys).start()
    try:
        policy = witnessed_policy(POLICY, tmp_path / "policy.yaml", [w], quorum=1)
        enrol_cast(workspace, monkeypatch=monkeypatch, policy=policy)
        capsys.readouterr()
        monkeypatch.setenv("ALPHAGATE_LOG_KEY", str(new_file))  # the witness trusts it, but
        role = ["users", "role", "dana", "--role", "validator", "--as", "ada"]
        assert main(role) == 3  # the genesis recorded another key and nobody rotated yet
        assert "is not the one the genesis recorded" in capsys.readouterr().err
        monkeypatch.setenv("ALPHAGATE_LOG_KEY", str(old_file))
        assert main(["ledger", "rotate-key", "--new-key", str(new_file), "--as", "dana"]) == 4
        assert main(["ledger", "rotate-key", "--new-key", str(new_file), "--as", "ada"]) == 0
        with Ledger.open(workspace) as ledger:
            rotated = ledger.last(action=Action.LOG_KEY_ROTATED)
        assert rotated.payload["new_key"] == vkeys[1] and rotated.payload["old_key"] == vkeys[0]
        assert held(w, origin).checkpoint.size >= rotated.seq
        assert held(w, origin).verify(origin, load_or_create_key(old_file, origin).public)

        monkeypatch.setenv("ALPHAGATE_LOG_KEY", str(new_file))
        assert main(["killswitch", "trip", "--as", "rita", "--reason", "after rotation"]) == 0
        assert held(w, origin).verify(origin, load_or_create_key(new_file, origin).public)
        assert main(["ledger", "verify"]) == 0  # the rotation is a valid signed act

        monkeypatch.setenv("ALPHAGATE_LOG_KEY", str(tmp_path / "op" / "stolen.key"))
        capsys.readouterr()
        assert main(role) == 3
        assert "is not the one the genesis recorded or a signed log.key_rotated" in (
            capsys.readouterr().err
        )
    finally:
        w.stop()


def test_a_trip_only_one_witness_cosigned_cannot_be_dropped_by_the_other_two(
    quorum_ws, capsys, monkeypatch
):
    """Two witnesses down; rita's trip is recorded and cosigned by the one still up. dana
    truncates the trip away (and switches the local witness off); the two come back. They
    hold the tree before the trip, so they would cosign the truncated ledger: a quorum. The
    next deciding command, a fresh process, still waits for the third, which holds the trip
    and refuses: exit 3 naming it, nothing acted on, its state unchanged. (The other two
    then cosign the recorded refusal on the truncated branch: they never saw the trip; from
    then on the witnesses disagree and every deciding command is refused.)"""
    from tests.helpers_witness import cli
    from tests.test_ledger_support import truncate_tail

    ws, origin, (w0, w1, w2) = quorum_ws
    assert main(["killswitch", "status"]) == 0  # all three cosign the ledger so far
    w1.stop()
    w2.stop()
    assert main(["killswitch", "trip", "--as", "rita", "--reason", "desk breach"]) == 0
    assert "witnessed when a quorum is back" in capsys.readouterr().err
    trip = _head(ws)
    assert held(w0, origin).checkpoint.size == trip > held(w1, origin).checkpoint.size

    truncate_tail(ws.ledger_url, trip - 1)
    monkeypatch.setenv("ALPHAGATE_WITNESS", "none")
    w1.start()
    w2.start()
    before = held(w0, origin).text()
    done = cli("killswitch", "reset", "--as", "omar", "--reason", "x", "--incident", "I-1")
    assert done.returncode == 3, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"witness {w0.vkey.split('+')[0]} at {w0.url} holds a checkpoint of {trip}" in (
        done.stderr
    )
    assert held(w0, origin).text() == before  # it keeps the trip
    with Ledger.open(ws) as ledger:  # omar's step never happened; the refusal is recorded
        assert ledger.last(action=Action.KILLSWITCH_RESET_PENDING) is None
        assert ledger.last(action=Action.INTEGRITY_REFUSED).payload["action"] == "killswitch reset"
