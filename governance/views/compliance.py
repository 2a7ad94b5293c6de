"""The compliance report (``alphagate compliance report``): the regulation map of
:mod:`governance.views.compliance_map` held against one workspace's verified ledger.

For each principle or area: the evidence kinds that answer it, how many ledger entries of
each this workspace holds, the latest few cited with a link to the entry (an anchor in the
page's appendix: seq, action, subject, actor, entry hash) and to its stored reports (copied,
hash-checked, into the folder beside the page), and the gaps: every kind with no entry here,
and the standing gaps of the map. Under each, the same per model version (``models``): the
evidence about that version (its subject is the version or the model, or it is about the
strategy and names no other version) and the kinds it lacks, workspace-wide kinds (policy,
people, exports, records) aside. A table per model version links its training, its
validation report and its decisions. Every link resolves inside the page or the folder.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from governance.evidence.period import about_strategy
from governance.ground.files import write_atomic
from governance.ground.html import Cell, Facts, Page, Section, Table
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action, Subject
from governance.identity.sandbox import banner
from governance.views.compliance_map import EXPECTATIONS, Expectation, Framework

__all__ = ["ComplianceReport", "compliance_report", "record_compliance", "write_report"]

#: Latest entries cited per evidence kind (the count says how many there are), and per
#: model version and kind in each principle's breakdown.
CITE = 5
CITE_MODEL = 3
#: Stored files a citation links: documents a reader opens, not data files.
READABLE = (".html", ".json", ".pdf", ".png")


@dataclass
class ComplianceReport:
    """The report's facts, its page and the files it links (``{file name: bytes}``)."""

    frameworks: tuple[Framework, ...]
    head: tuple[int, str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    models: list[dict[str, Any]] = field(default_factory=list)
    cited: dict[int, Any] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "frameworks": [f.value for f in self.frameworks],
            "ledger_head": {"seq": self.head[0], "hash": self.head[1]},
            "expectations": self.rows,
            "models": self.models,
            "gaps": sum(len(r["gaps"]) for r in self.rows),
            "files": sorted(self.files),
        }


class _Citer:
    """Cites entries once and copies their readable artifacts into the report's folder."""

    def __init__(self, store, folder: str, report: ComplianceReport):
        self.store, self.folder, self.report = store, folder, report

    def cite(self, entry) -> dict[str, Any]:
        self.report.cited[entry.seq] = entry
        links = []
        for name, sha in sorted(entry.artifacts.items()):
            if not name.lower().endswith(READABLE):
                continue
            fname = f"{sha[:16]}-{Path(name).name}"
            if fname not in self.report.files:
                self.report.files[fname] = self.store.read_bytes(sha)  # hash-checked
            links.append({"name": name, "sha256": sha, "href": f"{self.folder}/{fname}"})
        return {"seq": entry.seq, "href": f"#entry-{entry.seq}", "files": links}


def _entries(ledger, actions: Iterable[Action]) -> list:
    out = [e for a in actions for e in ledger.entries(action=a)]
    return sorted(out, key=lambda e: e.seq)


def _about(entry, ref: ModelRef) -> bool:
    """Whether ``entry`` is evidence about the version ``ref``."""
    parsed = Subject.parse_model(entry.subject)
    if parsed is not None:
        return parsed[0] == ref.name and (
            parsed[1] is None or ModelRef.recorded_number(parsed[1]) == ref.version
        )
    if not about_strategy(entry.action, entry.subject, entry.payload, ref.name):
        return False
    named = (entry.payload or {}).get("model_version")
    return named is None or ModelRef.recorded_number(named) == ref.version


def _status(kinds: list[dict], gaps: list[str]) -> str:
    held = sum(1 for k in kinds if k["count"])
    return "gap" if not held else "partial" if gaps else "evidenced"


def _per_model(citer, x: Expectation, found: list[list], versions) -> list[dict[str, Any]]:
    out = []
    for ref in versions:
        kinds, gaps = [], []
        for kind, entries in zip(x.evidence, found, strict=True):
            if kind.workspace:
                continue
            mine = [e for e in entries if _about(e, ref)]
            cited = [citer.cite(e) for e in mine[-CITE_MODEL:]]
            kinds.append({"label": kind.label, "count": len(mine), "cited": cited})
            if not mine:
                gaps.append(f"No {kind.label} for {ref}.")
        out.append({"model": ref.name, "version": ref.version, "status": _status(kinds, gaps),
                    "evidence": kinds, "gaps": gaps})  # fmt: skip
    return out


