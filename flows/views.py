"""After each governance act: refresh what MLflow shows and tell Prefect what happened.

Every act (a gate decision, a validation, an approval or rejection, a promotion, a kill
switch trip or reset, a monitoring run) is a ledger entry first. :func:`derive` derives from
those entries, and from nothing else (flows run it as they go; the command line in a
detached process after its answer, flows/view_refresh.py):

- the MLflow views of every model version and registered model they touch
  (:func:`governance.views.mlflow_pages.refresh_version_view` / ``refresh_model_view``);
- one Prefect event per act (``alphagate.gate.halted``, ``alphagate.model.promoted``,
  ``alphagate.killswitch.tripped`` …) with resource labels, for automations
  (docs/deploy.md), whenever a Prefect API is configured or a flow run is active;
- inside a flow run, one markdown artifact per gate decided (its decision, reasons, ledger
  entry and links to the reports) and a line in the run log for each.

Governance never imports Prefect (shared/DESIGN.md, "Layers"): this composition lives here.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterable, Sequence

from flows.views_lock import views_locked
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action, Area, Subject, area, gate_of
from governance.ground.workspace import Workspace
from governance.log.ledger import Ledger, LedgerEntry

#: Ledger action → Prefect event name (a ``gate.*`` action gets ``alphagate.gate.<decision>``).
EVENTS = {
    Action.VALIDATION_COMPLETED: "alphagate.validation.completed",
    Action.VALIDATION_REFUSED: "alphagate.action.refused",
    Action.APPROVAL_GRANTED: "alphagate.model.approved",
    Action.APPROVAL_REJECTED: "alphagate.model.rejected",
    Action.APPROVAL_REFUSED: "alphagate.action.refused",
    Action.MODEL_PROMOTED: "alphagate.model.promoted",
    Action.KILLSWITCH_TRIPPED: "alphagate.killswitch.tripped",
    Action.KILLSWITCH_RESET_PENDING: "alphagate.killswitch.reset_pending",
    Action.KILLSWITCH_RESET: "alphagate.killswitch.reset",
    Action.KILLSWITCH_RESET_REFUSED: "alphagate.action.refused",
    Action.MONITORING_COMPLETED: "alphagate.monitoring.completed",
    Action.RUN_HALTED: "alphagate.run.halted",
    Action.FINDING_ACCEPTED: "alphagate.finding.accepted",
}
GATE_WORDS = {"pass": "passed", "halt": "halted", "review": "review"}


def head_seq(ws: Workspace) -> int | None:
    """The ledger's last sequence number, or None when the workspace has no ledger yet."""
    if not _has_ledger(ws):
        return None
    try:
        with Ledger.open(ws) as ledger:
            return ledger.head()[0]
    except Exception:  # no ledger yet (an uninitialised workspace): nothing to derive
        return None


def _has_ledger(ws: Workspace) -> bool:
    url = os.environ.get("ALPHAGATE_LEDGER_URL")
    return bool(url) or (ws.home / "ledger.db").is_file()


def event_name(entry: LedgerEntry) -> str | None:
    """The Prefect event of a ledger entry, or None for entries that are not acts."""
    if gate_of(entry.action) is not None:
        return f"alphagate.gate.{GATE_WORDS.get(entry.payload.get('decision'), 'decided')}"
    return EVENTS.get(entry.action)


def event_of(entry: LedgerEntry) -> tuple[str, dict, dict] | None:
    """``(event, resource, payload)`` of an act, or None."""
    name = event_name(entry)
    if name is None:
        return None
    resource = {
        "prefect.resource.id": f"alphagate.{_resource(entry)}",
        "prefect.resource.name": entry.subject or entry.action,
        "alphagate.action": entry.action,
        "alphagate.actor": entry.actor,
        "alphagate.role": entry.role,
        "alphagate.ledger.seq": str(entry.seq),
    }
    if model := Subject.parse_model(entry.subject):
        resource["alphagate.model.name"] = model[0]
        if model[1]:
            resource["alphagate.model.version"] = model[1]
    if (gate := gate_of(entry.action)) is not None:
        resource["alphagate.gate"] = gate
        resource["alphagate.decision"] = str(entry.payload.get("decision"))
    p = entry.payload
    payload = {k: p[k] for k in ("reasons", "reason", "verdict", "decision", "model_version",
                                 "approved_by", "status", "trigger") if k in p}  # fmt: skip
    payload["entry_hash"] = entry.entry_hash
    return name, resource, payload


