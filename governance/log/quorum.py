"""A checkpoint handed to many witnesses at once, and the quorum a decision needs.

:func:`hand_over` signs the ledger's tree head and gives it to every witness in parallel, each
with a consistency proof from the size it holds (a witness service says its size in a 409;
the size a process last saw is remembered, so the second hand-over of a command needs one
round trip). :func:`quorum_checkpoint` is the one function every decision calls for "the
latest checkpoint a quorum cosigned": it hands the current tree head to the witness set and
returns the note with every valid cosignature, or fails closed:

- a witness *refuses* (the ledger does not extend what it holds: rewritten, truncated or
  forked history; a wrong log key): :class:`~governance.log.witness.WitnessRefused`, exit 3,
  whatever the others say;
- fewer than ``quorum`` of the set's members cosign (stopped, unreachable):
  :class:`QuorumLost`, exit 3, naming each missing witness and why.

A witness set with no members (a policy that names none) asks only the environment's
witnesses and needs no quorum: the threat model (docs/governance.md) says what that leaves.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from governance.ground.errors import TamperDetected
from governance.log.checkpoint import (
    Checkpoint,
    NoteKey,
    SignedNote,
    log_key,
    origin_of,
    sign_checkpoint,
)
from governance.log.remote import HttpWitness, WitnessUnreachable
from governance.log.witness import Held, Witness, WitnessMoved, WitnessRefused, describe

_ATTEMPTS = 8
#: The size each witness was last seen holding, per process: ``{(label, origin): size}``.
_SEEN: dict[tuple[str, str], int] = {}


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
        if note is None:  # the tree head of this hand-over (again if a witness is ahead)
            size, root = ledger.tree_head()
            note = sign_checkpoint(Checkpoint(origin, size, root), key)
            pending, done, failed = list(witnesses), {}, {}
        jobs, ahead = [], False
        for w in pending:
            held = w.latest(origin)
            old = held.note.checkpoint.size if held is not None else _SEEN.get((w.label, origin), 0)
            if old > size and ledger.tree_head()[0] >= old:
                ahead = True  # another writer appended and handed over meanwhile
            elif old > size:
                what = describe(w, held) if held is not None else f"a checkpoint of {old} entries"
                failed[w] = WitnessRefused(
                    f"log has {size} entries, witness {w.label} holds {what}:"
                    " the ledger's tail was truncated or its head moved back"
                )
            else:
                jobs.append((w, old, ledger.consistency_proof(old, size)))
        if ahead:
            note = None
            continue
        with ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:
            answers = list(pool.map(_add, jobs, [note] * len(jobs), [key.public] * len(jobs)))
        pending = []
        for (w, _old, _proof), answer in zip(jobs, answers, strict=True):
            if isinstance(answer, WitnessMoved):  # another writer's checkpoint landed first
                _SEEN[(w.label, origin)] = answer.size
                pending.append(w)
                if answer.size > size:
                    note = None  # the ledger grew meanwhile: sign its new head for everyone
            elif isinstance(answer, Exception):
                failed[w] = answer
            else:
                _SEEN[(w.label, origin)] = size
                done[w] = answer
    for w in pending:
        failed[w] = TamperDetected(f"witness {w.label}: kept moving; checkpoint not handed over")
    return done, failed


def _add(job, note: SignedNote, log_public: bytes):
    w, old, proof = job
    try:
        return w.add(note, old, proof, log_public)
    except (WitnessMoved, TamperDetected) as exc:
        return exc


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