def _row(ledger, citer: _Citer, x: Expectation, versions) -> dict[str, Any]:
    kinds, gaps, everything = [], [], []
    for kind in x.evidence:
        found = _entries(ledger, kind.actions)
        everything.append(found)
        cited = [citer.cite(e) for e in found[-CITE:]]
        kinds.append(
            {
                "label": kind.label,
                "actions": [str(a) for a in kind.actions],
                "count": len(found),
                "cited": cited,
            }
        )
        if not found:
            gaps.append(f"No {kind.label} recorded in this workspace.")
    gaps += list(x.gaps)
    return {
        "framework": x.framework.value,
        "ref": x.ref,
        "title": x.title,
        "asks": x.asks,
        "status": _status(kinds, gaps),
        "evidence": kinds,
        "gaps": gaps,
        "models": _per_model(citer, x, everything, versions),
    }


def _registered(ledger) -> list[tuple[ModelRef, Any]]:
    """``(ref, entry)`` of every ``model.registered`` naming a version number, in order."""
    out = []
    for reg in ledger.entries(action=Action.MODEL_REGISTERED):
        name = reg.payload.get("model_name")
        ref = ModelRef.recorded(name, reg.payload.get("version")) if name else None
        out += [(ref, reg)] if ref else []
    return out


def _versions(ledger) -> list[ModelRef]:
    """Every registered model version, in registration order."""
    return list(dict.fromkeys(ref for ref, _ in _registered(ledger)))


def _models(ledger, citer: _Citer) -> list[dict[str, Any]]:
    out = []
    for ref, reg in _registered(ledger):
        subject = ref.subject
        validations = ledger.entries(action=Action.VALIDATION_COMPLETED, subject=subject)
        decisions = [
            e
            for a in (Action.APPROVAL_GRANTED, Action.APPROVAL_REJECTED)
            for e in ledger.entries(action=a, subject=subject)
        ]
        last = validations[-1] if validations else None
        out.append(
            {
                "model": ref.name,
                "version": ref.version,
                "registered": citer.cite(reg),
                "validation": citer.cite(last) if last else None,
                "verdict": last.payload.get("verdict") if last else None,
                "decisions": [citer.cite(e) for e in sorted(decisions, key=lambda e: e.seq)],
            }
        )
    return out


def compliance_report(
    ledger, store, frameworks: Sequence[Framework], folder: str
) -> ComplianceReport:
    """The map held against ``ledger`` (a verified reader); linked files go to ``folder``
    (the folder's name relative to the page)."""
    report = ComplianceReport(tuple(frameworks), ledger.head())
    citer = _Citer(store, folder, report)
    versions = _versions(ledger)
    report.rows = [
        _row(ledger, citer, x, versions) for x in EXPECTATIONS if x.framework in frameworks
    ]
    report.models = _models(ledger, citer)
    return report


# -- the page ------------------------------------------------------------------------------


def _links(cited: Sequence[dict[str, Any]]) -> list:
    out = []
    for c in cited:
        out.append(Cell(f"#{c['seq']}", code=True, href=c["href"]))
        out += [Cell(f["name"], href=f["href"]) for f in c["files"]]
    return out or ["none"]


def _expectation(row: dict[str, Any]) -> Section:
    table = Table(
        ("evidence", "entries", "latest cited (ledger entry, stored files)"),
        tuple((k["label"], str(k["count"]), _links(k["cited"])) for k in row["evidence"]),
        numeric=(1,),
    )
    gaps = row["gaps"] or ["None named."]
    status = Cell(row["status"], tone=None)
    blocks = [Facts((("expects", row["asks"]), ("status", status))), table, "Gaps:", list(gaps)]
    if row["models"]:
        blocks += ["Per model version (evidence about it; workspace-wide evidence aside):",
                   _breakdown(row["models"])]  # fmt: skip
    return Section(f"{row['ref']}: {row['title']}", tuple(blocks), level=3)


def _breakdown(models: Sequence[dict[str, Any]]) -> Table:
    rows = []
    for m in models:
        held = [[f"{k['label']} ({k['count']})", *_links(k["cited"])]
                for k in m["evidence"] if k["count"]]  # fmt: skip
        rows.append((f"{m['model']} v{m['version']}", m["status"], held or "none",
                     list(m["gaps"]) or "none"))  # fmt: skip
    return Table(("model version", "status", "evidence (entries, latest cited)", "gaps"), rows)


