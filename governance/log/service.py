"""A witness service: c2sp.org/tlog-witness over HTTP, its own key, its own database.

``alphagate witness serve --key FILE --state URL --listen HOST:PORT --log VKEY...`` runs
:func:`serve`: an ASGI application under uvicorn (httptools, uvloop) with one route,
``POST /add-checkpoint`` (body: ``old N``, consistency proof lines in base64, a blank line,
the signed checkpoint). The rules and their answers, in the order the protocol checks them:

=====================================================  ========================================
checkpoint origin not among the configured logs        404
old size above the checkpoint's size                   400
no signature verifies with a configured key of the log 403
old size is not the size held (0 before the first)     409, body ``<held size>\\n``,
                                                       ``Content-Type: text/x.tlog.size``
same size as held, different root (a fork)             409, as above
consistency proof does not verify                      422
otherwise: stored (atomically with the check), then    200, the cosignature line
=====================================================  ========================================

The cosignature is tlog-cosignature/v1 (:meth:`governance.log.checkpoint.NoteKey.cosign`):
Ed25519 over ``"cosignature/v1\\ntime T\\n" + checkpoint``, timestamped. The check and the
store are one transaction (:class:`governance.log.witness.SqlWitness`: SQLite
``BEGIN IMMEDIATE``, PostgreSQL a row lock), so two racing requests cannot roll the held size
back. The service is meant to run on another host under another account than the log's
writer (docs/witness.md: a systemd unit and a Dockerfile); its key never leaves it.

The logs it witnesses are configured (``--log``, the log's verifier key, whose name is the
origin; several keys for one origin during a key rotation): a checkpoint of any other origin
is refused, so a writer cannot start a fresh history under a new origin and have it cosigned.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable

from governance.ground.errors import InputError, TamperDetected
from governance.log.checkpoint import (
    COSIGNATURE_V1,
    ED25519,
    NoteKey,
    SignedNote,
    Verifier,
    load_or_create_key,
)
from governance.log.remote import SIZE_TYPE
from governance.log.witness import (
    BadLogSignature,
    BadProof,
    BadRequest,
    Forked,
    SqlWitness,
    WitnessMoved,
)

#: tlog-witness: a client MUST NOT send more than 63 consistency proof lines.
MAX_PROOF = 63
#: A checkpoint with its signatures is a few hundred bytes; refuse anything far bigger.
MAX_BODY = 64 * 1024


def witness_key(path: str, name: str | None = None) -> NoteKey:
    """The witness's Ed25519 key in PEM file ``path`` (created, mode 0600, when absent).

    Its name defaults to ``alphagate.witness/<first 8 hex of SHA-256(public key)>``, so
    ``witness keys`` and ``witness serve`` agree without a flag.
    """
    from pathlib import Path

    key = load_or_create_key(Path(path).expanduser(), name or "alphagate.witness/pending")
    if name is None:
        key = NoteKey(
            f"alphagate.witness/{hashlib.sha256(key.public).hexdigest()[:8]}", key.private
        )
    return key


def log_keys(vkeys: Iterable[str]) -> dict[str, list[bytes]]:
    """``{origin: [Ed25519 public key, ...]}`` from the logs' verifier keys (exit 2 if bad)."""
    out: dict[str, list[bytes]] = {}
    for text in vkeys:
        v = Verifier.parse(text, "--log")
        if v.sig_type != ED25519:
            raise InputError(f"--log: {text!r} is not a log key (signature type 0x01)")
        out.setdefault(v.name, []).append(v.public)
    if not out:
        raise InputError("--log: name at least one log's verifier key (`alphagate ledger key`)")
    return out


