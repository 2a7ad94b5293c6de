"""The witness client's transport (governance/log/witness_http.py) against real processes: the
requests of a hand-over go out together from the calling thread and every answer is read
(none dropped at quorum); a service that hangs after accepting the connection costs its own
timeout and is named, while the others decide; a service restarted between two hand-overs of
one process is reached on a new connection (its kept-alive one is dead), not reported
unreachable; ``https://`` verifies the service's certificate, so a man in the middle with a
certificate the client does not trust is a named failure, never a cosignature."""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID
from helpers_witness import ROOT, free_port, start_witnesses

from governance.ground.artifacts import ArtifactStore
from governance.log import witness_http
from governance.log.checkpoint import NoteKey, Verifier
from governance.log.ledger import Ledger
from governance.log.quorum import QuorumLost, WitnessSet, hand_over, quorum_checkpoint
from governance.log.remote import HttpWitness, WitnessUnreachable

ORIGIN = "alphagate.ledger/client-test"


@pytest.fixture
def log_key(monkeypatch, tmp_path) -> NoteKey:
    key = NoteKey(ORIGIN, Ed25519PrivateKey.generate())
    path = tmp_path / "log.key"
    path.write_bytes(
        key.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    monkeypatch.setenv("ALPHAGATE_LOG_KEY", str(path))
    monkeypatch.setenv("ALPHAGATE_LOG_ORIGIN", ORIGIN)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return key


@pytest.fixture
def ledger(tmp_path):
    with Ledger(f"sqlite:///{tmp_path / 'l.db'}", ArtifactStore(tmp_path / "a")) as lg:
        yield lg


@pytest.fixture
def services(tmp_path, log_key):
    running = start_witnesses(tmp_path / "w", 3, log_key.vkey())
    yield running
    for s in running:
        s.stop()


def members(services, **kw) -> tuple[HttpWitness, ...]:
    return tuple(HttpWitness(s.url, Verifier.parse(s.vkey), **kw) for s in services)


def test_a_hand_over_starts_no_thread_and_reads_every_answer(services, ledger, log_key):
    wset = WitnessSet(members(services), 2, (), "test")
    ledger.append("test.event", actor="dana", payload={"i": 0})
    before = threading.active_count()
    for i in range(1, 4):
        ledger.append("test.event", actor="dana", payload={"i": i})
        done = quorum_checkpoint(ledger, wset)
        # all three answered and cosigned: none dropped once two (the quorum) had
        assert len(done.cosigners) == 3 and not done.missing
        assert done.size == i + 1
    assert threading.active_count() == before  # no pool, no thread per witness


def _hung_service() -> tuple[subprocess.Popen, str]:
    """A process that accepts connections and reads, but never answers."""
    port = free_port()
    code = (
        "import socket, time\n"
        f"s = socket.create_server(('127.0.0.1', {port}))\n"
        "held = []\n"
        "while True:\n"
        "    c, _ = s.accept(); held.append(c)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the hung service did not start")


def test_a_hung_witness_is_named_and_the_others_decide(services, ledger, log_key):
    proc, url = _hung_service()
    try:
        hung = HttpWitness(url, Verifier.parse(NoteKey("hung", log_key.private).vkey(0x04)),
                           timeout=0.3)  # fmt: skip
        two = members(services[:2])
        ledger.append("test.event", actor="dana", payload={"i": 0})
        done = quorum_checkpoint(ledger, WitnessSet((*two, hung), 2, (), "test"))
        assert set(done.cosigners) == {w.name for w in two}
        assert "timed out" in done.missing[hung.label]
        assert f"witness {hung.label} unreachable (timed out, 3 tries)" in done.missing[hung.label]

        ledger.append("test.event", actor="dana", payload={"i": 1})
        with pytest.raises(QuorumLost, match="2 of 3 witnesses of test cosigned, 3 needed") as e:
            quorum_checkpoint(ledger, WitnessSet((*two, hung), 3, (), "test"))
        assert hung.label in str(e.value)
    finally:
        proc.kill()
        proc.wait()


def test_a_restarted_service_is_reached_on_a_new_connection(services, ledger, log_key):
    (w,) = members(services[:1])
    ledger.append("test.event", actor="dana", payload={"i": 0})
    done, failed = hand_over(ledger, [w], log_key)
    assert not failed and done[w].checkpoint.size == 1
    assert witness_http._IDLE  # its connection is kept for the next request

    services[0].stop()  # the kept-alive connection now leads to a dead process
    services[0].start()
    ledger.append("test.event", actor="dana", payload={"i": 1})
    done, failed = hand_over(ledger, [w], log_key)
    assert not failed, failed
    assert done[w].cosigned_at(w.name, w.verifier.public)

    services[0].stop()  # stopped for good: unreachable, named
    ledger.append("test.event", actor="dana", payload={"i": 2})
    _, failed = hand_over(ledger, [w], log_key)
    assert isinstance(failed[w], WitnessUnreachable)
    assert "ConnectionRefusedError" in str(failed[w])


# -- https:// -------------------------------------------------------------------------------


def _certificate(folder) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (its own issuer): ``(cert file, key file)``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "witness test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


def _tls_service(folder, log_key) -> tuple[subprocess.Popen, str, str, str]:
    """The witness application under uvicorn with TLS, in its own process:
    ``(process, url, its vkey, its certificate file)``."""
    from governance.log.checkpoint import COSIGNATURE_V1
    from governance.log.service import witness_key

    cert, key = _certificate(folder)
    vkey = witness_key(str(folder / "witness.key")).vkey(COSIGNATURE_V1)
    port, state = free_port(), f"sqlite:///{folder / 'state.db'}"
    code = (
        "import sys, uvicorn\n"
        "from governance.log.service import make_app, log_keys, witness_key\n"
        "from governance.log.witness import SqlWitness\n"
        f"app = make_app(SqlWitness({state!r},"
        f" witness_key({str(folder / 'witness.key')!r})), log_keys([{log_key.vkey()!r}]))\n"
        f"uvicorn.run(app, host='127.0.0.1', port={port}, ssl_certfile={cert!r},"
        f" ssl_keyfile={key!r}, log_level='warning', lifespan='off')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the TLS witness did not start")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"https://127.0.0.1:{port}", vkey, cert
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the TLS witness did not start in 60 s")


def test_https_verifies_the_witness_certificate(tmp_path, ledger, log_key, monkeypatch):
    proc, url, vkey, cert = _tls_service(tmp_path / "tls", log_key)
    try:
        w = HttpWitness(url, Verifier.parse(vkey))
        ledger.append("test.event", actor="dana", payload={"i": 0})

        monkeypatch.setattr(witness_http, "_TLS", [])  # the system's trust store: not this one
        monkeypatch.setattr(witness_http, "_IDLE", {})
        _, failed = hand_over(ledger, [w], log_key)
        assert isinstance(failed[w], WitnessUnreachable)
        assert "CERTIFICATE_VERIFY_FAILED" in str(failed[w])

        monkeypatch.setenv("SSL_CERT_FILE", cert)  # the operator's CA, as OpenSSL reads it
        monkeypatch.setattr(witness_http, "_TLS", [])
        done, failed = hand_over(ledger, [w], log_key)
        assert not failed, failed
        assert done[w].cosigned_at(w.name, w.verifier.public)
    finally:
        proc.kill()
        proc.wait()
