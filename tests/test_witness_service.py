"""The witness service against a running process: each rule of c2sp.org/tlog-witness, the
cosignature checked by a verifier written here from c2sp.org/tlog-cosignature (not the
project's), the signed-note format against golang.org/x/mod sumdb/note's published vectors,
and the client's answers (refusal, retry, unreachable) naming the witness. The witness state
is SQLite, and PostgreSQL where ``ALPHAGATE_TEST_PG_URL`` is set."""

from __future__ import annotations

import base64
import hashlib
import struct

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from helpers_witness import ROOT, WitnessProcess, cli

from governance.ground.artifacts import ArtifactStore
from governance.ground.errors import InputError
from governance.log.checkpoint import Checkpoint, NoteKey, SignedNote, Verifier, sign_checkpoint
from governance.log.ledger import Ledger
from governance.log.remote import HttpWitness, WitnessUnreachable, add_checkpoint_body
from governance.log.witness import WitnessRefused

ORIGIN = "alphagate.ledger/witness-test"


@pytest.fixture(scope="module")
def log_key() -> NoteKey:
    return NoteKey(ORIGIN, Ed25519PrivateKey.generate())


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def service(request, tmp_path, log_key):
    """A running witness service trusting ``log_key`` for :data:`ORIGIN`."""
    if request.param == "sqlite":
        state = f"sqlite:///{tmp_path / 'state.db'}"
        w = WitnessProcess(tmp_path / "w", state, [log_key.vkey()]).start()
        yield w
        w.stop()
        return
    from test_ledger_support import scratch_pg_database

    with scratch_pg_database(request.getfixturevalue("pg_url")) as state:
        w = WitnessProcess(tmp_path / "w", state, [log_key.vkey()]).start()
        yield w
        w.stop()


@pytest.fixture
def ledger(tmp_path):
    with Ledger(f"sqlite:///{tmp_path / 'l.db'}", ArtifactStore(tmp_path / "a")) as lg:
        yield lg


def grow(ledger, n: int) -> tuple[int, bytes]:
    for i in range(n):
        ledger.append("test.event", actor="dana", payload={"i": i})
    return ledger.tree_head()


def post(w: WitnessProcess, old: int, proof, note: SignedNote) -> httpx.Response:
    return httpx.post(f"{w.url}/add-checkpoint", content=add_checkpoint_body(note, old, proof))


def independent_cosigned_at(vkey: str, note_text: str) -> int | None:
    """tlog-cosignature/v1 verified from the spec alone: the vkey's name and type-0x04 key,
    key ID = SHA-256(name || 0x0A || 0x04 || key)[:4], signature = time(8, big-endian) ||
    Ed25519 over ``"cosignature/v1\\ntime T\\n" + body``."""
    name, kid_hex, b64 = vkey.split("+", 2)
    raw = base64.b64decode(b64)
    assert raw[0] == 0x04 and len(raw) == 33
    kid = hashlib.sha256(name.encode() + b"\n\x04" + raw[1:]).digest()[:4]
    assert kid.hex() == kid_hex
    body, _, sigs = note_text.rpartition("\n\n")
    for line in sigs.splitlines():
        who, _, sig_b64 = line.removeprefix("\u2014 ").rpartition(" ")
        sig = base64.b64decode(sig_b64)
        if who == name and sig[:4] == kid:
            (ts,) = struct.unpack(">Q", sig[4:12])
            message = f"cosignature/v1\ntime {ts}\n{body}\n".encode()
            Ed25519PublicKey.from_public_bytes(raw[1:]).verify(sig[12:], message)
            return ts
    return None


