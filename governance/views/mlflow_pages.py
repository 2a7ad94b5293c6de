"""What MLflow shows of governance: derived from the ledger, never kept by hand.

:func:`refresh_version_view` writes, on one registered model version, everything a risk
officer looks for on its MLflow page, and :func:`refresh_model_view` the same on the
registered model. Both recompute from the ledger every time, so a view is always derived
state: call them after each governance act (``flows/views.py`` does, for the command line
and every flow). Each compares what it computed with what MLflow holds at that moment and
writes only what differs (a tag, a description, the model card), so a view edited by hand
is written again and an unchanged one costs reads only. They only ever write
``governance.*`` tags, the findings register's ``findings.*`` tags, descriptions and the
``governance/`` artifacts: the tags the
integrity check compares with the ledger (``status``, ``approved_by``) stay
:mod:`governance.registry.versions`'s.

Version tags
    ``governance.status`` (a :class:`Status`), ``governance.tier``, ``governance.policy``
    (policy hash, followed by `` sandbox`` in a sandbox workspace), ``governance.sandbox``
    (``true``/``false``: the workspace's genesis, governance/identity/sandbox.py),
    ``governance.verdict``, one
    ``governance.decision.<seq>`` per approval or rejection (who, role, when, reason,
    signature digest),
    ``governance.champion_since``, ``governance.overlays`` (the strategy's overlays and
    restrictions of use in force, ``-`` when none); the findings register's ``findings.open`` /
    ``findings.accepted`` (:func:`governance.findings.mlflow_tags.findings_tags`); a description (verdict, findings, approvals, champion
    since, links to the report, model card and evidence command); the model card
    re-rendered with the current status as ``governance/model_card.html`` of the version's
    run.
Registered-model tags
    ``governance.champion``, ``governance.killswitch`` (armed/tripped, by, when, why),
    ``governance.monitoring`` (last monitoring status and date), ``governance.sandbox``;
    and a description.
"""

from __future__ import annotations

import functools
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from governance.decisions.rows import decision_rows, switch_text
from governance.decisions.standing import Stage, champion_of, standing
from governance.evidence.inventory import INVENTORY_LINE
from governance.findings.mlflow_tags import findings_line, findings_tags
from governance.findings.register import load_register
from governance.findings.review import blocking
from governance.ground.html import Facts, Page, Section, Table, page_from_json, render_page
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action, Subject
from governance.identity.sandbox import (
    NOT_FOR_PRODUCTION,
    TAG,
    banner,
    is_sandbox,
    policy_label,
    tag_value,
)
from governance.log.ledger import Ledger
from governance.registry.store_reader import local_folder, registry_reader

__all__ = ["Status", "VersionView", "refresh_model_view", "refresh_version_view", "version_view"]

PREFIX = "governance."
CARD_JSON = "model_card.json"
CARD_VIEW = "governance/model_card.html"
#: The longest tag value written (the registry's limit): a longer one is cut to it.
TAG_MAX = 5000


#: Where a version stands, as ``governance.status`` shows it: the one view model's word
#: (governance/decisions/standing.py), the same in ``status``, ``models`` and every page.
Status = Stage


@dataclass(frozen=True)
class VersionView:
    """Everything the MLflow page of one version shows, as computed from the ledger."""

    ref: ModelRef
    status: Status
    tags: dict[str, str]
    description: str
    facts: dict


def _decision_tag(d: dict) -> str:
    sig = f"signature sha256:{d['signature_sha256']}" if d["signature_sha256"] else d["identity"]
    return f"{d['decision']} by {d['user']} ({d['role']}) at {d['at']}: {d['reason'] or '-'}; {sig}"


