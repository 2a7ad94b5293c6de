"""Archives: a period's evidence copied to a second location, verified there, recorded, and
held for the retention the adopted policy sets (issue 27, item 8).

``alphagate archive create --strategy NAME --from DATE --to DATE --dir DIR`` writes the
period's evidence pack (governance/evidence/period.py: the window's entries, the standing at
its start, what its decisions rest on; sealed with a checkpoint and inclusion proofs) into
``DIR`` as ``<name>-<from>-<to>.zip``, never over an existing file, reads the copy back and
verifies it as an auditor would (:func:`governance.evidence.verify.verify_pack`), makes it
read-only, and records ``records.archived``: the file's path, SHA-256 and size, the period,
the kinds of record it holds with their retention, and ``retain_until`` (the period's last
day plus the longest retention among those kinds, governance/policy/records.py; none under
``records.legal_hold``).

``alphagate archive verify`` holds every recorded archive to its record: a file missing,
altered or no longer a valid pack before its ``retain_until`` (or under legal hold) is
:class:`TamperDetected` (exit 3) naming it, and so is a file gone under a disposal recorded
before its ``retain_until``. The product deletes an archive only by ``archive dispose``
after its retention (governance/evidence/disposal.py); the check is what makes any other
deletion inside the retention period visible. For SEC rule 17a-4(f) the directory
should be write-once storage (an S3 bucket with Object Lock in compliance mode, mounted or
synced): docs/governance.md.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from governance.evidence.objectstore import locate, location
from governance.evidence.pack import PackSubject, export_pack
from governance.evidence.period import parse_day
from governance.evidence.verify import verify_pack
from governance.ground.canonical import sha256_bytes
from governance.ground.errors import Forbidden, InputError, TamperDetected
from governance.ground.vocabulary import Action, Subject
from governance.identity.duties import ROLES, Act
from governance.identity.users import load_registry, valid_acts
from governance.log.ledger import Ledger
from governance.policy.adoption import adopted_policy, policy_in_force
from governance.policy.records import RecordsPolicy, kind_of, retain_until

__all__ = ["ArchiveStatus", "archive_period", "check_archives", "disposals", "records_policy"]


def records_policy(ledger) -> RecordsPolicy:
    """The adopted policy's ``records:`` section (its defaults where none is adopted)."""
    adoption = policy_in_force(ledger)
    return adopted_policy(ledger, adoption).records if adoption else RecordsPolicy()


