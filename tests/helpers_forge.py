"""The database administrator's pen: rows written into the ledger without ``Ledger.append``'s
refusals (governance/log/bound.py), chained, hashed and in the Merkle tree exactly as
``append`` writes them, as anyone with write access to the database (or her own copy of the
code with the check removed) can. ``ledger verify`` then sees a well-formed log, and only the
signed-act rules name the row.

Below, the forgeries a holder of the ledger database can make, as hypothesis draws them
(tests/test_bound_property.py): ``OPS`` draws one, :func:`apply` makes it.

- ``replay``: copy any signed entry and change one unsigned field (actor, role, subject, or
  a top-level payload field: to another entry's value of that field, or a variant);
  ``Ledger.append`` must refuse it, then it is written past it (:func:`forge_unchecked`);
- ``verbatim``: re-append any entry as it stands (through ``Ledger.append`` when it accepts
  it, else past it);
- ``edit``: change a top-level payload field of any row in place (payload only; payload and
  both its hashes; or a consistent rewrite of every later hash, the head and the tree);
- ``delete``: delete any row.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import strategies as st

from governance.ground.errors import AlphagateError, TamperDetected
from governance.ground.workspace import Workspace
from governance.log.bound import SIGNATURE_FIELDS
from governance.log.ledger import Ledger
from tests.test_ledger_support import raw_sql, rewrite_history


def forge(
    ledger, action: str, *, actor: str, role: str, subject: str, payload: dict, artifacts=None
):
    """Append ``payload`` as ``action`` with the append-time refusal switched off; return the
    entry. Asserts first that ``Ledger.append`` itself refuses it (exit 3): an entry that
    disagrees with its signed document, a replay, or a signed action that is not a valid
    signed act (unsigned, a key nobody registered, a role not allowed)."""
    row = dict(actor=actor, role=role, subject=subject, payload=payload, artifacts=artifacts)
    with pytest.raises(TamperDetected):
        ledger.append(action, **row)
    return forge_unchecked(ledger, action, **row)


def forge_signed(ledger, signer, action: str, *, subject: str, payload: dict):
    """``signer``'s signed act written past ``Ledger.append``, which refuses it (the signer's
    key or role does not allow the act); return the entry."""
    signed = {**payload, **signer.signed_payload(action, payload, subject=subject)}
    return forge(ledger, action, actor=signer.name, role=signer.role, subject=subject,
                 payload=signed)  # fmt: skip


def forge_unchecked(
    ledger, action: str, *, actor: str, role: str, subject: str, payload: dict, artifacts=None
):
    """Write the row as the DBA would: no refusal at append."""
    with ledger.transaction() as tx:
        tx._refuse_unbound = lambda *a: None  # the check a direct SQL writer never meets
        return tx.append(action, actor=actor, role=role, subject=subject, payload=payload,
                         artifacts=artifacts)  # fmt: skip


# -- the forgeries hypothesis draws ---------------------------------------------------------


def _variants(old, pool: list, k: int):
    """A value other than ``old``: another entry's value of the same field, else a variant."""
    others = [v for v in pool if json.dumps(v, sort_keys=True) != json.dumps(old, sort_keys=True)]
    if others and k % 2 == 0:
        return others[(k // 2) % len(others)]
    if isinstance(old, bool):
        return not old
    if isinstance(old, int):
        return old + (1 if k % 4 == 1 else -1)
    if isinstance(old, str):
        return old + "x" if k % 4 == 1 else ""
    if isinstance(old, dict):
        return {**old, "x": 1}
    if isinstance(old, list):
        return [*old, "x"]
    return "x" if old is None else None


def _fields(entry) -> list[str]:
    skip = {*SIGNATURE_FIELDS, "signature_scheme"}
    return ["actor", "role", "subject", *sorted(k for k in entry.payload if k not in skip)]


def _pool(entries, field: str) -> list:
    if field in ("actor", "role", "subject"):
        return sorted({getattr(e, field) for e in entries})
    return [e.payload[field] for e in entries if field in (e.payload or {})]


def _replay(ledger, entries, i: int, j: int, k: int) -> int:
    """A signed entry copied with one unsigned field changed: refused by ``append``, then
    written past it. Returns its seq."""
    signed = [e for e in entries if "signed" in (e.payload or {})]
    e = signed[i % len(signed)]
    field = _fields(e)[j % len(_fields(e))]
    cols = {"actor": e.actor, "role": e.role, "subject": e.subject}
    payload = dict(e.payload)
    if field in cols:
        cols[field] = str(_variants(cols[field], _pool(entries, field), k))
    else:
        payload[field] = _variants(payload[field], _pool(entries, field), k)
    with pytest.raises(AlphagateError) as refused:  # exit 3; a malformed artifact map: 2
        ledger.append(e.action, payload=payload, **cols)
    assert refused.value.exit_code in (2, 3)
    return forge_unchecked(ledger, e.action, payload=payload, **cols).seq


def _verbatim(ledger, entries, i: int) -> int:
    e = entries[i % len(entries)]
    cols = {"actor": e.actor, "role": e.role, "subject": e.subject, "payload": e.payload}
    try:
        return ledger.append(e.action, **cols).seq
    except TamperDetected:  # a signed document already recorded: the DBA writes it anyway
        return forge_unchecked(ledger, e.action, **cols).seq


def _edit(ws, entries, i: int, j: int, k: int, how: int) -> int:
    """A verified row's top-level payload field changed in place; returns its seq."""
    from governance.ground.canonical import canonical_json, sha256_bytes
    from governance.log.chain import compute_entry_hash

    e = entries[i % len(entries)]
    keys = sorted(e.payload) or ["x"]
    field = keys[j % len(keys)]
    payload = {**e.payload, field: _variants(e.payload.get(field), _pool(entries, field), k)}
    text = canonical_json(payload).decode()
    if how == 2:  # consistent: every later hash, the head and the tree recomputed

        def edit(row: dict) -> None:
            row["payload"] = text

        rewrite_history(ws.ledger_url, e.seq, edit)
        return e.seq
    stmt, sets = "UPDATE ledger_entries SET payload = :p", {"p": text, "s": e.seq}
    if how == 1:  # and both its hashes
        fields = {**e.__dict__, "payload_hash": sha256_bytes(text.encode())}
        stmt += ", payload_hash = :ph, entry_hash = :eh"
        sets.update(ph=fields["payload_hash"], eh=compute_entry_hash(fields))
    raw_sql(ws.ledger_url, stmt + " WHERE seq = :s", **sets)
    return e.seq


def _delete(ws, entries, i: int) -> int:
    seq = entries[i % len(entries)].seq
    raw_sql(ws.ledger_url, "DELETE FROM ledger_entries WHERE seq = :s", s=seq)
    return seq


_N = st.integers(0, 10_000)
OPS = st.one_of(
    st.tuples(st.just("replay"), _N, _N, _N),
    st.tuples(st.just("verbatim"), _N),
    st.tuples(st.just("edit"), _N, _N, _N, st.integers(0, 2)),
    st.tuples(st.just("delete"), _N),
)


def apply(ws: Workspace, entries, op) -> tuple[int, bool, bool]:
    """Apply ``op`` to the workspace's ledger: ``(seq touched, is a forged act, the chain
    shows it)``; ``(None, False, False)`` when the project's own writer refuses to append to
    a tree an earlier step broke, or a malformed artifact map (nothing written). A verbatim copy of an unsigned record is
    not a forged act, and a consistent rewrite leaves a well-formed chain (the witnesses
    name it): see :func:`_named_by_verify`."""
    kind, *args = op
    if kind == "edit":
        return _edit(ws, entries, *args), True, args[-1] != 2
    if kind == "delete":
        return _delete(ws, entries, *args), True, True
    copied = entries[args[0] % len(entries)]
    signed = kind == "replay" or "signed" in (copied.payload or {})
    with Ledger.open(ws) as ledger:
        try:
            return (
                (_replay if kind == "replay" else _verbatim)(ledger, entries, *args),
                signed,
                signed,
            )
        except AlphagateError:  # the project's writer refuses: a tree an earlier step broke,
            return None, False, False  # or a malformed artifact map (nothing written)