def version_view(ws, ledger: Ledger, client, ref: ModelRef, mv=None, get_run=None) -> VersionView:
    """The view of the version ``ref``: its :class:`Standing` (from the ledger alone, the
    registry's ``champion`` alias is never read) and the reports it links. ``mv``: the
    registry's version as already read; ``get_run``: a reader's ``get_run`` (default the client's)."""
    mv = mv if mv is not None else client.get_model_version(*ref.mlflow)
    subject = ref.subject
    here = standing(ws, ledger, ref)
    # the signed verdict the standing folded, never a later unsigned entry beside it
    seq = here.validation_seq
    validated = ledger.entries_between(seq, seq)[0] if seq is not None else None
    verdict = here.verdict
    decisions = decision_rows(ledger, ref)
    status = here.stage
    switch = here.killswitch
    promotions = ledger.entries(action=Action.MODEL_PROMOTED, subject=subject)
    champion = here.is_champion
    vp = validated.payload if validated else {}
    tier = vp.get("policy_tier") or next((d.get("tier") for d in _docs(ledger, subject)), None)
    policy = vp.get("policy_hash") or ""
    findings = blocking(load_register(ledger), here.validation_seq) if here.validation_seq else []
    since = promotions[-1].ts if promotions and champion else ""
    sandbox = is_sandbox(ledger)
    tags = {
        "status": status.value,
        "tier": tier or "unknown",
        "policy": policy_label(policy, sandbox),
        TAG.removeprefix(PREFIX): tag_value(sandbox),
        "verdict": verdict or "not validated",
        "champion_since": since or "-",
        "killswitch": switch,
        "approvals_missing": ", ".join(here.missing) or "-",
        "overlays": overlays_text(here.overlays),
        **{f"decision.{d['seq']:06d}": _decision_tag(d) for d in decisions},
    }
    facts = {
        "validation_run_id": vp.get("mlflow_run_id"),
        "validator": vp.get("validator"),
        "findings": findings,
        "decisions": decisions,
        "since": since,
        "tier": tier,
        "policy": policy,
        "verdict": verdict,
        "sandbox": sandbox,
        "killswitch": switch,
        "halted": here.halted,
        "standing": here.to_json(),
    }
    facts["links"] = _links(get_run or client.get_run, mv.run_id, vp.get("mlflow_run_id"))
    description = _description(ref, status, facts)
    tags = {PREFIX + k: v for k, v in tags.items()}
    if here.validation_seq:  # the findings register's tags (governance.findings.mlflow_tags)
        tags |= findings_tags(findings)
    return VersionView(ref, status, tags, description, facts)


def overlays_text(overlays) -> str:
    """The overlays and restrictions of use in force, as the ``governance.overlays`` tag and
    the model card show them: their lines joined by ``"; "``, ``-`` when none."""
    return "; ".join(o["line"] for o in overlays) or "-"


def _links(get_run, model_run: str | None, validation_run: str | None) -> list[tuple[str, str]]:
    """Links inside the MLflow UI (relative ``#/experiments/...`` routes) to the reports
    (``get_run``: MLflow's or store_reader's, for each run's experiment)."""
    out = []
    for label, run_id, path in (
        ("validation report", validation_run, "validation/report.html"),
        ("model card (current status)", model_run, CARD_VIEW),
        ("backtest", model_run, "backtest/summary.json"),
    ):
        if run_id:
            exp = get_run(run_id).info.experiment_id
            out.append((label, f"#/experiments/{exp}/runs/{run_id}/artifacts/{path}"))
    return out


def _docs(ledger: Ledger, subject: str):
    for action in (Action.APPROVAL_GRANTED, Action.APPROVAL_REJECTED):
        for e in ledger.entries(action=action, subject=subject):
            yield e.payload.get("signed") or {}


def _description(ref: ModelRef, status: Status, f: dict) -> str:
    """The version's MLflow description (Markdown), newest facts first."""
    lines = [f"**{status.value.upper()}** — validation verdict **{(f['verdict'] or 'none').upper()}**"
             + (f" by {f['validator']}" if f["validator"] else "")
             + f"; tier {f['tier'] or 'unknown'}"
             + (f" — SANDBOX workspace, {NOT_FOR_PRODUCTION}" if f["sandbox"] else "")]  # fmt: skip
    if f["since"]:
        lines.append(f"Champion since {f['since']}.")
    if f["halted"]:
        lines.append(
            f"**HALTED** — kill switch {f['killswitch']}: this champion does not drive the"
            " portfolio (the policy's fallback is published) until two officers reset it."
        )
    if here_overlays := f["standing"]["overlays"]:
        lines += ["", "In force on the strategy (signed, expiring):"]
        lines += [f"- {o['line']}: {o['reason']}" for o in here_overlays]
    if f["decisions"]:
        lines += ["", "Decisions:"]
        lines += [f"- {_decision_tag(d)}" for d in f["decisions"]]
    here = f["standing"]
    if here["missing"]:
        lines += ["", f"Approvals missing: {', '.join(here['missing'])}."]
    if here["next"]:
        lines += ["", "Next:", *[f"- `{cmd}`" for cmd in here["next"]]]
    report = next((href for label, href in f["links"] if label == "validation report"), None)
    if f["validation_run_id"]:  # the findings register's own line (governance.findings.mlflow_tags)
        lines += ["", findings_line(f["findings"], report)]
    links = [f"[{label}]({href})" for label, href in f["links"]]
    links.append(
        f"evidence pack: `alphagate evidence export --model {ref.name} --model-version {ref.version}"
        " --out FILE.zip`"
    )
    return "\n".join([*lines, "", *[f"- {x}" for x in links]])