def parse_request(body: bytes) -> tuple[int, list[bytes], SignedNote]:
    """``(old size, proof, note)`` of an add-checkpoint body; :class:`BadRequest` if malformed."""
    try:
        text = body.decode("utf-8")
        head, sep, note_text = text.partition("\n\n")
        lines = head.split("\n")
        if not sep or not lines[0].startswith("old "):
            raise ValueError("no 'old N' line and blank line")
        digits = lines[0][4:]
        if not digits.isdigit() or (digits != "0" and digits.startswith("0")):
            raise ValueError("old size is not a decimal")
        proof = [base64.b64decode(line, validate=True) for line in lines[1:]]
        if len(proof) > MAX_PROOF or any(len(h) != 32 for h in proof):
            raise ValueError("consistency proof lines are not at most 63 SHA-256 hashes")
        return int(digits), proof, SignedNote.parse(note_text)
    except (UnicodeDecodeError, ValueError, binascii.Error, TamperDetected) as exc:
        raise BadRequest(f"malformed add-checkpoint request: {exc}") from None


def make_app(witness: SqlWitness, logs: dict[str, list[bytes]]):
    """The ASGI application of a witness that cosigns with ``witness.key`` for ``logs``.

    A plain ASGI callable under uvicorn: one route, ``POST /add-checkpoint`` (any other path
    404, another method 405), a body of at most :data:`MAX_BODY` bytes (else 413), answered
    in the event loop itself. A witness checks and stores one checkpoint at a time (the
    check and the store are one transaction on its one connection), so a worker thread per
    request bought no parallelism; handing each request to one and back cost more CPU than
    the check (bench/bench_witness.py prints the services' CPU per request).
    """
    witness.pins_log_key = False  # trust is the configured list, several keys in a rotation

    def add(body: bytes) -> tuple[int, str, bytes]:
        try:
            old, proof, note = parse_request(body)
            cp = note.checkpoint
        except (BadRequest, TamperDetected) as exc:
            return 400, str(exc), _PLAIN
        keys = logs.get(cp.origin)
        if keys is None:
            return 404, f"unknown log origin {cp.origin!r}", _PLAIN
        # the key that signed it (witness.add checks the signature again: once, with one key)
        public = (
            keys[0]
            if len(keys) == 1
            else next((k for k in keys if note.verify(cp.origin, k)), keys[0])
        )
        try:
            cosigned = witness.add(note, old, proof, public)
        except BadRequest as exc:
            return 400, str(exc), _PLAIN
        except BadLogSignature as exc:
            return 403, str(exc), _PLAIN
        except (WitnessMoved, Forked) as exc:
            return 409, f"{exc.size}", _SIZE
        except BadProof as exc:
            return 422, str(exc), _PLAIN
        me = witness.key
        mine = [s for s in cosigned.signatures if s.name == me.name]
        return 200, SignedNote("", tuple(mine)).text()[1:], _PLAIN  # the signature lines

    async def app(scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        if scope["type"] != "http":
            return
        if scope["path"] != "/add-checkpoint":
            answer = 404, "not found", _PLAIN
        elif scope["method"] != "POST":
            answer = 405, "method not allowed: POST /add-checkpoint", _PLAIN
        else:
            body = await _body(receive)
            answer = (413, "request too large", _PLAIN) if body is None else add(body)
        await _answer(send, *answer)

    witness.engine  # noqa: B018 (create the tables before the first request)
    return app


_PLAIN = b"text/plain; charset=utf-8"
_SIZE = SIZE_TYPE.encode()


async def _body(receive) -> bytes | None:
    """The request body, or None beyond :data:`MAX_BODY` bytes (the rest is not read)."""
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


async def _answer(send, status: int, text: str, content_type: bytes) -> None:
    data = (text if text.endswith("\n") else text + "\n").encode()
    headers = [(b"content-type", content_type), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def serve(key: NoteKey, state_url: str, listen: str, logs: dict[str, list[bytes]]) -> None:
    """Run the witness service until interrupted (uvicorn, one process)."""
    import uvicorn

    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"--listen: {listen!r} is not HOST:PORT")
    app = make_app(SqlWitness(state_url, key), logs)
    print(f"witness {key.vkey(COSIGNATURE_V1)} listening on http://{host}:{port}", flush=True)
    uvicorn.run(app, host=host.strip("[]"), port=int(port), log_level="warning", access_log=False,
                lifespan="off")  # fmt: skip
