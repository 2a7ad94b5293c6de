"""A checkpoint handed to many witnesses at once, and the quorum a decision needs.

:func:`hand_over` signs the ledger's tree head and gives it to every witness in parallel, each
with a consistency proof from the size it holds (a witness service says its size in a 409).
The size each witness was last seen holding is remembered, in the process and in a hint file
outside the workspace (``$XDG_DATA_HOME/alphagate/witness-sizes/<origin>.json``), so each
hand-over of a command, its first included, needs one round trip per witness. The hint is not
trusted: a witness checks the old size it is sent, and a wrong one costs a 409 and a retry.
The requests to the witness services go out together from the calling thread (no thread is
started: :mod:`governance.log.witness_http`), local witnesses are asked while the services
work, and the answer waits for every witness that answers: a refusal by any of them
decides, even once a quorum has cosigned (a trip cosigned by one witness while the others
were down, then dropped by a rewrite, is refused by that one alone). :func:`quorum_checkpoint`
is the one function every decision calls for "the latest checkpoint a quorum cosigned": it
hands the current tree head to the witness set and returns the note with every valid
cosignature, or fails closed:

- a witness *refuses* (the ledger does not extend what it holds: rewritten, truncated or
  forked history; a wrong log key): :class:`~governance.log.witness.WitnessRefused`, exit 3,
  whatever the others say;
- fewer than ``quorum`` of the set's members cosign (stopped, unreachable):
  :class:`QuorumLost`, exit 3, naming each missing witness and why.

A witness set with no members (a policy that names none) asks only the environment's
witnesses and needs no quorum: the threat model (docs/governance.md) says what that leaves.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field

from governance.ground.errors import TamperDetected
from governance.ground.files import write_atomic
from governance.log.checkpoint import (
    Checkpoint,
    NoteKey,
    SignedNote,
    log_key,
    origin_of,
    origin_slug,
    sign_checkpoint,
    state_dir,
)
from governance.log.remote import HttpWitness, WitnessUnreachable, send_checkpoint
from governance.log.witness import Held, Witness, WitnessMoved, WitnessRefused, describe

_ATTEMPTS = 8
#: The size each witness was last seen holding, per process: ``{(label, origin): size}``.
_SEEN: dict[tuple[str, str], int] = {}
#: The hint files read by this process: ``{origin: {label: size}}``.
_HINTS: dict[str, dict[str, int]] = {}


def _hint_file(origin: str):
    return state_dir() / "witness-sizes" / f"{origin_slug(origin)}.json"


def _hints(origin: str) -> dict[str, int]:
    """``{witness label: size}`` from the hint file (anything unreadable is no hint)."""
    if origin not in _HINTS:
        try:
            doc = json.loads(_hint_file(origin).read_text(encoding="utf-8"))
            _HINTS[origin] = {str(k): v for k, v in doc.items() if type(v) is int and v >= 0}
        except (OSError, ValueError, AttributeError):
            _HINTS[origin] = {}
    return _HINTS[origin]


def _old_size(w: Witness, held: Held | None, origin: str, size: int) -> int:
    """The size to prove from: what the witness holds (local), was seen holding (this
    process), or the hint says (ignored above the log's size: the witness itself must say)."""
    if held is not None:
        return held.note.checkpoint.size
    if (w.label, origin) in _SEEN:
        return _SEEN[w.label, origin]
    hint = _hints(origin).get(w.label, 0)
    return hint if hint <= size else 0


def _remember(origin: str, learned: dict[str, int]) -> None:
    """Keep the sizes witnesses answered with, in the process and the hint file."""
    for label, size in learned.items():
        _SEEN[label, origin] = size
    hints = _hints(origin)
    if all(hints.get(label) == size for label, size in learned.items()):
        return
    hints.update(learned)
    with contextlib.suppress(OSError):  # a hint not kept costs the next process one 409
        write_atomic(_hint_file(origin), json.dumps(hints, sort_keys=True), durable=False)


class QuorumLost(TamperDetected):
    """Fewer witnesses of the policy's set cosigned than its quorum (exit 3)."""


@dataclass(frozen=True)
class WitnessSet:
    """The witnesses a decision needs: the policy's ``members`` (``quorum`` of them must
    cosign) and the environment's ``extra`` ones (each must accept). ``source`` names where
    the members come from, for messages."""

    members: tuple[HttpWitness, ...] = ()
    quorum: int = 0
    extra: tuple[Witness, ...] = ()
    source: str = "no policy witnesses"

    @property
    def all(self) -> tuple[Witness, ...]:
        return (*self.members, *self.extra)


@dataclass(frozen=True)
class Cosigned:
    """A checkpoint and its witnesses: ``note`` carries the log signature and every
    cosignature obtained; ``cosigners`` ``{witness name: UNIX time}`` of the members that
    cosigned; ``missing`` ``{witness label: why}``."""

    note: SignedNote
    cosigners: dict[str, int] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return self.note.checkpoint.size


def hand_over(ledger, witnesses, key: NoteKey | None = None):
    """Sign the tree head; have every witness cosign it. ``({witness: note}, {witness: error})``.

    Errors are :class:`WitnessRefused` (the log does not extend what the witness holds) or
    :class:`WitnessUnreachable`; a witness that holds more entries than the log has is a
    refusal (truncated tail).
    """
    key = key or log_key(origin_of(ledger.url))
    origin = key.name  # the log key's name is its origin
    done: dict[Witness, SignedNote] = {}
    failed: dict[Witness, Exception] = {}
    pending, note = list(witnesses), None
    for _ in range(_ATTEMPTS):
        if not pending:
            break
        asked = list(witnesses) if note is None else pending
        # what each witness holds, read before the tree: it was committed before it
        helds = {w: w.latest(origin) for w in asked}
        jobs, ahead, proofs, blind = [], False, {}, set()
        with ledger.tree_view() as tree:  # one read transaction: the head and the proofs
            if note is None:  # the tree head of this hand-over (again if a witness is ahead)
                size, root = tree.head()
                note = sign_checkpoint(Checkpoint(origin, size, root), key)
                pending, done, failed = asked, {}, {}
            for w in pending:
                held = helds[w]
                if held is None:
                    blind.add(w.label)  # a service, or a local witness's first checkpoint
                old = _old_size(w, held, origin, size)
                if old > size and ledger.tree_head()[0] >= old:  # a new read: now
                    ahead = True  # another writer appended and handed over meanwhile
                elif old > size:
                    what = (
                        describe(w, held) if held is not None else f"a checkpoint of {old} entries"
                    )
                    failed[w] = WitnessRefused(
                        f"log has {size} entries, witness {w.label} holds {what}:"
                        " the ledger's tail was truncated or its head moved back"
                    )
                else:
                    if old not in proofs:  # witnesses in step share one proof
                        proofs[old] = tree.consistency_proof(old, size)
                    jobs.append((w, old, proofs[old]))
        if ahead:
            note = None
            continue
        answers = _ask(jobs, note, key.public)
        pending, learned = [], {}
        for (w, _old, _proof), answer in zip(jobs, answers, strict=True):
            if isinstance(answer, WitnessMoved):  # another writer's checkpoint landed first
                learned[w.label] = answer.size
                pending.append(w)
                if answer.size > size:
                    note = None  # the ledger grew meanwhile: sign its new head for everyone
            elif isinstance(answer, Exception):
                failed[w] = answer
            else:
                learned[w.label] = size
                done[w] = answer
        _remember(origin, {label: n for label, n in learned.items() if label in blind})
    for w in pending:
        failed[w] = TamperDetected(f"witness {w.label}: kept moving; checkpoint not handed over")
    return done, failed


def _ask(jobs, note: SignedNote, log_public: bytes) -> list:
    """Every witness's answer to ``note`` (a cosigned note or the exception), in ``jobs``
    order: the services' requests sent first, all at once, then the local witnesses asked
    while the services work, then the services' answers read (no thread)."""
    remote = [i for i, (w, _o, _p) in enumerate(jobs) if isinstance(w, HttpWitness)]
    answers: list = [None] * len(jobs)
    handed = send_checkpoint([jobs[i] for i in remote], note, log_public)
    for i, (w, old, proof) in enumerate(jobs):
        if not isinstance(w, HttpWitness):
            try:
                answers[i] = w.add(note, old, proof, log_public)
            except (WitnessMoved, TamperDetected) as exc:
                answers[i] = exc
    for i, answer in zip(remote, handed.answers(), strict=True):
        answers[i] = answer
    return answers


def quorum_checkpoint(ledger, wset: WitnessSet) -> Cosigned:
    """The ledger's current checkpoint, cosigned by at least ``wset.quorum`` of its members
    and by every extra witness (module docstring).

    Raises
    ------
    WitnessRefused
        A witness refused: the ledger does not extend what it holds (exit 3).
    QuorumLost
        Too few members cosigned, or an extra witness could not be reached (exit 3).
    """
    if not wset.all:  # no witness named anywhere: the log's own signature only
        key = log_key(origin_of(ledger.url))
        return Cosigned(sign_checkpoint(Checkpoint(key.name, *ledger.tree_head()), key))
    done, failed = hand_over(ledger, wset.all)
    refusals = [e for e in failed.values() if not isinstance(e, WitnessUnreachable)]
    if refusals:
        raise WitnessRefused([r for e in refusals for r in e.reasons])
    missing = {w.label: "; ".join(e.reasons) for w, e in failed.items()}
    cosigners = {}
    for w in wset.members:
        ts = w.cosigned_at(Held(done[w], b"")) if w in done else None
        if ts is not None:
            cosigners[w.name] = ts
    unreachable_extra = [w for w in wset.extra if w in failed]
    if len(cosigners) < wset.quorum or unreachable_extra:
        raise QuorumLost(
            f"witness quorum not reached: {len(cosigners)} of {len(wset.members)} witnesses of"
            f" {wset.source} cosigned, {wset.quorum} needed; " + "; ".join(missing.values())
        )
    return Cosigned(merge(done.values()), cosigners, missing)


def merge(notes) -> SignedNote:
    """One note with every distinct signature line of ``notes`` (all of one checkpoint)."""
    notes = list(notes)
    if not notes:
        raise WitnessRefused("no witness cosigned the checkpoint")
    body, seen, lines = notes[0].body, set(), []
    for n in notes:
        if n.body != body:
            raise WitnessRefused("witnesses cosigned different checkpoints")
        for s in n.signatures:
            if (s.name, s.raw) not in seen:
                seen.add((s.name, s.raw))
                lines.append(s)
    return SignedNote(body, tuple(lines))
