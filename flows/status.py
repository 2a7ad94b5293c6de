"""What a risk officer needs next for one model version: ``alphagate status`` and the demo guide.

Composition only: the findings register (governance/findings/register.py), the promotion state
(governance/decisions/promotion.py) and the use-time checks (governance/decisions/model_use.py), turned into
the exact commands that move the version on.
"""

from __future__ import annotations

from governance.decisions.model_use import model_may_drive
from governance.decisions.promotion import latest_validation, stage_state
from governance.decisions.standing import standing
from governance.findings.register import load_register
from governance.findings.review import blocking, revalidation_due
from governance.registry.change_control import version_change
from governance.registry.recorder import mlflow_client
from governance.registry.versions import get_model_facts


def latest_version(ws, name: str) -> str | None:
    """The highest registered version of ``name``, or None."""
    versions = mlflow_client(ws).search_model_versions(f"name='{name}'")
    return max((str(v.version) for v in versions), key=int, default=None)


def status_report(ws, ledger, name: str, version, tier) -> dict:
    """Where ``name`` v``version`` stands and the commands that move it on.

    Keys: ``model_name``, ``version``, ``verdict``, ``findings`` (records of the latest
    validation), ``open_findings`` / ``accepted_findings`` (ids), ``promotion``
    (PromotionState JSON), ``may_drive`` (``{allowed, reasons, champion}``),
    ``next_revalidation_due``, ``next`` (exact commands, in order), ``findings_in_use``
    (open or accepted findings the version's use raised: monitoring, boundary, fills),
    ``challengers`` (the champion and its challengers as the last monitoring run realised
    them), ``change`` (``{class: minor|material, baseline_version, baseline_seq, reasons}``,
    governance/registry/change_control.py), ``lifecycle`` (:func:`lifecycle`: the stage
    among candidate, validated, paper, live, retired, and the next step).
    """
    facts = get_model_facts(mlflow_client(ws), name, version)
    here = standing(ws, ledger, name, facts.version, tier)  # the one view model
    validation = latest_validation(ledger, name, facts.version)
    state, paper_first = stage_state(ws, ledger, facts, tier, validation)
    register = load_register(ledger)
    records = blocking(register, validation.seq) if validation else []
    in_use = [r for r in register.of_version(name, facts.version) if r.id in here.in_use_findings]
    allowed, reasons, champion = model_may_drive(ws, ledger, name, tier)
    # a revalidation falls due for a version in use, not for one never promoted
    due = revalidation_due(ledger, validation, tier) if validation and state.champion else None
    return {
        "model_name": name,
        "version": facts.version,
        "verdict": here.verdict,
        "stage": here.stage.value,
        "killswitch": here.killswitch,
        "halted": here.halted,
        "change": version_change(ledger, name, facts.version).to_json(),
        "findings": [r.to_json() for r in records],
        "open_findings": list(here.open_findings),
        "accepted_findings": list(here.accepted_findings),
        "unacceptable_findings": list(here.unacceptable_findings),
        "findings_in_use": [r.to_json() for r in in_use],
        # owner, due date and plan of each finding; overdue ones warn (issue 27)
        "overdue_findings": _overdue(ledger, register, [*records, *in_use]),
        "promotion": state.to_json(),
        "paper_first": paper_first,  # the approvals it needs next are for paper trading
        "may_drive": {"allowed": allowed, "reasons": reasons, "champion": champion},
        "next_revalidation_due": due.to_json() if due else None,
        "approvals": [dict(a) for a in here.approvals],
        "rejections": [dict(r) for r in here.rejections],
        "next": list(here.next),
        "challengers": last_challengers(ledger, name),
        "standing": here.to_json(),
        "lifecycle": lifecycle(
            ledger, name, facts.version, tier, state, validation, here.open_findings
        ),
    }


def _overdue(ledger, register, records) -> list[dict]:
    """Open findings past the due date their signed assignment names."""
    from governance.findings.owners import owners, with_owner
    from governance.findings.register import today

    assigned, day = owners(ledger, register), today()
    rows = [with_owner(r, assigned, day) for r in records]
    return [{k: row[k] for k in ("id", "owner", "due", "plan")} for row in rows if row["overdue"]]


