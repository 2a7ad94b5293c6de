"""Checkpoints handed to witnesses, and the ledger checked against what witnesses hold.

:func:`publish` signs the tree head (:mod:`governance.log.checkpoint`) and hands it to every
witness with a consistency proof from the size that witness holds (:mod:`governance.log.witness`).
The CLI calls :func:`governance.policy.witnesses.witness_after` after every command and every
flow run (with the policy's witnesses and quorum), so each
governance decision is witnessed as soon as it is recorded.

:func:`witness_problem` compares one witness's checkpoint with the tree recomputed from the
entries (:func:`governance.log.verify.verify_ledger`):

- the witness holds more entries than the log: the tail was truncated or the head moved back;
- the root at the witnessed size differs: history was rewritten or forked;
- below an incremental verification's starting point, a consistency proof from the stored
  tree must connect the witnessed root to the verified one.

The last fully verified tree head is kept outside the workspace
(``$XDG_DATA_HOME/alphagate/verified/<origin>.json``) for ``ledger verify --incremental``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from governance.ground.errors import TamperDetected
from governance.ground.files import write_atomic
from governance.log.checkpoint import (
    SignedNote,
    origin_slug,
    state_dir,
)
from governance.log.merkle import ProofError, verify_consistency
from governance.log.quorum import hand_over
from governance.log.remote import witnesses_from_env
from governance.log.witness import Held, Witness, describe


@dataclass(frozen=True)
class Published:
    """One witness's answer to :func:`publish`."""

    witness: str
    size: int
    note: SignedNote


def publish(ledger, witnesses: list[Witness] | None = None) -> list[Published]:
    """Sign the ledger's tree head and have every witness cosign it
    (:func:`governance.log.quorum.hand_over`, all witnesses at once).

    Raises
    ------
    WitnessRefused
        A witness holds a bigger tree than the log has, or the log does not extend what it
        holds (rewritten or forked history), or the log key changed.
    WitnessUnreachable
        A witness service did not answer.
    """
    witnesses = witnesses_from_env() if witnesses is None else witnesses
    done, failed = hand_over(ledger, witnesses)
    for w in witnesses:  # the first failure, in the order the witnesses are named
        if w in failed:
            raise failed[w]
    return [Published(w.label, done[w].checkpoint.size, done[w]) for w in witnesses]


# ---------------------------------------------------------------------------------------
# Verification against witnesses
# ---------------------------------------------------------------------------------------


def held_checkpoints(origin: str, witnesses: list[Witness] | None = None):
    """``[(witness, held or None)]`` for ``origin``."""
    witnesses = witnesses_from_env() if witnesses is None else witnesses
    return [(w, w.latest(origin)) for w in witnesses]


def witness_problem(ledger, tree, w: Witness, held: Held, since) -> tuple[int | None, str] | None:
    """``(first_bad_seq, reason)`` when witness ``w``'s checkpoint contradicts the ledger.

    ``tree`` is the :class:`~governance.log.verify.TreeCheck` of the entries; ``since``
    the ``(size, root)`` it started from (None for a full verification).
    """
    note, cp = held.note, held.note.checkpoint
    if w.cosigned_at(held) is None:
        return None, f"witness {w.label}: its checkpoint's cosignature does not verify"
    if not note.verify(cp.origin, held.log_public):
        return None, f"witness {w.label}: its checkpoint is not signed by the pinned log key"
    if cp.size > tree.size:
        return tree.size + 1, (
            f"log has {tree.size} entries, witness {w.label} holds {describe(w, held)}:"
            " the tail was truncated or the head moved back"
        )
    rewritten = (
        f"history rewritten or forked: the entries' tree at size {cp.size} is not the one"
        f" witness {w.label} holds ({describe(w, held)})"
    )
    if cp.size in tree.roots:
        return None if tree.roots[cp.size] == cp.root else (None, rewritten)
    if since is not None and cp.size < since[0]:
        try:
            proof = ledger.consistency_proof(cp.size, since[0])
            verify_consistency(cp.size, cp.root, since[0], since[1], proof)
        except (ProofError, TamperDetected):
            return None, rewritten
        return None
    return None, f"witness {w.label}: checkpoint of {cp.size} entries was not checked"


def _marker(origin: str) -> Path:
    return state_dir() / "verified" / f"{origin_slug(origin)}.json"


def load_verified(origin: str) -> tuple[int, bytes] | None:
    """The last fully verified ``(size, root)`` of ``origin``, or None."""
    try:
        doc = json.loads(_marker(origin).read_text())
        return int(doc["size"]), bytes.fromhex(doc["root"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def save_verified(origin: str, size: int, root: bytes) -> None:
    write_atomic(_marker(origin), json.dumps({"size": size, "root": root.hex()}))
