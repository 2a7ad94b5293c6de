"""The database administrator's pen: rows written into the ledger without ``Ledger.append``'s
refusals (governance/log/bound.py), chained, hashed and in the Merkle tree exactly as
``append`` writes them, as anyone with write access to the database (or her own copy of the
code with the check removed) can. ``ledger verify`` then sees a well-formed log, and only the
signed-act rules name the row.
"""

from __future__ import annotations

import pytest

from governance.ground.errors import TamperDetected


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
