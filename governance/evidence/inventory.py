"""The model inventory (SR 26-2, PRA SS1/23): every registered model and where it stands.

:func:`inventory` lists, for each registered model: its tier (the one the adopted policy
assigns the strategy, beside the tier its last validation was made under), champion
version, status, developer, validator, last validation date and verdict, open and accepted
findings, next revalidation due and the policy hash of its last validation. The flag
``models_driving_without_current_validation`` names each champion whose validation is not
current: never validated, validated under another tier than the assigned one, findings
not accepted, an acceptance expired or a revalidation overdue — whatever the policy does about it (a ``warn`` tier lets it drive; the inventory
still says so). It is ``alphagate models``, an evidence-pack member
(``inventory/models.json``) and a self-contained HTML page linked from each registered
model in MLflow (:func:`publish_inventory`).

Status of a model (of its champion, else of its latest version): ``champion``,
``rejected``, ``not_validated``, ``failed``, ``in_review`` (findings to accept) or
``awaiting_approval``.
"""

from __future__ import annotations

import json
from pathlib import Path

from governance.decisions.promotion import latest_validation
from governance.evidence.inventory_record import record_fields
from governance.findings.register import today
from governance.findings.review import revalidation_due, use_checks
from governance.ground.canonical import sha256_json
from governance.ground.files import write_atomic
from governance.ground.html import Cell, Facts, Page, Section, Table, Tone, render_page, tone_of
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from governance.identity.sandbox import banner, is_sandbox
from governance.policy.schema import Policy, Tier, load_policy
from governance.policy.tiers import evidence_problem
from governance.registry.change_control import version_change
from governance.registry.recorder import log_run, mlflow_client
from governance.registry.store_reader import registry_reader
from governance.registry.versions import registry_exists

FLAG = "models_driving_without_current_validation"
EXPERIMENT = "alphagate-inventory"
#: The registered model description's line that links the inventory (the model view keeps it).
INVENTORY_LINE = "Model inventory: "


def _tier_of(policy: Policy | None, name: str | None) -> Tier:
    if policy is not None and name in policy.tiers:
        return policy.tiers[name]
    return Tier()


def _model_row(ws, ledger, client, name: str, policy, day) -> dict:
    from governance.decisions.standing import standing

    found = client.search_model_versions(f"name='{name}'")
    versions = {ModelRef.parse(name, v.version): v for v in found}  # read once
    latest = max(versions)
    # the tier the adopted policy assigns the strategy, not the one its validation named
    assigned = policy.assigned_tier(name) if policy is not None else None
    tier = _tier_of(policy, assigned) if assigned else None
    here = standing(ws, ledger, latest, tier)  # the one view model
    champion = here.champion
    if champion and champion != here.version:
        here = standing(ws, ledger, ModelRef(name, champion), tier)
    focus, shown = here.ref, here.to_json()
    mv = versions[focus]
    validation = latest_validation(ledger, focus)
    entry = ledger.last(action=Action.VALIDATION_COMPLETED, subject=focus.subject)
    validated_tier = entry.payload.get("policy_tier") if entry else None
    tier_name = assigned or validated_tier
    tier = _tier_of(policy, tier_name)
    checks = use_checks(ledger, focus, validation, tier, day) if validation else None
    problems = list(checks.blockers + checks.warnings) if checks else []
    if assigned is not None and entry is not None:
        off = evidence_problem(
            f"the validation of v{focus.version}", validated_tier, assigned, name
        )
        problems += [off] if off else []
    current = validation is not None and not problems
    due = revalidation_due(ledger, validation, tier) if validation else None
    of_record = record_fields(
        ledger, ledger.store, focus, [ref.version for ref in versions], champion,
        tier_name, tier, day, policy.materiality if policy is not None else None,
    )  # fmt: skip
    return {
        **of_record,
        "name": name,
        "tier": tier_name,
        "validated_tier": validated_tier,
        # versions as the registry spells them (strings), as --json always showed them
        "champion_version": shown["champion"],
        "latest_version": latest.version_text,
        "version": focus.version_text,
        "status": here.stage.value,
        "killswitch": here.killswitch,
        "halted": here.halted,
        "approved_by": [a["user"] for a in here.approvals],
        "missing_approvals": list(here.missing),
        "rejected_by": [r["user"] for r in here.rejections],
        "overlays": [o["line"] for o in here.overlays],  # in force on the strategy
        # minor or material against the previous version, from the signed entries
        "change": version_change(ledger, focus).to_json(),
        "developer": (mv.tags or {}).get("developer"),
        "validator": entry.payload.get("validator") if entry else None,
        "last_validation": (
            {"date": entry.ts[:10], "verdict": validation.verdict, "seq": entry.seq}
            if entry
            else None
        ),
        "open_findings": list(here.open_findings),
        "accepted_findings": list(here.accepted_findings),
        "next_revalidation_due": due.to_json() if due else None,
        "current_validation": current,
        "not_current_because": problems,
        "policy_hash": entry.payload.get("policy_hash") if entry else None,
        "flags": ["driving_without_current_validation"] if champion and not current else [],
        "standing": shown,
    }


