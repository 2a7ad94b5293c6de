"""A signed entry is bound to its document: the rule every append and every reader applies.

A signed ledger entry carries the signed document (``signed``), its digest, the signature,
the signer's public key and name (:data:`SIGNATURE_FIELDS`). Everything else in the entry
is an *unsigned copy* of the document's facts, kept for readers that grep the ledger; a
forger who replays a genuine signature with one copied field changed (the top-level
``verdict``, ``user``, ``trip_seq`` or ``policy_hash``) would otherwise make a reader
believe what nobody signed. So (:func:`binding_problems`):

- the entry's action, actor, role and subject are the document's ``act``, ``user``,
  ``signer_role`` and ``subject``;
- every other payload field is in the document with the same value (canonical JSON);
- the recorded digest is the document's.

And a document counts once (:func:`replay_tokens`): its signature and its ``doc_id`` may
appear in one entry only. Because action and subject are bound, a replay that passes the
binding has the action and subject of its original, so a reader that lists one action or
subject sees both and :func:`replayed` names the later one.

Pure functions of one entry's fields (no keys, no registry): ``Ledger.append`` refuses an
entry that breaks them; ``ledger verify`` and every reader of signed acts check them again
(:func:`governance.identity.users.act_problems`), since a database administrator writes
rows without ``append``.

``Ledger.append`` also refuses an entry of a signed action
(:data:`~governance.ground.vocabulary.SIGNED_ACTIONS`) that is not a valid signed act: unsigned,
not verifying, or by a key or role the user registry does not allow at the time
(:func:`admission_problems`). That rule needs the registry, which lives in a room above the
log: the identity room installs it (:func:`install_admission`, on import of
``governance.identity``). Until it is installed every signed action is refused (fail closed),
so a script that opens the ledger alone cannot append one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from governance.ground.canonical import canonical_json, sha256_bytes
from governance.ground.vocabulary import SIGNED_ACTIONS

#: The payload fields a signature adds to a ledger entry.
SIGNATURE_FIELDS = ("signed", "signed_digest", "signature", "public_key", "signer")
#: Payload fields that are not copies of the document's facts.
_NOT_FACTS = frozenset({*SIGNATURE_FIELDS, "signature_scheme"})


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON: scalars of one type and value (``true`` is not ``1``), containers by
    their canonical bytes."""
    if not isinstance(a, dict | list) and not isinstance(b, dict | list):
        return type(a) is type(b) and a == b
    try:
        return canonical_json(a) == canonical_json(b)
    except (TypeError, ValueError):
        return False


def binding_problems(
    action: str, actor: str, role: str, subject: str, payload: Mapping[str, Any]
) -> list[str]:
    """Why a signed entry's unsigned fields disagree with its signed document (empty when
    they agree, or when the entry carries no signed document)."""
    doc = payload.get("signed")
    if "signed" not in payload:
        return []
    if not isinstance(doc, dict):
        return ["the signed document is not a JSON object"]
    problems = []
    if doc.get("act") != action:
        problems.append(f"the signed document is for {doc.get('act')!r}, not {action}")
    if doc.get("user") != actor:
        problems.append(f"actor {actor!r} is not the document's user {doc.get('user')!r}")
    if "signer_role" in doc and doc["signer_role"] != role:
        problems.append(f"role {role!r} is not the signed role {doc['signer_role']!r}")
    if doc.get("subject") != subject:
        problems.append(f"subject {subject!r} is not the signed subject {doc.get('subject')!r}")
    unbound = sorted(
        k
        for k, v in payload.items()
        if k not in _NOT_FACTS and (k not in doc or not _same(doc[k], v))
    )
    if unbound:
        problems.append(f"unsigned field(s) {', '.join(unbound)} disagree with the signed document")
    if payload.get("signed_digest") != sha256_bytes(canonical_json(doc)):
        problems.append("signed digest does not match the signed document")
    return problems


def replay_tokens(payload: Mapping[str, Any]) -> tuple[str, ...]:
    """What may appear in one entry only: the signature and the document id."""
    doc = payload.get("signed")
    out = []
    if isinstance(payload.get("signature"), str):
        out.append(f"sig:{payload['signature']}")
    if isinstance(doc, dict) and isinstance(doc.get("doc_id"), str):
        out.append(f"doc:{doc['doc_id']}")
    return tuple(out)


def replayed(entries: Iterable) -> dict[int, int]:
    """``{seq: first_seq}`` of every entry (in seq order) whose signature or document id an
    earlier entry of ``entries`` already carries."""
    first: dict[str, int] = {}
    out = {}
    for e in entries:
        for token in replay_tokens(e.payload or {}):
            if token in first:
                out.setdefault(e.seq, first[token])
            else:
                first[token] = e.seq
    return out


def once(entries: Iterable) -> list:
    """``entries`` (in seq order) without the replays :func:`replayed` names."""
    entries = list(entries)
    again = replayed(entries)
    return [e for e in entries if e.seq not in again]


#: ``rule(tx, action, actor, role, subject, payload) -> problems``: the signed-act rule
#: installed by the identity room (:func:`install_admission`); empty until then.
_ADMISSION: list[Callable[..., list[str]]] = []


def install_admission(rule: Callable[..., list[str]]) -> None:
    """Install the rule :func:`admission_problems` applies to signed actions (one rule)."""
    _ADMISSION[:] = [rule]


def admission_problems(
    tx, action: str, actor: str, role: str, subject: str, payload: Mapping[str, Any]
) -> list[str]:
    """Why ``Ledger.append`` refuses this entry as a signed act (empty: not a signed action,
    or it holds). ``tx`` is the write transaction (the registry is read in it)."""
    if action not in SIGNED_ACTIONS:
        return []
    if not _ADMISSION:
        return [
            f"{action} is a signed act and no signed-act rule is loaded (import governance.identity)"
        ]
    return _ADMISSION[0](tx, action, actor, role, subject, payload)
