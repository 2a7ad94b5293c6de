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
from governance.ground.refs import ModelRef
from governance.registry.change_control import version_change
from governance.registry.store_reader import registry_reader
from governance.registry.versions import get_model_facts


def latest_version(ws, name: str) -> int | None:
    """The highest registered version number of ``name``, or None."""
    versions = registry_reader(ws).search_model_versions(f"name='{name}'")
    return max((ModelRef.number(v.version) for v in versions), default=None)


def status_report(ws, ledger, ref: ModelRef, tier) -> dict:
    """Where the version ``ref`` stands and the commands that move it on.

    Keys: ``model_name``, ``version``, ``verdict``, ``findings`` (records of the latest
    validation), ``open_findings`` / ``accepted_findings`` (ids), ``promotion``
    (PromotionState JSON), ``may_drive`` (``{allowed, reasons, champion}``),
    ``next_revalidation_due``, ``next`` (exact commands, in order), ``findings_in_use``
    (open or accepted findings the version's use raised: monitoring, boundary, fills),
    ``challengers`` (the champion and its challengers as the last monitoring run realised
    them), ``change`` (``{class: minor|material, baseline_version, baseline_seq, reasons}``,
    governance/registry/change_control.py), ``overlays`` (the strategy's overlays and
    restrictions of use in force), ``lifecycle`` (the standing's: the stage among candidate,
    validated, paper, live, retired, and the next step; governance/decisions/lifecycle.py).
    """
    name = ref.name
    facts = get_model_facts(registry_reader(ws), ref)
    here = standing(ws, ledger, ref, tier)  # the one view model
    validation = latest_validation(ledger, ref)
    state, paper_first = stage_state(ws, ledger, facts, tier, validation)
    register = load_register(ledger)
    records = blocking(register, validation.seq) if validation else []
    in_use = [r for r in register.of_version(ref) if r.id in here.in_use_findings]
    allowed, reasons, champion = model_may_drive(ws, ledger, name, tier)
    # a revalidation falls due for a version in use, not for one never promoted
    due = revalidation_due(ledger, validation, tier) if validation and state.champion else None
    return {
        "model_name": name,
        "version": facts.ref.version_text,  # a string, as it always was
        "verdict": here.verdict,
        "stage": here.stage.value,
        "killswitch": here.killswitch,
        "halted": here.halted,
        "change": version_change(ledger, facts.ref).to_json(),
        "findings": [r.to_json() for r in records],
        "open_findings": list(here.open_findings),
        "accepted_findings": list(here.accepted_findings),
        "unacceptable_findings": list(here.unacceptable_findings),
        "findings_in_use": [r.to_json() for r in in_use],
        # owned findings past their due date: a warning, then the tier's escalation (issue 27)
        "overdue_findings": _overdue(ledger, ref, tier),
        "promotion": state.to_json(),
        "paper_first": paper_first,  # the approvals it needs next are for paper trading
        "may_drive": {"allowed": allowed, "reasons": reasons, "champion": champion},
        "next_revalidation_due": due.to_json() if due else None,
        "approvals": [dict(a) for a in here.approvals],
        "rejections": [dict(r) for r in here.rejections],
        "next": list(here.next),
        "challengers": last_challengers(ledger, name),
        "overlays": [dict(o) for o in here.overlays],
        "standing": here.to_json(),
        "lifecycle": here.lifecycle.to_json(),
    }


def _overdue(ledger, ref: ModelRef, tier) -> list[dict]:
    """Owned open findings past their signed due date, under the tier's escalation."""
    from governance.findings.overdue import overdue

    return [o.to_json() for o in overdue(ledger, ref, tier.findings.escalation)]


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
        acted = f"; escalated: {f['action']}" if f.get("escalated") else ""
        lines.append(f"  WARNING {f['id']} overdue: due {f['due']}, owner {f['owner']}{acted}")
    for fid in report["unacceptable_findings"]:
        lines.append(f"  {fid} may not be accepted under this tier: a new version must fix it")
    for o in report.get("overlays") or []:
        lines.append(f"  in force: {o['line']}: {o['reason']}")
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
