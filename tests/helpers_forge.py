"""The database administrator's pen: rows written into the ledger without ``Ledger.append``'s
refusals (governance/log/bound.py), chained, hashed and in the Merkle tree exactly as
``append`` writes them, as anyone with write access to the database (or her own copy of the
code with the check removed) can. ``ledger verify`` then sees a well-formed log, and only the
signed-act rules name the row.
"""

from __future__ import annotations

import pytest

from governance.ground.errors import TamperDetected


def forge(ledger, action: str, *, actor: str, role: str, subject: str, payload: dict):
    """Append ``payload`` as ``action`` with the append-time refusal switched off; return the
    entry. Asserts first that ``Ledger.append`` itself refuses it (exit 3)."""
    with pytest.raises(TamperDetected):
        ledger.append(action, actor=actor, role=role, subject=subject, payload=payload)
    return forge_unchecked(ledger, action, actor=actor, role=role, subject=subject, payload=payload)


def forge_unchecked(ledger, action: str, *, actor: str, role: str, subject: str, payload: dict):
    """Write the row as the DBA would: no refusal at append."""
    with ledger.transaction() as tx:
        tx._refuse_unbound = lambda *a: None  # the check a direct SQL writer never meets
        return tx.append(action, actor=actor, role=role, subject=subject, payload=payload)
