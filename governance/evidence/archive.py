"""Archives: a period's evidence copied to a second location, verified there, recorded, and
held for the retention the adopted policy sets (issue 27, item 8).

``alphagate archive create --strategy NAME --from DATE --to DATE --dir DIR`` writes the
period's evidence pack (governance/evidence/period.py: the window's entries, the standing at
its start, what its decisions rest on; sealed with a checkpoint and inclusion proofs) into
``DIR`` as ``<name>-<from>-<to>.zip``, never over an existing file, reads the copy back and
verifies it as an auditor would (:func:`governance.evidence.verify.verify_pack`), makes it
read-only, and records ``records.archived``: the file's path, SHA-256 and size, the period,
and ``retain_until`` (the period's last day plus the policy's ``records.retention_years``;
none under ``records.legal_hold``).

``alphagate archive verify`` holds every recorded archive to its record: a file missing,
altered or no longer a valid pack before its ``retain_until`` (or under legal hold) is
:class:`TamperDetected` (exit 3) naming it. alphagate itself deletes nothing; the check is what
makes a deletion inside the retention period visible. For SEC rule 17a-4(f) the directory
should be write-once storage (an S3 bucket with Object Lock in compliance mode, mounted or
synced): docs/governance.md.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from governance.evidence.pack import PackSubject, export_pack
from governance.evidence.period import parse_day
from governance.evidence.verify import verify_pack
from governance.ground.canonical import sha256_file
from governance.ground.errors import Forbidden, InputError, TamperDetected
from governance.ground.vocabulary import Action, Subject
from governance.log.ledger import Ledger
from governance.policy.adoption import adopted_policy, policy_in_force
from governance.policy.records import RecordsPolicy, retain_until

__all__ = ["ArchiveStatus", "archive_period", "check_archives", "records_policy"]


def records_policy(ledger) -> RecordsPolicy:
    """The adopted policy's ``records:`` section (its defaults where none is adopted)."""
    adoption = policy_in_force(ledger)
    return adopted_policy(ledger, adoption).records if adoption else RecordsPolicy()


def archive_period(
    ws, name: str, start: str, end: str, folder: str | Path, actor: tuple[str, str]
) -> dict[str, Any]:
    """Archive ``name``'s evidence of ``start``..``end`` into ``folder``; return the record.

    Raises
    ------
    InputError
        Bad days, a folder that does not exist, or a period without entries.
    Forbidden
        The archive's file exists already: an archive is written once, never replaced.
    TamperDetected
        The copy read back from ``folder`` does not verify.
    """
    first, last = parse_day(start, "--from"), parse_day(end, "--to")
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"--dir {folder}: folder does not exist")
    out = folder / f"{name}-{first}-{last}.zip"
    if out.exists():
        raise Forbidden(
            f"archive {out}: exists already; an archive is written once and never replaced"
        )
    subject = PackSubject(name, period=(str(first), str(last)))
    export_pack(ws, subject, out, actor=actor)
    report = verify_pack(out)  # the copy at the second location, as an auditor reads it
    os.chmod(out, 0o444)
    with Ledger.open(ws) as ledger:
        records = records_policy(ledger)
        hold = name in records.legal_hold
        until = None if hold else str(retain_until(last, records.retention_years))
        payload = {
            "strategy": name,
            "from": str(first),
            "to": str(last),
            "path": str(out.resolve()),
            "sha256": sha256_file(out),
            "size": out.stat().st_size,
            "entries": report.entries,
            "pack_head": report.head,
            "retention_years": records.retention_years,
            "retain_until": until,
            "legal_hold": hold,
        }
        entry = ledger.append(
            Action.RECORDS_ARCHIVED,
            actor=actor[0],
            role=actor[1],
            subject=Subject.period(name, str(first), str(last)),
            payload=payload,
        )
    return {**payload, "ledger_entry": entry.seq}


@dataclass(frozen=True)
class ArchiveStatus:
    """One recorded archive against its file: ``state`` is ``held``, ``expired`` (past its
    retention, whatever the file), or the problem (``missing``, ``altered``, ``invalid``)."""

    seq: int
    path: str
    retain_until: str | None
    legal_hold: bool
    state: str
    detail: str = ""

    @property
    def breach(self) -> bool:
        return self.state not in ("held", "expired")


def _state(payload: dict, today: dt.date, hold: bool) -> tuple[str, str]:
    until = payload.get("retain_until")
    if not hold and until and today > dt.date.fromisoformat(until):
        return "expired", ""
    path = Path(str(payload.get("path")))
    if not path.is_file():
        return "missing", "the file is gone"
    if sha256_file(path) != payload.get("sha256"):
        return "altered", "its bytes no longer hash to the recorded SHA-256"
    try:
        verify_pack(path)
    except (TamperDetected, InputError) as exc:
        return "invalid", str(exc)
    return "held", ""


def check_archives(ledger, today: dt.date | None = None) -> list[ArchiveStatus]:
    """Every ``records.archived`` entry against its file, under today's legal holds."""
    today = today or dt.datetime.now(dt.UTC).date()
    holds = set(records_policy(ledger).legal_hold)
    out = []
    for e in ledger.entries(action=Action.RECORDS_ARCHIVED):
        p = e.payload
        hold = bool(p.get("legal_hold")) or p.get("strategy") in holds
        state, detail = _state(p, today, hold)
        out.append(ArchiveStatus(e.seq, str(p.get("path")), p.get("retain_until"), hold,
                                 state, detail))  # fmt: skip
    return out