def _resource(entry: LedgerEntry) -> str:
    if model := Subject.parse_model(entry.subject):
        return f"model.{model[0]}" + (f".v{model[1]}" if model[1] else "")
    if gate_of(entry.action) is not None:
        return entry.action
    return (entry.subject or entry.action).replace(":", ".")


def derive(ws: Workspace, ledger: Ledger, entries: Sequence[LedgerEntry]) -> None:
    """MLflow views, Prefect events and (inside a flow run) gate artifacts of ``entries``.

    A view that cannot be written now (an unregistered name, MLflow down) is rewritten by
    the next act: the acts themselves are already in the ledger.
    """
    if not entries:
        return
    with views_locked(ws):  # one writer at a time: each writes the ledger as it stands
        views = refresh_mlflow(ws, ledger, entries)
    emit_events(entries)
    if _in_flow_run():
        publish_gate_artifacts(ws, entries)
    publish_standing_artifacts(views)


def refresh_mlflow(ws: Workspace, ledger: Ledger, entries: Sequence[LedgerEntry]) -> list:
    """Rewrite the views of every model version and registered model ``entries`` touch;
    return the version views written (governance/views/mlflow_pages.py)."""
    from governance.decisions.standing import champion_of
    from governance.registry.recorder import mlflow_client
    from governance.registry.store_reader import registry_reader
    from governance.registry.versions import registry_exists
    from governance.views.mlflow_pages import refresh_model_view, refresh_version_view

    versions: set[ModelRef] = set()
    names, switched = set(), set()
    global_act = monitored = False
    for e in entries:
        if model := Subject.parse_model(e.subject):
            names.add(model[0])
            if model[1] and (ref := ModelRef.recorded(*model)):  # "v0" is no version
                versions.add(ref)
        if area(e.action) == Area.KILLSWITCH:
            own = (e.subject or "").partition(":")[2]
            if own:
                switched.add(own)
            global_act = global_act or not own
        if e.action in (Action.OVERLAY_SIGNED, Action.RESTRICTION_SIGNED):
            # an overlay or restriction changes what every version of its strategy shows
            signed = e.payload.get("signed") or {}
            if isinstance(signed.get("strategy"), str):
                switched.add(signed["strategy"])
        monitored = monitored or e.action == Action.MONITORING_COMPLETED
    trained = any(e.action == Action.MODEL_TRAINED for e in entries)
    if not (versions or names or switched or global_act or monitored or trained) or (
        not registry_exists(ws)
    ):
        return []
    client = mlflow_client(ws)
    # which names and versions there are: read from the registry's own SQLite file when it
    # is one (store_reader: the same rows, without MLflow's ORM), else through MLflow
    reader = registry_reader(ws)
    if global_act or monitored:
        registered = {rm.name for rm in reader.search_registered_models()}
        if global_act:  # a workspace-wide switch act changes what every model's pages say
            switched |= registered
        if monitored:  # a monitoring run changes what every champion's page says
            names |= registered
    for name in switched:  # every version's page names the switch that governs it
        names.add(name)
        with quietly():
            versions |= {ModelRef.parse(name, mv.version)
                         for mv in reader.search_model_versions(f"name='{name}'")}  # fmt: skip
    for e in entries:  # a training names its run: the version registered from it
        if e.action == Action.MODEL_TRAINED and (run_id := e.payload.get("mlflow_run_id")):
            with quietly():
                for mv in reader.search_model_versions(f"run_id='{run_id}'"):
                    versions.add(ModelRef.parse(mv.name, mv.version))
                    names.add(mv.name)
    for name in names:  # the champion as the ledger makes it, never the alias
        if (version := champion_of(ledger, name)) is not None:
            versions.add(ModelRef(name, version))
    written = []
    for ref in sorted(versions):
        with quietly():
            written.append(refresh_version_view(ws, ledger, client, ref))
    for name in sorted(names):
        with quietly():
            refresh_model_view(ledger, client, name)
    return written


