"""The witness set a reader has seen in force, pinned outside the ledger.

The adopted policy names the witnesses (:mod:`governance.policy.witnesses`), but the policy
is read from the ledger: a rewrite that truncates the ledger to before the adoption of a
``witnesses:`` section leaves a policy that names none, and a command reading that ledger
would ask nobody. So each reader keeps, for each log origin, the last witness set it saw a
quorum cosign under (``$XDG_DATA_HOME/alphagate/witness-pins/<origin>.json``: their URLs,
keys and quorum, and the policy that named them), in its own account, where a writer who
rewrites the workspace cannot reach when readers run under their own accounts (the
scheduled worker, each officer, the auditor).

While the policy in force names another set than the pin (none included), the pinned set
must cosign too (:func:`pinned_set`, a quorum of it, any refusal fatal): the witnesses hold
the real tree, so a truncation to before their adoption is refused by them, exit 3 naming
them. A legitimate change of policy extends what they hold, so they cosign it, and the pin
moves to the new set (:func:`keep_pin`): keep the old witnesses running until every reader
has run once under the new policy. A pin that cannot be read is exit 3 naming the file.

What it cannot do: a reader that never ran under the witnessed policy has no pin (trust on
first use), and a writer who runs under the reader's own account can delete the pin
(docs/governance.md, threat model).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from governance.ground.errors import TamperDetected
from governance.ground.files import write_atomic
from governance.log.checkpoint import Verifier, origin_of, origin_slug, state_dir
from governance.log.quorum import WitnessSet
from governance.log.remote import HttpWitness


def pin_file(origin: str) -> Path:
    """Where this reader pins the witness set of the log ``origin``."""
    return state_dir() / "witness-pins" / f"{origin_slug(origin)}.json"


def _members(wset: WitnessSet) -> list[tuple[str, str]]:
    return sorted((w.location, w.verifier.text()) for w in wset.members if w.verifier)


def _read(path: Path) -> dict | None:
    """The pin at ``path`` (``members`` as sorted ``(url, key)`` pairs), None if absent."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        members = sorted((str(m["url"]), str(m["key"])) for m in doc["members"])
        quorum = doc["quorum"]
        if type(quorum) is not int or not 0 < quorum <= len(members):
            raise ValueError("its quorum is not between 1 and the number of members")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TamperDetected(
            f"witness pin {path}: unreadable ({exc}); it names the witnesses this reader saw"
            " in force: restore it, or delete it only if you know why it changed"
        ) from None
    return {**doc, "members": members}


def pinned_set(ledger, wset: WitnessSet) -> WitnessSet | None:
    """The witness set this reader pinned for the ledger's origin, when the policy in force
    names another one (``wset``: :func:`governance.policy.witnesses.witness_set`); else None.

    Raises
    ------
    TamperDetected
        The pin file cannot be read (exit 3, naming it).
    """
    path = pin_file(origin_of(ledger.url))
    doc = _read(path)
    if doc is None or (doc["members"] == _members(wset) and doc["quorum"] == wset.quorum):
        return None
    members = tuple(
        HttpWitness(url, Verifier.parse(key, f"witness pin {path}")) for url, key in doc["members"]
    )
    source = f"the witnesses pinned at {path} (from {doc.get('source', 'an adopted policy')})"
    return WitnessSet(members, doc["quorum"], (), source)


def keep_pin(ledger, wset: WitnessSet) -> None:
    """Pin ``wset`` (its quorum has just cosigned, with the pinned set's if it differed):
    written when it changed; removed when the policy in force names no witnesses."""
    path = pin_file(origin_of(ledger.url))
    if not wset.members:
        path.unlink(missing_ok=True)
        return
    members = [{"url": url, "key": key} for url, key in _members(wset)]
    doc = {"members": members, "quorum": wset.quorum, "source": wset.source}
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text(encoding="utf-8")) == doc:
            return
    write_atomic(path, json.dumps(doc, indent=1, sort_keys=True) + "\n")