#: The stages of a version's life (issue 24), in order; ``superseded`` (live once, replaced
#: by a later champion) stands beside them, as the registry's ``previous`` champion does.
STAGES = ("candidate", "validated", "paper", "live", "retired")


def lifecycle(ledger, name: str, version, tier, state, validation, open_findings) -> dict:
    """Where the version stands among :data:`STAGES` and the next step, in words.

    ``{stage, stages, paper_required, paper_days, min_paper_days, next_step}``: ``paper_days``
    counts the distinct days its paper book was marked since it entered paper
    (governance/decisions/paper.py), None outside paper. Read from the same verified ledger
    and promotion state as the rest of the status report; it decides nothing.
    """
    from governance.decisions.paper import entered, in_paper, paper_days
    from governance.ground.vocabulary import Action, Subject
    from governance.registry.retired import retirements

    paper = getattr(tier, "paper", None)
    subject = Subject.model(name, version)
    out = {"stages": list(STAGES), "paper_required": paper is not None,
           "min_paper_days": paper.min_days if paper else None, "paper_days": None}  # fmt: skip
    live_next = "the graduation gate, then two approvals for live (alphagate approve)"
    if str(version) in retirements(ledger, name):
        return {**out, "stage": "retired", "next_step": "none: a retired version never returns"}
    if state.champion:
        return {**out, "stage": "live", "next_step": "in use: monitored (alphagate monitor);"
                " an officer may retire it (alphagate retire)"}  # fmt: skip
    if ledger.entries(action=Action.MODEL_PROMOTED, subject=subject):
        return {**out, "stage": "superseded",
                "next_step": "none: a later champion replaced it (it returns only with a fresh"
                " validation and fresh approvals)"}  # fmt: skip
    start = entered(ledger, name, version)
    if start is not None and any(e.seq == start.seq for e in in_paper(ledger, name)):
        days = paper_days(ledger, name, version, start.seq)
        need = paper.min_days if paper else 0
        step = (f"{need - days} more paper days (each rebalance marks the paper book), then "
                if days < need else "") + live_next  # fmt: skip
        return {**out, "stage": "paper", "paper_days": days, "next_step": step}
    if state.rejected_by:
        why = f"none: rejected by {', '.join(state.rejected_by)}; a new version must fix it"
        return {**out, "stage": "validated" if validation else "candidate", "next_step": why}
    if validation is None:
        return {**out, "stage": "candidate", "next_step": "independent validation"
                " (alphagate validate)"}  # fmt: skip
    if validation.verdict not in ("pass", "review"):
        return {**out, "stage": "candidate", "next_step": f"none: validation"
                f" {validation.verdict.upper()}, it may not enter paper or go live; a new"
                " version must fix the findings"}  # fmt: skip
    if open_findings:
        return {**out, "stage": "candidate", "next_step": "accept or fix the open findings"
                " (alphagate findings accept), then the approvals"}  # fmt: skip
    step = ("two approvals for paper (alphagate approve --stage paper), then"
            f" {paper.min_days} paper days and {live_next}") if paper else (
            "two approvals for live (alphagate approve)")  # fmt: skip
    return {**out, "stage": "validated", "next_step": step}


def lifecycle_line(life: dict) -> str:
    """``candidate ─► validated ─► [paper 3/126] ─► live ─► retired``: the stage bracketed."""
    marks = []
    for stage in life["stages"]:
        if stage == "paper" and not life["paper_required"] and life["stage"] != "paper":
            continue
        label = stage
        if stage == "paper" and life["paper_days"] is not None:
            label = f"paper {life['paper_days']}/{life['min_paper_days']} days"
        marks.append(f"[{label}]" if stage == life["stage"] else label)
    line = " ─► ".join(marks)
    return line if life["stage"] in life["stages"] else f"{line}  ({life['stage']})"