def test_each_protocol_rule_against_a_running_witness(service, ledger, log_key):
    done = cli("witness", "keys", "--key", str(service.key_file))  # what the tests' helper reads
    assert (done.returncode, done.stdout.strip()) == (0, service.vkey), done.stderr
    size, root = grow(ledger, 3)
    first = sign_checkpoint(Checkpoint(ORIGIN, size, root), log_key)

    stranger = NoteKey("alphagate.ledger/other", Ed25519PrivateKey.generate())
    unknown = sign_checkpoint(Checkpoint(stranger.name, size, root), stranger)
    assert post(service, 0, [], unknown).status_code == 404  # an origin it was not given

    forged = sign_checkpoint(
        Checkpoint(ORIGIN, size, root), NoteKey(ORIGIN, Ed25519PrivateKey.generate())
    )
    assert post(service, 0, [], forged).status_code == 403  # not the log's key

    ok = post(service, 0, [], first)
    assert ok.status_code == 200
    cosigned = first.text() + ok.text
    ts = independent_cosigned_at(service.vkey, cosigned)
    assert ts is not None and ts > 0

    size2, root2 = grow(ledger, 4)
    second = sign_checkpoint(Checkpoint(ORIGIN, size2, root2), log_key)
    proof = ledger.consistency_proof(size, size2)

    behind = post(service, 0, [], second)  # the client does not know what it holds
    assert (behind.status_code, behind.text) == (409, f"{size}\n")
    assert behind.headers["content-type"].startswith("text/x.tlog.size")

    rewritten = sign_checkpoint(Checkpoint(ORIGIN, size2, hashlib.sha256(b"x").digest()), log_key)
    assert post(service, size, proof, rewritten).status_code == 422  # not an extension

    assert post(service, size2, [], first).status_code == 400  # old size above the new

    accepted = post(service, size, proof, second)
    assert accepted.status_code == 200
    assert independent_cosigned_at(service.vkey, second.text() + accepted.text) >= ts

    replay = post(service, size, [], first)  # the older checkpoint again
    assert (replay.status_code, replay.text) == (409, f"{size2}\n")
    fork = sign_checkpoint(Checkpoint(ORIGIN, size2, hashlib.sha256(b"y").digest()), log_key)
    assert (post(service, size2, [], fork).status_code, post(service, size2, [], fork).text) == (
        409,
        f"{size2}\n",
    )
    again = post(service, size2, [], second)  # the same checkpoint: cosigned again
    assert again.status_code == 200

    service.stop()  # its state outlives the process
    service.start()
    assert post(service, 0, [], second).text == f"{size2}\n"


def test_the_client_proves_from_the_held_size_and_names_a_refusing_witness(
    service, ledger, log_key
):
    from governance.log.quorum import hand_over

    witness = HttpWitness(service.url, Verifier.parse(service.vkey))
    grow(ledger, 5)
    done, failed = hand_over(ledger, [witness], log_key)
    assert not failed and done[witness].checkpoint.size == 5
    grow(ledger, 2)
    done, failed = hand_over(ledger, [witness], log_key)
    assert not failed and done[witness].cosigned_at(witness.name, witness.verifier.public)

    impostor = NoteKey(ORIGIN, Ed25519PrivateKey.generate())  # an insider's own "log key"
    _, failed = hand_over(ledger, [witness], impostor)
    assert isinstance(failed[witness], WitnessRefused)
    assert f"witness {witness.label} refused the checkpoint of 7 entries: HTTP 403" in str(
        failed[witness]
    )

    wrong = HttpWitness(
        service.url, Verifier.parse(NoteKey("w", Ed25519PrivateKey.generate()).vkey(0x04))
    )
    with pytest.raises(WitnessRefused, match="cosignature does not verify"):
        wrong.add(*_next(ledger, log_key, 7))

    service.stop()
    _, failed = hand_over(ledger, [witness], log_key)
    assert isinstance(failed[witness], WitnessUnreachable)
    assert f"witness {witness.label} unreachable (ConnectionRefusedError" in str(failed[witness])


def _next(ledger, log_key, old):
    size, root = grow(ledger, 1)
    note = sign_checkpoint(Checkpoint(ORIGIN, size, root), log_key)
    return note, old, ledger.consistency_proof(old, size), log_key.public