def inventory(
    ws, ledger, policy: Policy | None = None, policy_hash: str | None = None, day=None
) -> dict:
    """The inventory as of ``day`` (default today, UTC): ``{as_of, policy_hash, models, flags}``."""
    day = day or today()
    rows = []
    if registry_exists(ws):
        client = registry_reader(ws)
        for rm in sorted(client.search_registered_models(), key=lambda m: m.name):
            if client.search_model_versions(f"name='{rm.name}'"):
                rows.append(_model_row(ws, ledger, client, rm.name, policy, day))
    return {
        "as_of": day.isoformat(),
        "policy_hash": policy_hash,
        "models": rows,
        "flags": {FLAG: [r["name"] for r in rows if r["flags"]]},
        "halted": [r["name"] for r in rows if r["halted"]],
        "sandbox": is_sandbox(ledger),
    }


def inventory_member(ws, ledger, policy_path: str | Path | None) -> dict:
    """The evidence pack's ``inventory/models.json``: under the adopted policy in force (its
    tiers and materiality breakpoints, whatever file the caller names); in a sandbox or
    before any adoption, the policy file given, if readable."""
    from governance.identity.users import load_registry
    from governance.policy.adoption import adopted_policy, policy_in_force

    registry = load_registry(ledger)
    adoption = None if registry.sandbox else policy_in_force(ledger, registry)
    if adoption is not None:
        return inventory(ws, ledger, adopted_policy(ledger, adoption), adoption.policy_hash)
    policy, digest = None, None
    if policy_path is not None and Path(policy_path).is_file():
        policy, digest = load_policy(policy_path)
    return inventory(ws, ledger, policy, digest)


def render_inventory(inv: dict) -> list[str]:
    """Human lines of the inventory."""
    lines = [f"model inventory as of {inv['as_of']}"]
    for m in inv["models"]:
        last = m["last_validation"] or {}
        due = (m["next_revalidation_due"] or {}).get("date", "-")
        lines.append(
            f"  {m['name']:<20} {m['status']:<18} tier {m['tier'] or '-':<8}"
            f" champion v{m['champion_version'] or '-'} ({m['change']['class']})"
            f"  validated {last.get('date', '-')}"
            f" {last.get('verdict', '')}  open {len(m['open_findings'])}"
            f" accepted {len(m['accepted_findings'])}  revalidate by {due}"
            + (f"  HALTED: kill switch {m['killswitch']}" if m.get("halted") else "")
        )
        owner, att = m.get("owner") or {}, m.get("attestation") or {}
        mat, deps = m.get("materiality") or {}, m.get("dependencies") or {}
        solver = {k: v for k, v in (deps.get("components") or {}).items()
                  if k in ("lightgbm", "cvxpy", "clarabel")}  # fmt: skip
        lines.append(
            f"    owner {owner.get('owner', '-')} (SMF {owner.get('smf', '-')})"
            f"  attestation {att.get('status', '-')} (due {att.get('due') or '-'})"
            f"  {m.get('lifecycle', '-')}  materiality {mat.get('score', '-')}"
            f" -> proposes {mat.get('proposed_tier', '-')}  vendor"
            f" {deps.get('price_vendor') or '-'}  "
            + " ".join(f"{k} {v}" for k, v in solver.items())
        )
        lines += [f"    in force: {line}" for line in m.get("overlays") or []]
    flagged = inv["flags"][FLAG]
    if flagged:
        lines.append(f"  FLAG models driving without a current validation: {', '.join(flagged)}")
    return lines


_COLUMNS = (
    ("name", "model"), ("tier", "tier"), ("status", "status"), ("lifecycle", "lifecycle"),
    ("owner", "owner (SMF)"), ("attestation", "attestation"), ("materiality", "materiality"),
    ("dependencies", "dependencies"), ("killswitch", "kill switch"),
    ("overlays", "overlays in force"),
    ("champion_version", "champion"), ("change", "change"),
    ("developer", "developer"), ("validator", "validator"),
    ("last_validation", "last validation"), ("open_findings", "open findings"),
    ("accepted_findings", "accepted findings"), ("next_revalidation_due", "revalidation due"),
    ("policy_hash", "policy hash"), ("flags", "flags"),
)  # fmt: skip


def _record_cell(key: str, value) -> Cell | str:
    """The inventory of record's columns (governance/evidence/inventory_record.py)."""
    if key == "owner":
        return f"{value['owner']} (SMF {value['smf']}): {value['purpose']}" if value else "–"
    if key == "attestation":
        tone = Tone.PASS if value["status"] == "current" else Tone.WARNING
        return Cell(f"{value['status']} (due {value['due'] or '–'})", tone=tone)
    if key == "materiality":
        d = value["drivers"]
        return (f"score {value['score']}, proposes {value['proposed_tier']} (book"
                f" {d['book_value'] or '–'}, accounts {d['accounts'] or '–'})")  # fmt: skip
    packages = value.get("components") or {}
    parts = [
        f"vendor {value.get('price_vendor') or '–'}",
        f"risk model {value.get('risk_model') or '–'}",
        *(f"source {s['source']} {s['version']}" for s in value.get("sources") or []),
        *(f"{k} {packages[k]}" for k in ("lightgbm", "cvxpy", "clarabel") if k in packages),
    ]
    return Cell(", ".join(parts), code=True)


