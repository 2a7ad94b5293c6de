"""Signed checkpoints and witnesses: the attacks a consistent database rewrite makes possible.

An insider with write access to the ledger database deletes the tail and moves the head back,
or rewrites the whole history with the project's own hash functions (chain, head and Merkle
tree recomputed: the ledger alone verifies). Witnesses outside the database hold the signed
checkpoints of earlier trees, so ``ledger verify`` ends in exit 3 naming the witness and its
checkpoint, and the next checkpoint is refused. Each attack runs on SQLite and PostgreSQL,
with a directory witness and a git witness; then the SQL witness, the signed-note format, and
a hypothesis property over any rewrite or truncation of a witnessed prefix.
"""

from __future__ import annotations

import base64
import json
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_ledger_support import BACKENDS, backend_url, rewrite_history, truncate_tail

from flows.cli import main
from governance.audit.integrity import verify_log
from governance.decisions import killswitch
from governance.ground.artifacts import ArtifactStore
from governance.ground.errors import TamperDetected
from governance.ground.vocabulary import Action
from governance.log.checkpoint import Checkpoint, NoteKey, SignedNote, sign_checkpoint
from governance.log.ledger import Ledger
from governance.log.merkle import EMPTY_ROOT
from governance.log.transparency import publish
from governance.log.witness import DirectoryWitness, GitWitness, SqlWitness, WitnessRefused

WITNESS_RE = r"witness (dir|git):"


@pytest.fixture(params=BACKENDS)
def ws_url(request, workspace, monkeypatch, tmp_path):
    """Workspace and ledger URL with a directory witness and a git witness."""
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.setenv("ALPHAGATE_WITNESS", f"dir:{tmp_path / 'wdir'},git:{tmp_path / 'wgit'}")
    with backend_url(request, request.param, workspace, monkeypatch) as url:
        yield workspace, url


def verify_json(capsys, *flags: str) -> tuple[int, dict, str]:
    capsys.readouterr()
    code = main(["ledger", "verify", "--json", *flags])
    out, err = capsys.readouterr()
    return code, json.loads(out.strip().splitlines()[-1]), err


def history(ws) -> None:
    """Five entries (an automatic trip, four events); ``ledger checkpoint`` hands a
    checkpoint to both witnesses."""
    with Ledger.open(ws) as ledger:
        killswitch.trip(ledger, None, "drawdown", killswitch.Trigger.MONITORING_BREACH)
        for i in range(4):
            ledger.append("test.event", actor="dana", payload={"i": i})
    assert main(["ledger", "checkpoint"]) == 0


def test_checkpoint_is_a_signed_note_both_witnesses_cosign(ws_url, capsys, tmp_path):
    ws, _url = ws_url
    history(ws)
    code, report, _ = verify_json(capsys)
    assert code == 0 and report["ok"] and report["tree_size"] == 5
    assert {w["witness"].split(":")[0] for w in report["witnesses"]} == {"dir", "git"}
    assert all(w["size"] == 5 and w["cosigned_at"] for w in report["witnesses"])
    (folder,) = [p for p in (tmp_path / "wdir").iterdir() if p.is_dir()]
    note = SignedNote.parse((folder / "checkpoint").read_text())
    origin, size, root_b64 = note.body.splitlines()
    assert base64.b64decode(root_b64) == note.checkpoint.root
    assert origin.startswith("alphagate.ledger/") and size == "5"
    assert note.checkpoint.root.hex() == report["root"]
    assert [s.name.split("/")[0] for s in note.signatures] == [
        origin.split("/")[0],
        "alphagate-witness",
    ]
    assert (folder / "checkpoint").read_text().count("\n\u2014 ") == 2
    log = subprocess.run(
        ["git", "-C", str(tmp_path / "wgit"), "log", "--format=%s"], capture_output=True, text=True
    ).stdout.splitlines()
    assert log and all(line.startswith("checkpoint alphagate.ledger/") for line in log)
    assert log[0].endswith(" 5")