def _model_table(models: Sequence[dict[str, Any]]) -> Table:
    rows = []
    for m in models:
        val = m["validation"]
        rows.append(
            (
                f"{m['model']} v{m['version']}",
                _links([m["registered"]]),
                _links([val]) if val else "not validated",
                m["verdict"] or "–",
                _links(m["decisions"]) if m["decisions"] else "none",
            )
        )
    return Table(("model", "registered", "validation", "verdict", "approvals"), tuple(rows))


def _appendix(cited: dict[int, Any]) -> tuple[Section, ...]:
    out = [
        Section(
            "Ledger entries cited",
            (
                "Each cited entry of the verified ledger: its "
                "entry hash chains it to the checkpoint the "
                "witnesses cosigned (alphagate ledger verify).",
            ),
        )
    ]
    for seq in sorted(cited):
        e = cited[seq]
        out.append(
            Section(
                f"Entry {seq}",
                (
                    Facts(
                        (
                            ("action", Cell(e.action, code=True)),
                            ("subject", Cell(e.subject, code=True)),
                            ("actor", f"{e.actor} ({e.role})"),
                            ("at", e.ts),
                            ("entry hash", Cell(e.entry_hash, code=True)),
                        )
                    ),
                ),
                level=3,
            )
        )
    return tuple(out)


def page_of(report: ComplianceReport, sandbox: bool = False) -> Page:
    """The report's page (every number from :meth:`ComplianceReport.to_json`)."""
    sections: list[Section] = []
    for fw in report.frameworks:
        rows = [r for r in report.rows if r["framework"] == fw.value]
        counts = {s: sum(r["status"] == s for r in rows) for s in ("evidenced", "partial", "gap")}
        intro = (
            f"{len(rows)} expectations: {counts['evidenced']} evidenced, "
            f"{counts['partial']} partly, {counts['gap']} without evidence here."
        )
        sections.append(Section(fw.title, (intro,)))
        sections += [_expectation(r) for r in rows]
    sections.append(Section("Models", (_model_table(report.models),)))
    sections += _appendix(report.cited)
    gaps = sum(len(r["gaps"]) for r in report.rows)
    seq, digest = report.head
    cover = Facts(
        (
            ("date and time (UTC)", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")),
            ("frameworks", ", ".join(f.title for f in report.frameworks)),
            ("ledger read at", Cell(f"#{seq} {digest}", code=True)),
        )
    )
    summary = (
        f"{len(report.rows)} principles and areas; {gaps} gaps named. Evidence is the "
        "verified ledger's signed entries and the stored files they name, linked below; a "
        "gap is an expectation this workspace holds no evidence for, or one the product does "
        "not yet record.",
    )
    return Page(
        title="Regulation map",
        kind="Compliance report",
        verdict="gaps" if gaps else "evidenced",
        cover=cover,
        summary=summary,
        sections=tuple(sections),
        toc=True,
        banner=banner(sandbox),
        footer="JSON twin: alphagate compliance report --json.",
    )


def write_report(out: Path, html: bytes, files: dict[str, bytes]) -> Path:
    """Write the page at ``out`` and its linked files in ``<stem>_files/`` beside it."""
    folder = out.parent / f"{out.stem}_files"
    folder.mkdir(exist_ok=True)
    for name, data in files.items():
        write_atomic(folder / name, data)
    write_atomic(out, html)
    return folder


def record_compliance(ledger, report: ComplianceReport, html: bytes, actor: tuple[str, str]):
    """Store the page and record ``evidence.exported`` (``kind: compliance``) as ``actor``."""
    sha = ledger.store.put_bytes(html)
    seq, digest = report.head
    return ledger.append(
        Action.EVIDENCE_EXPORTED,
        actor=actor[0],
        role=actor[1],
        subject=Subject.WORKSPACE,
        payload={
            "kind": "compliance",
            "frameworks": [f.value for f in report.frameworks],
            "read_at": {"seq": seq, "hash": digest},
            "html_sha256": sha,
            "gaps": sum(len(r["gaps"]) for r in report.rows),
        },
        artifacts={"compliance.html": sha},
    )
