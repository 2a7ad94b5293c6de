"""A witness service: c2sp.org/tlog-witness over HTTP, its own key, its own database.

``alphagate witness serve --key FILE --state URL --listen HOST:PORT --log VKEY...`` runs
:func:`serve`: a Starlette application under uvicorn with one route,
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
import threading
from collections.abc import Iterable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

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


def make_app(witness: SqlWitness, logs: dict[str, list[bytes]]) -> Starlette:
    """The ASGI application of a witness that cosigns with ``witness.key`` for ``logs``."""
    witness.pins_log_key = False  # trust is the configured list, several keys in a rotation
    one_at_a_time = threading.Lock()

    def add(body: bytes) -> PlainTextResponse:
        try:
            old, proof, note = parse_request(body)
            cp = note.checkpoint
        except (BadRequest, TamperDetected) as exc:
            return _text(400, str(exc))
        keys = logs.get(cp.origin)
        if keys is None:
            return _text(404, f"unknown log origin {cp.origin!r}")
        # the key that signed it (witness.add checks the signature again: once, with one key)
        public = (
            keys[0]
            if len(keys) == 1
            else next((k for k in keys if note.verify(cp.origin, k)), keys[0])
        )
        try:
            with one_at_a_time:  # SqlWitness keeps its locked connection on the instance
                cosigned = witness.add(note, old, proof, public)
        except BadRequest as exc:
            return _text(400, str(exc))
        except BadLogSignature as exc:
            return _text(403, str(exc))
        except (WitnessMoved, Forked) as exc:
            return PlainTextResponse(f"{exc.size}\n", 409, media_type=SIZE_TYPE)
        except BadProof as exc:
            return _text(422, str(exc))
        me = witness.key
        mine = [s for s in cosigned.signatures if s.name == me.name]
        lines = SignedNote("", tuple(mine)).text()[1:]  # the signature lines alone
        return _text(200, lines)

    async def add_checkpoint(request: Request) -> PlainTextResponse:
        body = await request.body()
        if len(body) > MAX_BODY:
            return _text(413, "request too large")
        return await run_in_threadpool(add, body)

    witness.engine  # noqa: B018 (create the tables before the first request)
    return Starlette(routes=[Route("/add-checkpoint", add_checkpoint, methods=["POST"])])


def _text(status: int, text: str) -> PlainTextResponse:
    return PlainTextResponse(text if text.endswith("\n") else text + "\n", status)


def serve(key: NoteKey, state_url: str, listen: str, logs: dict[str, list[bytes]]) -> None:
    """Run the witness service until interrupted (uvicorn, one process)."""
    import uvicorn

    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"--listen: {listen!r} is not HOST:PORT")
    app = make_app(SqlWitness(state_url, key), logs)
    print(f"witness {key.vkey(COSIGNATURE_V1)} listening on http://{host}:{port}", flush=True)
    uvicorn.run(app, host=host.strip("[]"), port=int(port), log_level="warning", access_log=False)
