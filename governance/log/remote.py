"""Witnesses reached over HTTP (c2sp.org/tlog-witness), and the witnesses an environment names.

:class:`HttpWitness` is the client of a witness service (``alphagate witness serve``,
:mod:`governance.log.service`, or any C2SP witness): ``POST <url>/add-checkpoint`` with
``old N``, the consistency proof lines, a blank line and the signed checkpoint. Answers:

- 200: cosignature lines (tlog-cosignature/v1), checked against the witness's verifier key
  when it is known (the policy names it); a line that does not verify is a refusal;
- 409 (``text/x.tlog.size``): the witness holds another size; the caller proves from it
  (:class:`~governance.log.witness.WitnessMoved`); the same size again means a fork;
- 400, 403, 404, 422: refused (:class:`~governance.log.witness.WitnessRefused`, exit 3)
  naming the witness and the reason it gave;
- no answer within the timeout, after the retries: :class:`WitnessUnreachable` (exit 3 when
  the caller needs this witness for a quorum).

C2SP defines no read call: :meth:`HttpWitness.latest` knows nothing, and the first request
of a process starts from ``old 0`` and learns the held size from the 409.

``ALPHAGATE_WITNESS`` (comma-separated; default one directory witness at
``$XDG_DATA_HOME/alphagate/witness``; ``none`` for none) names local witnesses
(:mod:`governance.log.witness`): ``dir:PATH`` or ``PATH``, ``git:PATH``, ``sqlite:///F`` or
``postgresql+psycopg://...``; and services: ``http(s)://host:port`` or
``VKEY@http(s)://host:port``. The adopted policy's witnesses always count besides
(:mod:`governance.policy.witnesses`): the environment may add witnesses, never remove them.
A local witness inside the workspace (``ALPHAGATE_HOME``) is refused (exit 2): whoever can
rewrite the workspace could rewrite it too.
"""

from __future__ import annotations

import base64
import http.client
import os
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from governance.ground.errors import InputError, TamperDetected
from governance.ground.workspace import Workspace
from governance.log.checkpoint import COSIGNATURE_V1, SignedNote, Verifier, state_dir
from governance.log.witness import (
    DirectoryWitness,
    GitWitness,
    Held,
    SqlWitness,
    Witness,
    WitnessMoved,
    WitnessRefused,
)

#: Seconds to wait for one answer (a witness answers in milliseconds; a stopped one
#: refuses the connection at once, an unreachable host times out here).
TIMEOUT = 2.0
#: Tries per request; the waits between them double from :data:`BACKOFF` seconds.
ATTEMPTS = 3
BACKOFF = 0.05
SIZE_TYPE = "text/x.tlog.size"


class WitnessUnreachable(TamperDetected):
    """No answer from a witness after the retries: it cannot cosign now (exit 3 if needed)."""


def add_checkpoint_body(note: SignedNote, old_size: int, proof: Sequence[bytes]) -> bytes:
    """The tlog-witness request body: ``old N``, proof lines, a blank line, the note."""
    lines = "".join(base64.b64encode(h).decode() + "\n" for h in proof)
    return f"old {old_size}\n{lines}\n{note.text()}".encode()


class HttpWitness(Witness):
    """A witness service at ``url``; ``verifier`` its published cosigning key, if known."""

    kind = "http"

    def __init__(self, url: str, verifier: Verifier | None = None, *, timeout: float = TIMEOUT):
        super().__init__(url.rstrip("/"))
        if verifier is not None:
            if verifier.sig_type != COSIGNATURE_V1:
                raise TamperDetected(f"witness {url}: its key is not a cosignature/v1 key")
            self.name = verifier.name
        self.verifier = verifier
        self.timeout = timeout

    @property
    def label(self) -> str:
        return f"{self.name if self.verifier else 'http'} at {self.location}"

    @property
    def key(self):  # a remote witness's private key is, by design, out of reach
        raise WitnessRefused(f"witness {self.label}: its key is held by its operator")

    def latest(self, origin: str) -> Held | None:
        return None

    def cosigned_at(self, held: Held) -> int | None:
        if self.verifier is None:
            return None
        return held.note.cosigned_at(self.name, self.verifier.public)

    def add(self, note: SignedNote, old_size: int, proof: Sequence[bytes], log_public: bytes):
        """POST the checkpoint; return ``note`` with this witness's cosignature added.

        Raises
        ------
        WitnessMoved
            HTTP 409 with a size other than ``old_size``: prove from that size.
        WitnessRefused
            400/403/404/422, a 409 at the same size (a fork), or a cosignature that does
            not verify with the witness's key.
        WitnessUnreachable
            No answer after :data:`ATTEMPTS` tries.
        """
        size = note.checkpoint.size
        answer = self._post(add_checkpoint_body(note, old_size, proof))
        reason = answer.text.strip().splitlines()[0][:200] if answer.text.strip() else ""
        if answer.status_code == 409:
            held = _held_size(answer)
            if held is None or held == old_size:
                raise WitnessRefused(
                    f"witness {self.label} refused the checkpoint of {size} entries: HTTP 409,"
                    f" it holds a different tree of {old_size} entries (a fork) {reason}".strip()
                )
            raise WitnessMoved(held)
        if answer.status_code != 200:
            raise WitnessRefused(
                f"witness {self.label} refused the checkpoint of {size} entries:"
                f" HTTP {answer.status_code} {reason}".strip()
            )
        try:
            cosigned = SignedNote.parse(note.text() + answer.text)
        except TamperDetected:
            raise WitnessRefused(
                f"witness {self.label}: its answer is not signature lines"
            ) from None
        if self.verifier is not None and self.cosigned_at(Held(cosigned, log_public)) is None:
            raise WitnessRefused(
                f"witness {self.label}: its cosignature does not verify with the key"
                f" {self.verifier.text()}"
            )
        return cosigned

    def _post(self, body: bytes) -> Answer:
        last = "no attempt"
        for attempt in range(ATTEMPTS):
            if attempt:
                time.sleep(BACKOFF * 2 ** (attempt - 1))
            try:
                answer = post(f"{self.location}/add-checkpoint", body, self.timeout)
            except (OSError, http.client.HTTPException) as exc:
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                continue
            if answer.status_code < 500:
                return answer
            last = f"HTTP {answer.status_code}"
        raise WitnessUnreachable(f"witness {self.label} unreachable ({last}, {ATTEMPTS} tries)")