def test_tail_truncation_with_the_head_moved_back_is_named(ws_url, capsys):
    ws, url = ws_url
    history(ws)
    truncate_tail(url, 3)
    with Ledger.open(ws) as ledger:
        assert ledger.verify().ok  # the ledger alone is consistent again
    code, report, err = verify_json(capsys)
    assert code == 3 and report["ok"] is False and report["first_bad_seq"] == 4
    assert report["reason"].startswith("log has 3 entries, witness ")
    assert "holds a checkpoint of 5 entries signed at 20" in report["reason"]
    assert f"ledger: entry 4: {report['reason']}" in err
    assert set(report) >= {"ok", "entries", "first_bad_seq", "reason"}
    # The next command's checkpoint is refused too, and says why.
    capsys.readouterr()
    assert main(["ledger", "checkpoint"]) == 3
    assert "log has 3 entries, witness" in capsys.readouterr().err


def test_full_rewrite_with_the_projects_own_hashes_is_caught(ws_url, capsys):
    ws, url = ws_url
    history(ws)

    def relabel(row):  # the trip becomes a refused reset: the switch reads armed
        row["action"] = Action.KILLSWITCH_RESET_REFUSED

    rewrite_history(url, 1, relabel)
    with Ledger.open(ws) as ledger:
        assert ledger.verify().ok and not killswitch.status(ledger).tripped
    for flags in ((), ("--incremental",)):
        code, report, _ = verify_json(capsys, *flags)
        assert code == 3, report
        assert report["reason"].startswith("history rewritten or forked: the entries' tree at")
        assert "holds (a checkpoint of 5 entries signed at" in report["reason"]
    capsys.readouterr()
    assert main(["killswitch", "status"]) == 3  # the command's checkpoint is refused: a fork
    assert "refused a checkpoint of 5 entries" in capsys.readouterr().err


def test_incremental_verify_rehashes_only_the_new_entries(ws_url, capsys):
    ws, _url = ws_url
    history(ws)
    assert verify_json(capsys)[1]["mode"] == "full"
    with Ledger.open(ws) as ledger:
        ledger.append("test.event", actor="dana", payload={"i": 99})
    code, report, _ = verify_json(capsys, "--incremental")
    assert (code, report["mode"], report["rehashed"], report["entries"]) == (0, "incremental", 1, 6)


def _signed(key: NoteKey, size: int, root: bytes) -> SignedNote:
    return sign_checkpoint(Checkpoint(key.name, size, root), key)