# -- golang.org/x/mod/sumdb/note vectors (note_test.go) -----------------------------------

PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
ENOCH_SIG = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"


def test_signed_notes_match_the_go_sumdb_note_vectors():
    seed = base64.b64decode(PETER_SKEY.split("+", 4)[4])[1:]  # PRIVATE+KEY+name+id+key
    peter = NoteKey("PeterNeumann", Ed25519PrivateKey.from_private_bytes(seed))
    assert peter.vkey() == PETER_VKEY
    assert peter.sign(TEXT) == PETER_SIG  # Ed25519 is deterministic: the exact line
    note = SignedNote.parse(TEXT + "\n" + PETER_SIG + ENOCH_SIG)
    for vkey in (PETER_VKEY, ENOCH_VKEY):
        v = Verifier.parse(vkey)
        assert v.text() == vkey and note.verify(v.name, v.public)
    assert not note.verify("PeterNeumann", Verifier.parse(ENOCH_VKEY).public)
    for bad in (PETER_VKEY[:-1], PETER_VKEY.replace("c74f20a3", "c74f20a4"),
                "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"):  # fmt: skip
        with pytest.raises(InputError, match="not a verifier key"):
            Verifier.parse(bad)


HAND_OVER = """
import json, sys
from pathlib import Path
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from governance.ground.artifacts import ArtifactStore
from governance.log.checkpoint import NoteKey, Verifier
from governance.log.ledger import Ledger
from governance.log.quorum import hand_over
from governance.log.remote import HttpWitness
db, pem, url, vkey = sys.argv[1:5]
key = NoteKey({origin!r}, load_pem_private_key(Path(pem).read_bytes(), None))
w = HttpWitness(url, Verifier.parse(vkey))
with Ledger("sqlite:///" + db, ArtifactStore(Path(db).parent / "a")) as ledger:
    done, failed = hand_over(ledger, [w], key)
print(json.dumps({{"size": done[w].checkpoint.size if w in done else None,
                  "failed": [str(e) for e in failed.values()]}}))
"""


def test_the_size_hint_is_not_trusted(service, ledger, log_key, tmp_path):
    """A new process proves from the size its hint file says the witness holds (one round
    trip instead of a 409 and a retry). Whoever writes the file (it sits outside the
    workspace, in the reader's own account) gains nothing: a size below or above the one
    held, or a broken file, costs a 409 and a retry, never a refusal or a wrong proof."""
    import json
    import os
    import subprocess
    import sys

    from cryptography.hazmat.primitives import serialization

    from governance.log.checkpoint import origin_slug

    pem = tmp_path / "log.pem"
    pem.write_bytes(
        log_key.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    xdg = tmp_path / "xdg"
    hint = xdg / "alphagate" / "witness-sizes" / f"{origin_slug(ORIGIN)}.json"
    witness = HttpWitness(service.url, Verifier.parse(service.vkey))
    db = ledger.url.removeprefix("sqlite:///")
    env = {**os.environ, "XDG_DATA_HOME": str(xdg), "PYTHONPATH": str(ROOT)}
    script = HAND_OVER.format(origin=ORIGIN)

    def fresh_process() -> dict:
        args = [sys.executable, "-c", script, db, str(pem), service.url, service.vkey]
        done = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    grow(ledger, 5)
    assert fresh_process() == {"size": 5, "failed": []}
    assert json.loads(hint.read_text()) == {witness.label: 5}  # learned from the witness
    for wrong in ({witness.label: 2}, {witness.label: 999}, "{broken"):
        grow(ledger, 1)
        hint.write_text(wrong if isinstance(wrong, str) else json.dumps(wrong))
        size = ledger.tree_head()[0]
        assert fresh_process() == {"size": size, "failed": []}, wrong
        assert json.loads(hint.read_text()) == {witness.label: size}