@contextlib.contextmanager
def quietly():
    """A view that cannot be written now (an unregistered name, MLflow down) waits for the
    next act; the act itself is already in the ledger."""
    from governance.ground.errors import InputError
    from governance.registry.recorder import mlflow_error

    with contextlib.suppress(*mlflow_error(), InputError):  # InputError: no such version
        yield


def _in_flow_run() -> bool:
    # a process that never imported Prefect's context runs no flow: a one-shot command does
    # not import Prefect (about 4 s of CPU) only to learn that
    if "prefect.context" not in sys.modules:
        return False
    from prefect.context import FlowRunContext

    return FlowRunContext.get() is not None


def emit_events(entries: Iterable[LedgerEntry]) -> int:
    """Emit the Prefect event of each act; return how many were sent.

    Outside a flow run, only when ``PREFECT_API_URL`` names a server: a one-shot command
    must not start a temporary server just to tell nobody.
    """
    entries = list(entries)
    if not entries:
        return 0
    if not os.environ.get("PREFECT_API_URL") and not _in_flow_run():
        return 0
    from prefect.events import emit_event
    from prefect.runtime import flow_run

    related = []
    if flow_run.id:
        related.append({"prefect.resource.id": f"prefect.flow-run.{flow_run.id}",
                        "prefect.resource.role": "flow-run"})  # fmt: skip
    sent = 0
    for e in entries:
        described = event_of(e)
        if described is None:
            continue
        name, resource, payload = described
        if emit_event(name, resource=resource, related=related, payload=payload):
            sent += 1
    return sent


def publish_gate_artifacts(ws: Workspace, entries: Sequence[LedgerEntry]) -> list[str]:
    """In a flow run: one markdown artifact per gate decided in ``entries``, and a run-log
    line per decision (warning for a halt or review). Returns the artifact keys."""
    from prefect import get_run_logger
    from prefect.artifacts import create_markdown_artifact

    logger = get_run_logger()
    gates: dict[str, list[LedgerEntry]] = {}
    for e in entries:
        if (gate := gate_of(e.action)) is not None:
            gates.setdefault(gate, []).append(e)
    keys = []
    for gate, decided in gates.items():
        for e in decided:
            decision = str(e.payload.get("decision"))
            line = f"gate {gate}: {decision.upper()} on {e.subject or '-'} (ledger #{e.seq})"
            reasons = "; ".join(e.payload.get("reasons") or [])
            level = logger.info if decision == "pass" else logger.warning
            level(line + (f": {reasons}" if reasons else ""))
        key = "gate-" + re.sub(r"[^a-z0-9]+", "-", gate.lower()).strip("-")
        create_markdown_artifact(
            key=key,
            markdown=gate_markdown(ws, gate, decided, entries),
            description=f"alphagate {gate} gate: {_worst(decided)}",
        )
        keys.append(key)
    return keys


def standing_key(ref: ModelRef) -> str:
    """The Prefect artifact key of a version's standing (lowercase, digits and dashes)."""
    return "standing-" + re.sub(r"[^a-z0-9]+", "-", f"{ref.name}-v{ref.version}".lower()).strip("-")