def _cell(key: str, value) -> Cell | str:
    if key in ("owner", "attestation", "materiality", "dependencies") and value is not None:
        return _record_cell(key, value)
    if key == "last_validation" and value:
        return Cell(f"{value['date']} {value['verdict']}", tone=tone_of(value["verdict"]))
    if key == "next_revalidation_due" and value:
        return f"{value['date']} ({value['reason']})"
    if key == "policy_hash" and value:
        return Cell(value[:12], code=True)
    if key == "change" and value:
        return Cell(value["class"], tone=Tone.WARNING if value["class"] == "material" else None)
    if key == "status":
        return Cell(value, tone=tone_of(value))
    if key == "killswitch" and value:
        return Cell(value, tone=Tone.PASS if value == "armed" else Tone.CRITICAL)
    if key == "flags" and value:
        return Cell(", ".join(value), tone=Tone.CRITICAL)
    if isinstance(value, list):
        return Cell(", ".join(value) or "–", code=bool(value))
    return "–" if value in (None, "") else str(value)


def inventory_html(inv: dict) -> str:
    """The inventory as a self-contained page (governance/ground/html.py, the one renderer)."""
    flagged, halted = inv["flags"][FLAG], inv.get("halted", [])
    table = Table(
        headers=tuple(label for _k, label in _COLUMNS),
        rows=tuple(tuple(_cell(k, m.get(k)) for k, _l in _COLUMNS) for m in inv["models"]),
    )
    summary = (
        f"Models driving portfolios without a current validation: {', '.join(flagged)}."
        if flagged
        else "No model drives a portfolio without a current validation."
    )
    if halted:
        summary += f" Halted by a tripped kill switch: {', '.join(halted)}."
    page = Page(
        title="Model inventory",
        banner=banner(bool(inv.get("sandbox"))),
        kind="alphagate model inventory",
        verdict="HALTED" if halted else "FLAG" if flagged else "OK",
        cover=Facts.of(
            {
                "as of": inv["as_of"],
                "policy hash": inv["policy_hash"] or "–",
                "models": len(inv["models"]),
            }
        ),
        summary=(summary,),
        sections=(Section("Registered models", (table,)),),
    )
    return render_page(page)


def publish_inventory(ws, inv: dict) -> str | None:
    """Log the HTML inventory to MLflow and link it from every registered model.

    One run per new inventory in experiment ``alphagate-inventory``; each registered model
    gets tag ``inventory`` and a description line linking the page. Returns the run id, or
    None when there is no registry yet.

    An inventory identical to the last one published to this store (same rows, same day:
    its SHA-256 in ``<home>/reports/inventory-published.json``) is not logged again: the
    page it would write is already there, and MLflow's import and writes were most of an
    interactive ``models`` (issue 28). The page is a view: nothing decides from it.
    """
    if not inv["models"]:
        return None
    marker = Path(ws.home) / "reports" / "inventory-published.json"
    digest = sha256_json(inv)
    try:
        last = json.loads(marker.read_text(encoding="utf-8"))
        if last["sha256"] == digest and last["tracking_uri"] == ws.tracking_uri:
            return str(last["run_id"])
    except (OSError, ValueError, KeyError, TypeError):
        pass  # none yet, or unreadable: publish
    run_id, exp_id = log_run(
        ws,
        EXPERIMENT,
        tags={"mlflow.runName": f"inventory-{inv['as_of']}"},
        files={"inventory.html": inventory_html(inv).encode("utf-8")},
    )
    client = mlflow_client(ws)
    link = f"#/experiments/{exp_id}/runs/{run_id}/artifacts/inventory.html"
    for m in inv["models"]:
        client.set_registered_model_tag(m["name"], "inventory", link)
        owner, att = m.get("owner") or {}, m.get("attestation") or {}
        for key, value in (
            ("owner", owner.get("owner")),
            ("smf", owner.get("smf")),
            ("attestation", att.get("status")),
            ("lifecycle", m.get("lifecycle")),
        ):
            if value:
                client.set_registered_model_tag(m["name"], key, value)
        rm = client.get_registered_model(m["name"])
        kept = [
            ln for ln in (rm.description or "").splitlines() if not ln.startswith(INVENTORY_LINE)
        ]
        desc = "\n".join([*kept, f"{INVENTORY_LINE}[{m['status']}, as of {inv['as_of']}]({link})"])
        client.update_registered_model(m["name"], description=desc.strip())
    doc = {"sha256": digest, "tracking_uri": ws.tracking_uri, "run_id": run_id}
    write_atomic(marker, json.dumps(doc), durable=False)
    return run_id