def _decision(ledger, seq: int) -> dict:
    """``{user, role, ts, seq, reason}`` of one signed decision entry."""
    e = ledger.entries_between(seq, seq)[0]
    return {
        "user": e.payload.get("user", e.actor),
        "role": e.payload.get("role", e.role),
        "ts": e.ts,
        "seq": e.seq,
        "reason": e.payload.get("reason"),
    }


def _rejections(ledger, name: str, version) -> list[dict]:
    """Every rejection of the version: a risk officer's decision stands (issue 29)."""
    from governance.ground.vocabulary import Action, Subject

    entries = ledger.entries(action=Action.APPROVAL_REJECTED, subject=Subject.model(name, version))
    return [_decision(ledger, e.seq) for e in entries]


def last_challengers(ledger, name: str) -> dict:
    """The champion and its challengers side by side as the strategy's last monitoring run
    realised them (its ``challenger.<signal>.<part>`` metrics): ``{signal: {part: value}}``."""
    from governance.ground.vocabulary import Action

    for e in reversed(ledger.entries(action=Action.MONITORING_COMPLETED)):
        if e.payload.get("model_name") == name and "metrics" in e.payload:
            out: dict = {}
            for key, value in e.payload["metrics"].items():
                head, _, rest = key.partition(".")
                if head == "challenger" and "." in rest:
                    signal, part = rest.rsplit(".", 1)
                    out.setdefault(signal, {})[part] = value
            return out
    return {}


def render_status(report: dict) -> list[str]:
    """The human lines of a :func:`status_report`."""
    lines = [
        f"{report['model_name']} v{report['version']}: verdict"
        f" {(report['verdict'] or 'not validated').upper()}, stage {report['stage']}"
    ]
    if report.get("halted"):
        lines.append(f"  HALTED: kill switch {report['killswitch']}")
    change = report.get("change")
    if change:
        base = change["baseline_version"]
        why = "; ".join(change["reasons"]) or "new data only"
        against = f" against v{base}" if base else ""
        lines.append(f"  change: {change['class']}{against} ({why})")
    for f in report["findings"]:
        until = (f.get("acceptance") or {}).get("until")
        tail = f" until {until}" if f["status"] == "accepted" and until else ""
        lines.append(f"  {f['id']} [{f['severity']}] {f['status']}{tail}: {f['message']}")
    for f in report.get("findings_in_use") or []:
        lines.append(
            f"  {f['id']} [{f['severity']}] {f['status']}, raised in use ({f['origin']}): "
            f"{f['message']}"
        )
    for f in report.get("overdue_findings") or []:
        lines.append(f"  WARNING {f['id']} overdue: due {f['due']}, owner {f['owner']}")
    for fid in report["unacceptable_findings"]:
        lines.append(f"  {fid} may not be accepted under this tier: a new version must fix it")
    for a in report.get("approvals", []):
        lines.append(f"  approved by {a['user']} ({a['role']}) at {a['ts']} (ledger #{a['seq']})")
    for r in report.get("rejections", []):
        lines.append(
            f"  REJECTED by {r['user']} ({r['role']}) at {r['ts']} (ledger #{r['seq']}):"
            f" {r['reason'] or ''}".rstrip(": ")
        )
    life = report.get("lifecycle")
    if life:
        lines.append(f"  lifecycle: {lifecycle_line(life)}")
        lines.append(f"    next: {life['next_step']}")
    drive = report["may_drive"]
    if drive["champion"]:
        verb = "drives" if drive["allowed"] else "may NOT drive"
        lines.append(f"  champion v{drive['champion']} {verb} the portfolio")
        lines += [f"    because {r}" for r in drive["reasons"]]
    for signal, row in (report.get("challengers") or {}).items():
        margin = f", champion's margin {row['margin']:+.4f}" if "margin" in row else ""
        lines.append(
            f"  {signal}: realised rank IC {row.get('rank_ic', float('nan')):+.4f}{margin}"
        )
    due = report["next_revalidation_due"]
    if due:
        lines.append(f"  next revalidation due {due['date']} ({due['reason']})")
    if report["next"]:
        lines.append("  next:")
        lines += [f"    {cmd}" for cmd in report["next"]]
    return lines
