"""What a risk officer needs next for one model version: ``alphagate status`` and the demo guide.

Composition only: the findings register (governance/findings/register.py), the promotion state
(governance/decisions/promotion.py) and the use-time checks (governance/decisions/model_use.py), turned into
the exact commands that move the version on.
"""

from __future__ import annotations

from governance.decisions.model_use import model_may_drive
from governance.decisions.promotion import latest_validation, stage_state
from governance.findings.register import Status, load_register
from governance.findings.review import blocking, revalidation_due
from governance.identity.users import list_users
from governance.registry.change_control import version_change
from governance.registry.recorder import mlflow_client
from governance.registry.versions import get_model_facts

ACCEPT = (
    "alphagate findings accept {id} --as {who} --key FILE"
    ' --reason "..." --until YYYY-MM-DD --control "..."'
)
APPROVE = (
    "alphagate approve --model {name} --model-version {version} --as {who} --key FILE"
    ' --reason "..."'
)


def latest_version(ws, name: str) -> str | None:
    """The highest registered version of ``name``, or None."""
    versions = mlflow_client(ws).search_model_versions(f"name='{name}'")
    return max((str(v.version) for v in versions), key=int, default=None)


def _eligible(ws, role: str, exclude: set) -> list[str]:
    return [u.name for u in list_users(ws) if u.role.value == role and u.name not in exclude]


def status_report(ws, ledger, name: str, version, tier) -> dict:
    """Where ``name`` v``version`` stands and the commands that move it on.

    Keys: ``model_name``, ``version``, ``verdict``, ``findings`` (records of the latest
    validation), ``open_findings`` / ``accepted_findings`` (ids), ``promotion``
    (PromotionState JSON), ``may_drive`` (``{allowed, reasons, champion}``),
    ``next_revalidation_due``, ``next`` (exact commands, in order), ``findings_in_use``
    (open or accepted findings the version's use raised: monitoring, boundary, fills),
    ``challengers`` (the champion and its challengers as the last monitoring run realised
    them), ``change`` (``{class: minor|material, baseline_version, baseline_seq, reasons}``,
    governance/registry/change_control.py).
    """
    facts = get_model_facts(mlflow_client(ws), name, version)
    validation = latest_validation(ledger, name, facts.version)
    state, paper_first = stage_state(ws, ledger, facts, tier, validation)
    register = load_register(ledger)
    records = blocking(register, validation.seq) if validation else []
    in_use = [
        r for r in register.of_version(name, facts.version)
        if r.origin != "validation" and r.status in (Status.OPEN, Status.ACCEPTED)
    ]  # fmt: skip
    open_ = [r for r in records if r.status is not Status.ACCEPTED]
    allowed, reasons, champion = model_may_drive(ws, ledger, name, tier)
    # a revalidation falls due for a version in use, not for one never promoted
    due = revalidation_due(ledger, validation, tier) if validation and state.champion else None
    steps: list[str] = []
    if validation is None:
        who = _eligible(ws, "validator", {facts.developer})[:1] or ["<validator>"]
        steps.append(
            f"alphagate validate --model {name} --model-version {version} --as {who[0]} --key FILE"
        )
    officers = _eligible(ws, tier.validation.acceptance.role.value, {facts.developer})
    accepted_sev = set(tier.validation.acceptance.severities)
    acceptable = all(r.severity in accepted_sev for r in open_)
    # accepting findings helps only a version that may still be promoted: none is listed
    # after a rejection, nor beside a finding this tier never accepts (a new version must fix it)
    if acceptable and not state.rejected_by:
        steps += [ACCEPT.format(id=r.id, who=(officers or ["<risk_officer>"])[0]) for r in open_]
    if not state.champion and not state.rejected_by and validation and acceptable:
        have = {g["user"] for g in state.granted} | {facts.developer}
        for role in dict.fromkeys(state.missing):
            gap = state.missing.count(role)
            for who in (_eligible(ws, role, have) or [f"<{role}>"])[:gap]:
                step = APPROVE.format(name=name, version=facts.version, who=who)
                steps.append(
                    step.replace(" approve ", " approve --stage paper ", 1) if paper_first else step
                )
    return {
        "model_name": name,
        "version": facts.version,
        "verdict": validation.verdict if validation else None,
        "change": version_change(ledger, name, facts.version).to_json(),
        "findings": [r.to_json() for r in records],
        "open_findings": [r.id for r in open_],
        "accepted_findings": [r.id for r in records if r.status is Status.ACCEPTED],
        "unacceptable_findings": [r.id for r in open_ if r.severity not in accepted_sev],
        "findings_in_use": [r.to_json() for r in in_use],
        # owner, due date and plan of each finding; overdue ones warn (issue 27)
        "overdue_findings": _overdue(ledger, register, [*records, *in_use]),
        "promotion": state.to_json(),
        "paper_first": paper_first,  # the approvals it needs next are for paper trading
        "may_drive": {"allowed": allowed, "reasons": reasons, "champion": champion},
        "next_revalidation_due": due.to_json() if due else None,
        "approvals": [_decision(ledger, g["seq"]) for g in state.granted],
        "rejections": _rejections(ledger, name, facts.version),
        "next": steps,
        "challengers": last_challengers(ledger, name),
    }


def _overdue(ledger, register, records) -> list[dict]:
    """Open findings past the due date their signed assignment names."""
    from governance.findings.owners import owners, with_owner
    from governance.findings.register import today

    assigned, day = owners(ledger, register), today()
    rows = [with_owner(r, assigned, day) for r in records]
    return [{k: row[k] for k in ("id", "owner", "due", "plan")} for row in rows if row["overdue"]]


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
        f" {(report['verdict'] or 'not validated').upper()}"
    ]
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