def archive_period(
    ws, name: str, start: str, end: str, where: str | Path, actor: tuple[str, str]
) -> dict[str, Any]:
    """Archive ``name``'s evidence of ``start``..``end`` into ``where`` (a folder, or
    ``s3://BUCKET/PREFIX``: governance/evidence/objectstore.py); return the record.

    Raises
    ------
    InputError
        Bad days, a folder that does not exist, or a period without entries.
    Forbidden
        The archive exists already: an archive is written once, never replaced.
    TamperDetected
        The copy read back from ``where`` does not verify.
    """
    first, last = parse_day(start, "--from"), parse_day(end, "--to")
    target = location(where)
    fname = f"{name}-{first}-{last}.zip"
    if target.exists(fname):
        raise Forbidden(f"archive {target.url(fname)}: exists already; an archive is written"
                        " once and never replaced")  # fmt: skip
    subject = PackSubject(name, period=(str(first), str(last)))
    with tempfile.TemporaryDirectory(prefix="alphagate-archive-") as tmp:
        local = Path(tmp) / fname
        export_pack(ws, subject, local, actor=actor)
        report = verify_pack(local)
        data = local.read_bytes()
    with Ledger.open(ws) as ledger:
        records = records_policy(ledger)
        hold = name in records.legal_hold
        kinds = {kind_of(a) for a in report.actions}
        years, longest = records.years_for(kinds)
        until = None if hold else retain_until(last, years)
        try:
            stored = target.put_once(fname, data, until)
        except FileExistsError:
            raise Forbidden(f"archive {target.url(fname)}: exists already") from None
        sha = sha256_bytes(data)
        problem = _copy_problem(target, fname, stored.get("version_id"), sha)
        if problem:  # the copy at the second location, as an auditor reads it
            raise TamperDetected(f"archive {target.url(fname)}: {problem}")
        payload = {
            "strategy": name,
            "from": str(first),
            "to": str(last),
            "path": target.url(fname),
            **stored,
            "sha256": sha,
            "size": len(data),
            "entries": report.entries,
            "pack_head": report.head,
            "kinds": {k.value: records.years(k) for k in sorted(kinds | {longest})},
            "retention_years": years,
            "retain_until": None if until is None else str(until),
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
    retention, whatever the file), ``disposed`` (after it, by a signed disposal), or the
    problem (``missing``, ``altered``, ``invalid``, ``disposed_early``)."""

    seq: int
    path: str
    retain_until: str | None
    legal_hold: bool
    state: str
    detail: str = ""

    @property
    def breach(self) -> bool:
        return self.state not in ("held", "expired", "disposed")


def _copy_problem(target, name: str, version_id: str | None, sha: str) -> str | None:
    """Why the archive ``name`` at ``target`` is not the recorded one (None: it is)."""
    got = target.read(name, version_id)
    if got is None:
        return "missing: the file is gone"
    data, stored = got
    if sha256_bytes(data) != sha or stored not in (None, sha):
        return "altered: its bytes no longer hash to the recorded SHA-256"
    with tempfile.TemporaryDirectory(prefix="alphagate-archive-") as tmp:
        copy = Path(tmp) / name
        copy.write_bytes(data)
        try:
            verify_pack(copy)
        except (TamperDetected, InputError) as exc:
            return f"invalid: {exc}"
    return None


def _state(payload: dict, today: dt.date, hold: bool) -> tuple[str, str]:
    until = payload.get("retain_until")
    if not hold and until and today > dt.date.fromisoformat(until):
        return "expired", ""
    target, name = locate(str(payload.get("path")))
    problem = _copy_problem(target, name, payload.get("version_id"), payload.get("sha256"))
    if problem:
        state, _, detail = problem.partition(": ")
        return state, detail
    return "held", ""


def disposals(ledger) -> dict[int, Any]:
    """``{archived seq: the records.disposed entry that names it}``: valid signed acts only,
    each document counted once (governance/evidence/disposal.py writes them)."""
    registry = load_registry(ledger)
    entries = ledger.entries(action=Action.RECORDS_DISPOSED)
    out: dict[int, Any] = {}
    for e in valid_acts(registry, entries, ROLES[Act.DISPOSE]):
        for a in e.payload.get("archives") or []:
            out.setdefault(int(a["seq"]), e)
    return out


def _disposed(payload: dict, disposal, hold: bool) -> tuple[str, str]:
    """A recorded disposal holds when it came after the retention, outside a legal hold
    (the ledger's own time of the entry, not a date the disposer wrote)."""
    until = payload.get("retain_until")
    day = str(disposal.ts)[:10]
    if payload.get("legal_hold") or until is None or day <= until:
        kept = "under legal hold" if hold or until is None else f"retained until {until}"
        return "disposed_early", f"disposed at ledger #{disposal.seq} on {day}, {kept}"
    return "disposed", f"ledger #{disposal.seq} on {day}"


def check_archives(ledger, today: dt.date | None = None) -> list[ArchiveStatus]:
    """Every ``records.archived`` entry against its file, under today's legal holds."""
    today = today or dt.datetime.now(dt.UTC).date()
    holds = set(records_policy(ledger).legal_hold)
    gone = disposals(ledger)
    out = []
    for e in ledger.entries(action=Action.RECORDS_ARCHIVED):
        p = e.payload
        hold = bool(p.get("legal_hold")) or p.get("strategy") in holds
        if e.seq in gone:
            state, detail = _disposed(p, gone[e.seq], hold)
        else:
            state, detail = _state(p, today, hold)
        out.append(ArchiveStatus(e.seq, str(p.get("path")), p.get("retain_until"), hold,
                                 state, detail))  # fmt: skip
    return out
