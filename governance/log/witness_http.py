"""The witness client's HTTP: many POSTs at once from one thread, over kept-alive connections.

:func:`post_all` sends one request to each witness service and waits for their answers
together, without threads: the new connections are opened side by side (non-blocking
connects, and for ``https://`` non-blocking TLS handshakes, under one selector), every request
is written before any answer is read, and each answer is then read within its own deadline.
The services work in parallel while the caller waits once; a command's process starts no
thread for its witnesses (a pool of threads cost about 5 ms of a fresh command's 24,
bench/bench_witness.py).

Connections are kept alive between the requests of a process (tlog-witness: clients SHOULD
keep alive). One a service closed while it was idle (uvicorn closes after 5 s) is noticed
before reuse when its close has arrived (readable at once), else when it fails: the request
then goes again on a new connection at once, not as a retry.

The standard library's ``http.client``: a command that asks witnesses pays no import of a
larger stack (httpx and httpcore took 350 ms to import, and their client 40-90 ms to build its
TLS trust store even for ``http://``). ``https://`` verifies the witness's certificate with the
system's trust store (``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` as OpenSSL reads them).
"""

from __future__ import annotations

import errno
import http.client
import os
import select
import selectors
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

#: Tries per request; the waits between them double from :data:`BACKOFF` seconds.
ATTEMPTS = 3
BACKOFF = 0.05

#: ``(scheme, host, port, timeout)``: which kept-alive connections a request may use.
Where = tuple[str, str, int, float]


@dataclass(frozen=True)
class Answer:
    """A witness's HTTP answer: status, body text, ``Content-Type``."""

    status_code: int
    text: str
    content_type: str


@dataclass(frozen=True)
class Post:
    """One request: ``body`` to ``url``, ``timeout`` seconds to connect and to answer."""

    url: str
    body: bytes
    timeout: float


#: Kept-alive connections waiting for the next request of this process.
_IDLE: dict[Where, list[http.client.HTTPConnection]] = {}
_TLS: list[ssl.SSLContext] = []


def post_all(posts: Sequence[Post]) -> list[Answer | str]:
    """POST every request at once and wait for the answers (:func:`send_all`)."""
    return send_all(posts).answers()


def send_all(posts: Sequence[Post]) -> Sent:
    """Open the connections and write every request now; :meth:`Sent.answers` reads them."""
    return Sent(posts)


class Sent:
    """Requests written, answers not yet read: the caller may do other work meanwhile."""

    def __init__(self, posts: Sequence[Post]):
        self.posts = list(posts)
        self._results: list[Answer | str] = ["no attempt"] * len(self.posts)
        self._attempt = 0
        self._round = _Round(self.posts, range(len(self.posts)))

    def answers(self) -> list[Answer | str]:
        """Per request its :class:`Answer` (any status below 500), or why none came after
        :data:`ATTEMPTS` tries (no connection, a timeout, a broken answer or HTTP 5xx); the
        tries of the failed ones are made together, after a backoff."""
        while True:
            retry = []
            for i, answer in self._round.read().items():
                if isinstance(answer, Answer) and answer.status_code < 500:
                    self._results[i] = answer
                    continue
                self._results[i] = (
                    answer if isinstance(answer, str) else f"HTTP {answer.status_code}"
                )
                retry.append(i)
            self._attempt += 1
            if not retry or self._attempt >= ATTEMPTS:
                return self._results
            time.sleep(BACKOFF * 2 ** (self._attempt - 1))
            self._round = _Round(self.posts, retry)


class _Round:
    """One try of some requests: connections (kept-alive ones unless ``fresh``; new ones
    opened together) and every request written at construction; :meth:`read` reads the
    answers, each within its deadline."""

    def __init__(self, posts: Sequence[Post], which, *, fresh: bool = False):
        self.posts, self.which = posts, list(which)
        self.out: dict[int, Answer | str] = {}
        self.conns: dict[int, http.client.HTTPConnection] = {}
        self.deadlines: dict[int, float] = {}
        self.reused: set[int] = set()
        self.stale: list[int] = []
        self.where = {i: _where(posts[i]) for i in self.which}
        for i in self.which:
            conn = None if fresh else _idle(self.where[i][0])
            if conn is not None:
                self.conns[i] = conn
                self.reused.add(i)
        new = {i: self.where[i][0] for i in self.which if i not in self.conns}
        for i, conn in _connect_all(new).items():
            if isinstance(conn, str):
                self.out[i] = conn
            else:
                self.conns[i] = conn
        for i, conn in self.conns.items():
            try:
                conn.request("POST", self.where[i][1], body=posts[i].body, headers=_HEADERS)
                self.deadlines[i] = time.monotonic() + posts[i].timeout
            except OSError as exc:
                self._failed(i, exc)

    def _failed(self, i: int, exc: BaseException) -> None:
        self.conns[i].close()
        if i in self.reused and _closed(exc):
            self.stale.append(i)  # closed by the service while idle: again, at once
        else:
            self.out[i] = _why(exc)

    def read(self) -> dict[int, Answer | str]:
        for i, deadline in self.deadlines.items():
            conn = self.conns[i]
            try:
                conn.sock.settimeout(max(deadline - time.monotonic(), 0.001))
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as exc:
                self._failed(i, exc)
                continue
            self.out[i] = Answer(
                response.status,
                data.decode("utf-8", "replace"),
                response.getheader("Content-Type", ""),
            )
            if response.will_close:
                conn.close()
            else:
                conn.sock.settimeout(self.posts[i].timeout)
                _IDLE.setdefault(self.where[i][0], []).append(conn)
        if self.stale:
            self.out.update(_Round(self.posts, self.stale, fresh=True).read())
        return {i: self.out[i] for i in self.which}