def standing_markdown(here: dict) -> str:
    """A version's standing (``Standing.to_json()``) as the Prefect artifact shows it."""
    stage = str(here["stage"]).upper() + (" — HALTED" if here["halted"] else "")
    lines = [
        f"## `{here['model_name']}` v{here['version']}: **{stage}**",
        "",
        "| | |",
        "|---|---|",
        f"| verdict | {here['verdict'] or 'not validated'} |",
        f"| champion | {'v' + here['champion'] if here['champion'] else 'none'} |",
        f"| kill switch | {_cell(here['killswitch'])} |",
        f"| open findings | {', '.join(here['open_findings']) or '—'} |",
        f"| accepted findings | {', '.join(here['accepted_findings']) or '—'} |",
        f"| findings raised in use | {', '.join(here['in_use_findings']) or '—'} |",
        f"| approvals missing | {', '.join(here['missing']) or '—'} |",
    ]
    for o in here.get("overlays") or []:
        lines.append(f"| in force | {_cell(o['line'])}: {_cell(o['reason'])} |")
    for a in here["approvals"]:
        lines.append(
            f"| approved by | {a['user']} ({a['role']}) at {a['ts']}, ledger #{a['seq']} |"
        )
    for r in here["rejections"]:
        lines.append(f"| REJECTED by | {r['user']} ({r['role']}) at {r['ts']}, ledger #{r['seq']}"
                     f": {_cell(r['reason'])} |")  # fmt: skip
    if here["next"]:
        lines += ["", "Next:", *[f"- `{cmd}`" for cmd in here["next"]]]
    return "\n".join(lines)


def publish_standing_artifacts(views: Sequence) -> list[str]:
    """One markdown artifact per version view written (key :func:`standing_key`), when a
    Prefect API is configured or a flow run is active; returns the keys."""
    if not views or (not os.environ.get("PREFECT_API_URL") and not _in_flow_run()):
        return []
    from prefect.artifacts import create_markdown_artifact

    keys = []
    for view in views:
        here = view.facts["standing"]
        key = standing_key(view.ref)
        create_markdown_artifact(
            key=key,
            markdown=standing_markdown(here),
            description=f"alphagate {view.ref}: {here['stage']}"
            + (" (HALTED)" if here["halted"] else ""),
        )
        keys.append(key)
    return keys


def _worst(decided: Sequence[LedgerEntry]) -> str:
    words = [str(e.payload.get("decision")) for e in decided]
    return next((w for w in ("halt", "review", "pass") if w in words), words[-1] if words else "")


def gate_markdown(
    ws: Workspace, gate: str, decided: Sequence[LedgerEntry], entries: Sequence[LedgerEntry]
) -> str:
    """The markdown of one gate's artifact: a table of decisions, reasons and report links."""
    lines = [f"## Gate `{gate}`: **{_worst(decided).upper()}**", "",
             "| subject | decision | reasons | ledger entry |", "|---|---|---|---|"]  # fmt: skip
    for e in decided[:50]:
        reasons = "<br>".join(_cell(r) for r in (e.payload.get("reasons") or [])[:10]) or "—"
        lines.append(f"| `{e.subject or '-'}` | **{e.payload.get('decision')}** | {reasons} "
                     f"| #{e.seq} `{e.entry_hash[:12]}` |")  # fmt: skip
    if len(decided) > 50:
        lines.append(f"| +{len(decided) - 50} more — see `alphagate ledger show` | | | |")
    subjects = {e.subject for e in decided}
    links = [link for e in entries if e.subject in subjects for link in report_links(ws, e)]
    if links:
        lines += [
            "",
            "Reports:",
            *[f"- [{label}]({where})" for label, where in dict(links).items()],
        ]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def report_links(ws: Workspace, entry: LedgerEntry) -> list[tuple[str, str]]:
    """``(label, where)`` of the reports an entry cites: the readable copies under
    ``reports/`` or the store's files, and the MLflow run (a UI link on an MLflow server)."""
    links = []
    for name, sha in sorted(entry.artifacts.items()):
        if name.endswith(".html") or name == "quality_html":
            path = ws.artifacts / sha[:2] / sha
            label = "data-quality report" if name == "quality_html" else name
            links.append((label, path.as_uri() if path.is_file() else f"sha256:{sha}"))
    run_id = entry.payload.get("mlflow_run_id")
    if run_id:
        links.append((f"MLflow run {run_id[:8]}", mlflow_run_link(ws, run_id)))
    return links


def mlflow_run_link(ws: Workspace, run_id: str) -> str:
    """The run's page on an MLflow server, else a ``runs:/`` URI to open with ``alphagate ui``."""
    from governance.registry.recorder import run_page

    return run_page(ws, run_id) or f"runs:/{run_id}"
