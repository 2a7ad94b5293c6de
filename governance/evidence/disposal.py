"""Disposal after retention: the one way the product deletes a record (issue 27, item 8).

``alphagate archive dispose --archive SEQ [--archive SEQ ...]``: the role the adopted
policy's ``records.dispose_role`` names signs a disposal document listing each archive it
disposes of (the ``records.archived`` entry's seq, path, SHA-256, size and ``retain_until``),
bound to the policy in force and the ledger head it answers; recorded as
``records.disposed`` (subject ``workspace``), after which the files are deleted.

Refused (exit 4, recorded as ``records.disposal_refused``): a role other than the policy's,
an archive still under its retention (today, UTC, is not after its ``retain_until``), or one
under legal hold (its record's, or the policy in force's). A replayed disposal document is
refused by the ledger (exit 3). A file whose bytes no longer hash to the record is not
disposed of (exit 3: the record names other bytes). ``archive verify`` re-checks each
disposal against the ledger's own time of its entry (governance/evidence/archive.py): a
disposal recorded inside the retention, whatever clock the disposer's process read, is a
breach.

No other product code path removes or replaces a record: ``write_atomic`` never replaces a
read-only file (governance/ground/files.py), and the only other deletions are of temporary
files the same call created (tests/test_disposal.py lists them).
"""

from __future__ import annotations

import datetime as dt
import uuid

from governance.evidence.archive import disposals, records_policy
from governance.evidence.objectstore import locate
from governance.ground.canonical import sha256_bytes
from governance.ground.errors import Forbidden, InputError, TamperDetected
from governance.ground.vocabulary import Action, Subject
from governance.identity.duties import Act, duty_refusal
from governance.identity.signing import Signer, append_signed
from governance.log.ledger import Ledger, LedgerEntry

__all__ = ["DISPOSAL_KIND", "dispose"]

DISPOSAL_KIND = "alphagate.records-disposal/1"


def _refuse(ledger: Ledger, signer: Signer, message: str) -> Forbidden:
    ledger.append(
        Action.RECORDS_DISPOSAL_REFUSED, actor=signer.name, role=signer.role,
        subject=Subject.WORKSPACE, payload={"act": Act.DISPOSE.value, "refusal": message},
    )  # fmt: skip
    return Forbidden(message)


def _disposable(ledger, signer, entry, holds: set[str], today: dt.date) -> dict:
    p = entry.payload
    where = f"archive dispose: #{entry.seq} {p.get('path')}"
    if p.get("legal_hold") or p.get("strategy") in holds:
        raise _refuse(ledger, signer, f"{where} is under legal hold ({p.get('strategy')})")
    until = p.get("retain_until")
    if until is None or today <= dt.date.fromisoformat(until):
        raise _refuse(ledger, signer, f"{where} is under retention until {until}")
    target, name = locate(str(p.get("path")))
    got = target.read(name, p.get("version_id"))
    if got is not None and sha256_bytes(got[0]) != p.get("sha256"):
        raise TamperDetected(
            f"{where}: its bytes no longer hash to the recorded SHA-256; not disposed of"
        )
    return {
        "seq": entry.seq, "strategy": p.get("strategy"), "path": p.get("path"),
        "version_id": p.get("version_id"), "sha256": p.get("sha256"), "size": p.get("size"),
        "retain_until": until, "present": got is not None,
    }  # fmt: skip


def dispose(
    ledger: Ledger, seqs: list[int], signer: Signer, *, policy_hash: str | None, today: dt.date
) -> LedgerEntry:
    """Sign and record the disposal of the archives recorded at ``seqs``, then delete their
    files (module docstring). ``today`` is the UTC date the retention is checked against."""
    records = records_policy(ledger)
    refusal = duty_refusal(Act.DISPOSE, signer.name, signer.role)
    if refusal is None and signer.role != records.dispose_role:
        refusal = (
            f"archive dispose: {signer.name!r} has role {signer.role}; the policy's"
            f" records.dispose_role is {records.dispose_role}"
        )
    if refusal:
        raise _refuse(ledger, signer, refusal)
    if not seqs:
        raise InputError("archive dispose: --archive SEQ: required (archive verify lists them)")
    archived = {e.seq: e for e in ledger.entries(action=Action.RECORDS_ARCHIVED)}
    gone = disposals(ledger)
    chosen = []
    for seq in dict.fromkeys(seqs):
        if seq not in archived:
            raise InputError(f"--archive {seq}: no records.archived entry at that seq")
        if seq in gone:
            raise InputError(f"--archive {seq}: disposed of already (ledger #{gone[seq].seq})")
        chosen.append(_disposable(ledger, signer, archived[seq], set(records.legal_hold), today))
    head = ledger.head()
    doc = {
        "kind": DISPOSAL_KIND, "archives": chosen, "as_of": today.isoformat(),
        "policy_hash": policy_hash, "answers": {"seq": head[0], "hash": head[1]},
        "id": uuid.uuid4().hex,
    }  # fmt: skip
    entry = append_signed(
        ledger, signer, Action.RECORDS_DISPOSED, subject=Subject.WORKSPACE, payload=doc
    )
    for a in chosen:
        target, name = locate(a["path"])
        target.delete(name, a["version_id"])
    return entry