def refresh_version_view(ws, ledger: Ledger, client, ref: ModelRef) -> VersionView:
    """Recompute the view of the version ``ref`` and write to MLflow what it does not hold.

    Each tag, the description and the model card are compared with what the registry and
    the run hold now (read at each call, never remembered), and only what differs is
    written: a view edited by hand is written again. Stale ``governance.decision.*`` tags
    are removed; the model card is re-rendered with the current status when the training
    run logged its ``model_card.json``.
    """
    # what MLflow holds, read from the registry's own SQLite file when it is one (the same
    # rows, without MLflow's ORM: governance/registry/store_reader.py), else through MLflow
    reader = registry_reader(ws)
    mv = reader.get_model_version(*ref.mlflow)
    get_run = functools.cache(reader.get_run)  # the links and the card read the same runs
    view = version_view(ws, ledger, client, ref, mv, get_run)
    held = mv.tags or {}
    for key in held:
        if key.startswith(PREFIX + "decision.") and key not in view.tags:
            client.delete_model_version_tag(*ref.mlflow, key)
    for key, value in view.tags.items():
        if held.get(key) != value[:TAG_MAX]:
            client.set_model_version_tag(*ref.mlflow, key, value[:TAG_MAX])
    if (mv.description or "") != view.description:
        client.update_model_version(*ref.mlflow, description=view.description)
    if mv.run_id:
        _rerender_card(client, get_run(mv.run_id), view)
    return view


def _rerender_card(client, run, view: VersionView) -> None:
    """The run's ``model_card.json`` rendered with the view's governance status as
    ``governance/model_card.html`` of the run, unless the run holds that very page."""
    from governance.registry.recorder import mlflow_error

    run_id, local = run.info.run_id, local_folder(run.info.artifact_uri)
    with tempfile.TemporaryDirectory() as tmp:
        try:  # the run's own files read in place when they are local, else downloaded
            path = local / CARD_JSON if local else client.download_artifacts(run_id, CARD_JSON, tmp)
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
        except (*mlflow_error(), OSError):
            return  # trained before cards were stored as documents
        html = render_page(_card_page(page_from_json(doc), view)).encode("utf-8")
        if local and _bytes_of(local / CARD_VIEW) == html:
            return  # the run holds this page already, byte for byte
        out = Path(tmp) / "model_card.html"
        out.write_bytes(html)
        client.log_artifact(run_id, str(out), "governance")


def _bytes_of(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _card_page(page: Page, view: VersionView) -> Page:
    """The model card ``page`` with the view's governance status first."""
    f = view.facts
    governance = Section(
        "Governance status",
        (
            Facts.of(
                {
                    "status": view.status.value,
                    "verdict": f["verdict"] or "not validated",
                    "tier": f["tier"] or "unknown",
                    "policy": policy_label(f["policy"] or None, f["sandbox"]),
                    "champion since": f["since"] or "-",
                    "kill switch": f["killswitch"],
                    "approvals missing": ", ".join(f["standing"]["missing"]) or "-",
                    "overlays in force": overlays_text(f["standing"]["overlays"]),
                }
            ),
            Table(
                ("decision", "user", "role", "at", "reason", "signature digest"),
                tuple(
                    (
                        d["decision"],
                        d["user"],
                        d["role"],
                        d["at"],
                        d["reason"],
                        d["signature_sha256"][:16] or d["identity"],
                    )
                    for d in f["decisions"]
                ),
            ),
        ),
    )
    verdict = "HALTED" if f["halted"] else view.status.value
    return Page(**{**page.__dict__, "verdict": verdict,
                   "sections": (governance, *page.sections),
                   "banner": banner(f["sandbox"])})  # fmt: skip


def refresh_model_view(ledger: Ledger, client, name: str) -> dict[str, str]:
    """Champion, kill-switch state and last monitoring status on the registered model."""
    champion = champion_of(ledger, name)  # the signed acts', never the alias
    monitored = next(
        (e for e in reversed(ledger.entries(action=Action.MONITORING_COMPLETED))
         if e.payload.get("model_name") == name
         or Subject.of_model(e.subject, name)),
        None,
    )  # fmt: skip
    ks_text = switch_text(ledger, name)
    sandbox = is_sandbox(ledger)
    mon = "never run"
    if monitored is not None:
        mon = f"{monitored.payload.get('status')} at {monitored.ts}"
    tags = {
        PREFIX + "champion": f"v{champion}" if champion else "none",
        PREFIX + "killswitch": ks_text,
        PREFIX + "monitoring": mon,
        TAG: tag_value(sandbox),
    }
    rm = client.get_registered_model(name)  # what it holds now: only what differs is written
    held = rm.tags or {}
    for key, value in tags.items():
        if held.get(key) != value[:TAG_MAX]:
            client.set_registered_model_tag(name, key, value[:TAG_MAX])
    desc = (
        ("**SANDBOX workspace** — " + NOT_FOR_PRODUCTION + ". " if sandbox else "")
        + f"Champion: **{tags[PREFIX + 'champion']}**. Kill switch: **{ks_text}**. "
        f"Last monitoring: {mon}."
    )
    # the inventory's link is the inventory's line (governance/evidence/inventory.py): kept
    old = rm.description or ""
    linked = [ln for ln in old.splitlines() if ln.startswith(INVENTORY_LINE)]
    if old != (description := "\n".join([desc, *linked])):
        client.update_registered_model(name, description=description)
    return tags