_HEADERS = {"Content-Type": "text/plain"}


def _where(post: Post) -> tuple[Where, str]:
    parts = urlsplit(post.url)
    scheme, host = parts.scheme, parts.hostname or ""
    port = parts.port or (443 if scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return (scheme, host, port, post.timeout), path


def _idle(where: Where) -> http.client.HTTPConnection | None:
    """A kept-alive connection to ``where`` whose service has not closed it, or None."""
    idle = _IDLE.get(where)
    while idle:
        conn = idle.pop()
        sock = conn.sock
        if sock is not None and not select.select([sock], [], [], 0)[0]:
            return conn  # nothing to read while idle: still open (an EOF would be readable)
        conn.close()
    return None


def _closed(exc: BaseException) -> bool:
    return isinstance(
        exc, (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine)
    )


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _connect_all(wheres: dict[int, Where]) -> dict[int, http.client.HTTPConnection | str]:
    """New connections to every ``where`` at once: ``{i: connection or why not}``."""
    out: dict[int, http.client.HTTPConnection | str] = {}
    if not wheres:
        return out
    sel = selectors.DefaultSelector()
    start = time.monotonic()
    try:
        for i, where in wheres.items():
            try:
                sock = _start_connect(where)
            except OSError as exc:
                out[i] = _why(exc)
                continue
            sel.register(sock, selectors.EVENT_WRITE, (i, where))
        while sel.get_map():
            now = time.monotonic()
            for key in list(sel.get_map().values()):  # the ones out of time
                i, where = key.data
                if now >= start + where[3]:
                    sel.unregister(key.fileobj)
                    key.fileobj.close()
                    out[i] = "timed out connecting"
            pending = [start + k.data[1][3] - now for k in sel.get_map().values()]
            for key, _ in sel.select(min(pending, default=0)):
                i, where = key.data
                try:
                    done = _progress(sel, key)
                except OSError as exc:  # its socket: the TLS one once the handshake began
                    for mine in [k for k in sel.get_map().values() if k.data[0] == i]:
                        sel.unregister(mine.fileobj)
                        mine.fileobj.close()
                    out[i] = _why(exc)
                    continue
                if done is not None:
                    sel.unregister(done)
                    out[i] = _connection(where, done)
    finally:
        for key in list(sel.get_map().values()):
            key.fileobj.close()
        sel.close()
    return out


def _start_connect(where: Where) -> socket.socket:
    _scheme, host, port, _ = where
    family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setblocking(False)
    err = sock.connect_ex(addr)
    if err not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
        sock.close()
        raise OSError(err, os.strerror(err))
    return sock


def _progress(sel: selectors.BaseSelector, key: selectors.SelectorKey) -> socket.socket | None:
    """Advance one new connection: the socket once usable, else None (still under way)."""
    sock = key.fileobj
    scheme, host = key.data[1][0], key.data[1][1]
    if not isinstance(sock, ssl.SSLSocket):  # the TCP connect finished (or failed)
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise OSError(err, os.strerror(err))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as http.client does
        if scheme != "https":
            return sock
        sel.unregister(sock)
        sock = _tls().wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
        sel.register(sock, selectors.EVENT_WRITE, key.data)
    try:
        sock.do_handshake()
    except ssl.SSLWantReadError:
        sel.modify(sock, selectors.EVENT_READ, key.data)
        return None
    except ssl.SSLWantWriteError:
        sel.modify(sock, selectors.EVENT_WRITE, key.data)
        return None
    return sock


def _tls() -> ssl.SSLContext:
    if not _TLS:
        _TLS.append(ssl.create_default_context())
    return _TLS[0]


def _connection(where: Where, sock: socket.socket) -> http.client.HTTPConnection:
    scheme, host, port, timeout = where
    sock.settimeout(timeout)
    if scheme == "https":
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=_tls())
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    conn.sock = sock
    return conn


def _forget_connections() -> None:  # a forked child must not share its parent's sockets
    _IDLE.clear()


os.register_at_fork(after_in_child=_forget_connections)