def _held_size(answer: Answer) -> int | None:
    text = answer.text.strip()
    if not answer.content_type.startswith(SIZE_TYPE) or not text.isdigit():
        return None
    return int(text)


@dataclass(frozen=True)
class Answer:
    """A witness's HTTP answer: status, body text, ``Content-Type``."""

    status_code: int
    text: str
    content_type: str


#: Kept-alive connections waiting for the next request, by scheme, host, port and timeout.
_IDLE: dict[tuple[str, str, int, float], list[http.client.HTTPConnection]] = {}
_IDLE_LOCK = threading.Lock()
_TLS: list[ssl.SSLContext] = []


def post(url: str, body: bytes, timeout: float) -> Answer:
    """POST ``body`` to ``url`` over a kept-alive connection (tlog-witness: clients SHOULD
    keep alive), one per witness and thread at a time; ``timeout`` seconds per connect and
    per read. The standard library's HTTP client: a command that asks witnesses pays no
    import of a larger stack (httpx and httpcore took 350 ms to import, and their client
    40-90 ms to build its TLS trust store even for ``http://``: bench/bench_witness.py).
    ``https://`` verifies the witness's certificate with the system's trust store.

    Raises
    ------
    OSError, http.client.HTTPException
        No connection, a timeout, or a broken answer (the caller retries).
    """
    parts = urlsplit(url)
    scheme, host = parts.scheme, parts.hostname or ""
    port = parts.port or (443 if scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    where = (scheme, host, port, timeout)
    with _IDLE_LOCK:
        idle = _IDLE.get(where)
        conn = idle.pop() if idle else None
    if conn is not None:  # the witness may have closed it while it was idle: then anew
        try:
            return _exchange(conn, where, path, body)
        except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
            pass
    if scheme == "https":
        with _IDLE_LOCK:
            if not _TLS:
                _TLS.append(ssl.create_default_context())
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=_TLS[0])
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    return _exchange(conn, where, path, body)


def _exchange(conn: http.client.HTTPConnection, where, path: str, body: bytes) -> Answer:
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "text/plain"})
        response = conn.getresponse()
        data = response.read()
    except BaseException:
        conn.close()
        raise
    answer = Answer(
        response.status, data.decode("utf-8", "replace"), response.getheader("Content-Type", "")
    )
    if response.will_close:
        conn.close()
    else:
        with _IDLE_LOCK:
            _IDLE.setdefault(where, []).append(conn)
    return answer


def _forget_connections() -> None:  # a forked child must not share its parent's sockets
    _IDLE.clear()


os.register_at_fork(after_in_child=_forget_connections)


def witness_at(spec: str, where: str = "ALPHAGATE_WITNESS") -> Witness:
    """The witness one location names (see the module docstring)."""
    if spec.startswith(("http://", "https://")):
        return HttpWitness(spec)
    vkey, at, url = spec.partition("@")
    if at and url.startswith(("http://", "https://")):
        return HttpWitness(url, Verifier.parse(vkey, where))
    if spec.startswith("git:"):
        return GitWitness(spec[4:])
    if spec.startswith("dir:"):
        return DirectoryWitness(spec[4:])
    if "://" in spec:
        return SqlWitness(spec)
    return DirectoryWitness(spec)


def witnesses_from_env() -> list[Witness]:
    """The witnesses named by ``ALPHAGATE_WITNESS`` (see the module docstring)."""
    spec = os.environ.get("ALPHAGATE_WITNESS")
    if spec is None:
        return [DirectoryWitness(str(state_dir() / "witness"))]
    parts = (p.strip() for p in spec.split(","))
    specs = [p for p in parts if p and p != "none"]
    home = Workspace.from_env().home
    for part in specs:
        where = _local_path(part)
        if where is not None and where.is_relative_to(home):
            raise InputError(
                f"ALPHAGATE_WITNESS: witness {part} is inside the workspace {home}; a witness"
                " must live where the log's writer cannot rewrite it"
            )
    return [witness_at(p) for p in specs]


def _local_path(spec: str) -> Path | None:
    """The folder or SQLite file a local witness location keeps its state in (None for
    services and server databases)."""
    if spec.startswith("sqlite:///"):
        path = spec.removeprefix("sqlite:///")
    elif spec.startswith(("dir:", "git:")):
        path = spec[4:]
    elif "://" in spec or "@" in spec:
        return None
    else:
        path = spec
    return Path(path).expanduser().resolve()