@pytest.fixture(params=["dir", "git", "sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def witness(request, tmp_path):
    kind = request.param
    if kind == "postgresql":
        from test_ledger_support import scratch_pg_database

        with scratch_pg_database(request.getfixturevalue("pg_url")) as url:
            yield SqlWitness(url)
        return
    yield {
        "dir": lambda: DirectoryWitness(str(tmp_path / "w")),
        "git": lambda: GitWitness(str(tmp_path / "w")),
        "sqlite": lambda: SqlWitness(f"sqlite:///{tmp_path / 'witness.db'}"),
    }[kind]()


def test_witness_accepts_only_consistent_growth_from_the_pinned_key(witness, tmp_path):
    with Ledger(f"sqlite:///{tmp_path / 'l.db'}", ArtifactStore(tmp_path / "a")) as ledger:
        key = NoteKey("alphagate.ledger/test", _key())
        for i in range(3):
            ledger.append("x", actor="a", payload={"i": i})
        size, root = ledger.tree_head()
        witness.add(_signed(key, size, root), 0, [], key.public)
        for i in range(4):
            ledger.append("x", actor="a", payload={"i": 10 + i})
        _, new_root = ledger.tree_head()
        proof = ledger.consistency_proof(3, 7)
        held = witness.latest(key.name)
        assert held.note.checkpoint.size == 3 and witness.cosigned_at(held)
        with pytest.raises(WitnessRefused, match=r"fork|does not"):
            witness.add(_signed(key, 7, EMPTY_ROOT), 3, proof, key.public)
        with pytest.raises(WitnessRefused, match="different log key"):
            other = NoteKey(key.name, _key())
            witness.add(_signed(other, 7, new_root), 3, proof, other.public)
        witness.add(_signed(key, 7, new_root), 3, proof, key.public)
        with pytest.raises(WitnessRefused, match="shrank"):
            witness.add(_signed(key, 3, root), 7, [], key.public)
        with pytest.raises(WitnessRefused, match="fork"):
            witness.add(_signed(key, 7, root), 7, [], key.public)
        assert witness.latest(key.name).note.checkpoint == Checkpoint(key.name, 7, new_root)


def _key():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate()


def test_the_directory_witness_reads_its_files_again_when_a_shell_changes_them(tmp_path):
    """A directory witness keeps the checkpoint it last read (issue 28: a hand-over read it
    about five times) only while its files stand. A hostile shell that puts an older
    checkpoint back (a new file renamed over it), or rewrites one signature byte in place
    and sets the mtime back, is read again: the witness decides on what is on disk."""
    import os

    from governance.log.checkpoint import origin_slug
    from governance.log.witness import WitnessMoved

    witness = DirectoryWitness(str(tmp_path / "w"))
    with Ledger(f"sqlite:///{tmp_path / 'l.db'}", ArtifactStore(tmp_path / "a")) as ledger:
        key = NoteKey("alphagate.ledger/test", _key())
        for i in range(3):
            ledger.append("x", actor="a", payload={"i": i})
        witness.add(_signed(key, *ledger.tree_head()), 0, [], key.public)
        path = tmp_path / "w" / origin_slug(key.name) / "checkpoint"
        three = path.read_text()
        for i in range(4):
            ledger.append("x", actor="a", payload={"i": 10 + i})
        proof = ledger.consistency_proof(3, 7)
        witness.add(_signed(key, *ledger.tree_head()), 3, proof, key.public)
        seven = witness.latest(key.name)
        assert seven.note.checkpoint.size == 7 and witness.latest(key.name) is seven  # kept

        (path.parent / "old").write_text(three)
        os.replace(path.parent / "old", path)  # the older checkpoint put back
        assert witness.latest(key.name).note.checkpoint.size == 3
        with pytest.raises(WitnessMoved):  # it holds 3 now, whatever it last wrote
            witness.add(_signed(key, *ledger.tree_head()), 7, [], key.public)

        path.write_text(seven.note.text())
        assert witness.latest(key.name) == seven
        before = os.stat(path)
        text = path.read_text()
        at = text.rstrip("\n").rfind(" ") + 10  # a byte inside the last signature's base64
        forged = text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]
        with open(path, "r+", encoding="utf-8") as fh:  # same length, in place
            fh.write(forged)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # the mtime put back
        assert os.stat(path).st_mtime_ns == before.st_mtime_ns
        held = witness.latest(key.name)
        assert held != seven and held.note == SignedNote.parse(forged)
        assert witness.cosigned_at(held) is None


def test_a_forged_witness_file_is_not_a_cosignature(ws_url, capsys, tmp_path):
    ws, _url = ws_url
    history(ws)
    (folder,) = [p for p in (tmp_path / "wdir").iterdir() if p.is_dir()]
    text = (folder / "checkpoint").read_text()
    (folder / "checkpoint").write_text(text.replace("\n5\n", "\n4\n"))
    code, report, _ = verify_json(capsys)
    assert code == 3 and "cosignature does not verify" in report["reason"]


# -- property: any rewrite or truncation of a witnessed prefix is detected -----------------

PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
FIELDS = ["actor", "role", "action", "subject", "payload", "ts"]


@PROPERTY
@given(
    witnessed=st.integers(1, 12),
    later=st.integers(0, 6),
    attack=st.sampled_from(["rewrite", "truncate", "naive"]),
    data=st.data(),
)
def test_any_change_or_suffix_removal_is_detected_given_one_checkpoint(
    witnessed, later, attack, data
):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        url = f"sqlite:///{root / 'ledger.db'}"
        witnesses = [DirectoryWitness(str(root / "w"))]
        with Ledger(url, ArtifactStore(root / "a")) as ledger:
            for i in range(witnessed):
                ledger.append("x.y", actor=f"a{i % 3}", subject=f"s{i}", payload={"i": i})
            publish(ledger, witnesses)
            for i in range(later):
                ledger.append("x.z", actor="b", payload={"j": i})
            total = witnessed + later
            if attack == "truncate":
                truncate_tail(url, data.draw(st.integers(0, witnessed - 1)))
            else:
                seq = data.draw(st.integers(1, witnessed if attack == "rewrite" else total))
                field = data.draw(st.sampled_from(FIELDS))
                value = '{"forged":true}' if field == "payload" else "forged"
                if attack == "rewrite":
                    rewrite_history(url, seq, lambda r: r.__setitem__(field, value))
                else:
                    _raw_update(url, seq, field, value)
            report = _verify_with(ledger, witnesses)
            assert not report.ok, (attack, report)


def _verify_with(ledger, witnesses) -> object:
    import governance.log.transparency as t

    original = t.witnesses_from_env
    t.witnesses_from_env = lambda: witnesses
    try:
        return verify_log(ledger)
    except TamperDetected as exc:
        return type("R", (), {"ok": False, "reason": exc})()
    finally:
        t.witnesses_from_env = original


def _raw_update(url: str, seq: int, field: str, value: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(f"UPDATE ledger_entries SET {field} = :v WHERE seq = :s"),
            {"v": value, "s": seq},
        )
    engine.dispose()


def test_a_fresh_genesis_made_blind_is_caught_when_the_witness_is_named_again(
    workspace, monkeypatch, capsys, tmp_path
):
    """The insider deletes ledger.db and writes a new genesis with themselves as admin, with
    ``ALPHAGATE_WITNESS=none`` so their own commands check nothing (docs/governance.md,
    threat model: a process the attacker runs checks what the attacker tells it to). The
    witness still holds the old log's checkpoint at that origin: the next command run with
    it (a scheduled run, an auditor's ``ledger verify``) is exit 3 and names it."""
    witness = f"dir:{tmp_path / 'w'}"
    monkeypatch.setenv("ALPHAGATE_WITNESS", witness)
    history(workspace)
    Path(workspace.ledger_url.removeprefix("sqlite:///")).unlink()
    monkeypatch.setenv("ALPHAGATE_WITNESS", "none")
    assert main(["keys", "new", "--out", str(tmp_path / "eve.key")]) == 0
    assert main(["init", "--admin", "eve", "--key", str(tmp_path / "eve.key")]) == 0
    code, report, _ = verify_json(capsys)
    assert code == 0 and report["entries"] == 1  # blind: no witness named, none checked
    monkeypatch.setenv("ALPHAGATE_WITNESS", witness)
    code, report, _ = verify_json(capsys)
    assert code == 3 and report["first_bad_seq"] == 2
    assert report["reason"].startswith(f"log has 1 entries, witness {witness} holds")
    capsys.readouterr()
    assert main(["killswitch", "status"]) == 3  # every command's checkpoint is refused
    assert "the ledger's tail was truncated or its head moved back" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["", "dir:", "git:", "sqlite:///"])
def test_a_witness_inside_the_workspace_is_refused(workspace, monkeypatch, capsys, kind):
    """The insider points the witness into the workspace she can rewrite with the ledger
    (for a directory witness, its folder; for a SQLite one, its file): every command is
    exit 2 in one line naming the witness and the workspace; nothing is recorded or written there."""
    with Ledger.open(workspace) as ledger:
        before = ledger.head()[0]
    inside = workspace.home / ("witness.db" if kind == "sqlite:///" else "witness")
    monkeypatch.setenv("ALPHAGATE_WITNESS", f"{tmp_dir_outside(workspace)},{kind}{inside}")
    capsys.readouterr()
    assert main(["ledger", "checkpoint"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "inside the workspace" in err[0] and str(inside) in err[0]
    with Ledger.open(workspace) as ledger:
        assert ledger.head()[0] == before
    assert not inside.exists()


def tmp_dir_outside(ws) -> str:
    """A witness folder beside the workspace (allowed): the refusal is of the inside one."""
    return str(ws.home.parent / "witness-beside")
