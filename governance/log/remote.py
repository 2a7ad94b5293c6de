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
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

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
from governance.log.witness_http import ATTEMPTS, Answer, Post, Sent, send_all

#: Seconds to wait for one answer (a witness answers in milliseconds; a stopped one
#: refuses the connection at once, an unreachable host times out here).
TIMEOUT = 2.0
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
        """POST the checkpoint; return ``note`` with this witness's cosignature added
        (:func:`add_all` with this witness alone).

        Raises
        ------
        WitnessMoved
            HTTP 409 with a size other than ``old_size``: prove from that size.
        WitnessRefused
            400/403/404/422, a 409 at the same size (a fork), or a cosignature that does
            not verify with the witness's key.
        WitnessUnreachable
            No answer after :data:`~governance.log.witness_http.ATTEMPTS` tries.
        """
        (answer,) = add_all([(self, old_size, proof)], note, log_public)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def judge(self, note: SignedNote, old_size: int, answer: Answer, log_public: bytes):
        """This witness's answer to ``note`` sent with ``old_size``: the cosigned note, or
        the exception :meth:`add` raises."""
        size = note.checkpoint.size
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


def add_all(jobs, note: SignedNote, log_public: bytes) -> list:
    """Hand ``note`` to witness services at once: ``jobs`` are ``(HttpWitness, old size,
    consistency proof)``; per job the cosigned note, or the :class:`WitnessMoved`,
    :class:`WitnessRefused` or :class:`WitnessUnreachable` that :meth:`HttpWitness.add`
    would raise (:func:`send_checkpoint`, then its answers)."""
    return send_checkpoint(jobs, note, log_public).answers()


def send_checkpoint(jobs, note: SignedNote, log_public: bytes) -> Handed:
    """Write ``note`` to every service of ``jobs`` now (:func:`add_all`); the answers are
    read by :meth:`Handed.answers`, so the caller may ask local witnesses meanwhile. The
    requests go out together from this thread (:func:`governance.log.witness_http.send_all`)."""
    posts = [
        Post(f"{w.location}/add-checkpoint", add_checkpoint_body(note, old, proof), w.timeout)
        for w, old, proof in jobs
    ]
    return Handed(list(jobs), note, log_public, send_all(posts))


@dataclass
class Handed:
    """A checkpoint written to witness services whose answers are not read yet."""

    jobs: list
    note: SignedNote
    log_public: bytes
    sent: Sent

    def answers(self) -> list:
        out = []
        for (w, old, _proof), answer in zip(self.jobs, self.sent.answers(), strict=True):
            if isinstance(answer, str):
                out.append(
                    WitnessUnreachable(
                        f"witness {w.label} unreachable ({answer}, {ATTEMPTS} tries)"
                    )
                )
                continue
            try:
                out.append(w.judge(self.note, old, answer, self.log_public))
            except (WitnessMoved, TamperDetected) as exc:
                out.append(exc)
        return out


def _held_size(answer: Answer) -> int | None:
    text = answer.text.strip()
    if not answer.content_type.startswith(SIZE_TYPE) or not text.isdigit():
        return None
    return int(text)


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
