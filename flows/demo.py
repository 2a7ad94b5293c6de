"""``alphagate demo``: the demo cast's keyring, and the guide printed after the pipeline.

The demo cast (``governance.cast`` of the config) gets personal keys in a *demo keyring*
beside the workspace, never inside it: ``<ALPHAGATE_HOME>-demo-keyring/`` (or
``$ALPHAGATE_KEYRING`` when set). The demo is one person playing every role, so that one
folder holds everybody's key: exactly what four eyes cannot protect against, and said so
on screen. In production each person makes their own key (``alphagate keys new``) and an
admin enrols its public half.
"""

from __future__ import annotations

import os
from pathlib import Path

from flows.summary import RunSummary
from governance.policy.schema import PortfolioSource

DEMO_ADMIN = "ada"


def demo_keyring(ws) -> Path:
    """``$ALPHAGATE_KEYRING``, else ``<workspace>-demo-keyring`` beside the workspace."""
    from governance.identity.keys import KEYRING_ENV

    ring = os.environ.get(KEYRING_ENV)
    return Path(ring) if ring else ws.home.parent / f"{ws.home.name}-demo-keyring"


def ensure_demo_cast(ws, cast, policy_path) -> list[str]:
    """Keys in the demo keyring, the genesis, the cast's enrolment and the adoption of the
    demo's policy by its two risk officers, once; the keyring is exported as
    ``ALPHAGATE_KEYRING`` for this process. Returns lines to print."""
    from governance.audit.door import prove_identity
    from governance.ground.canonical import sha256_file
    from governance.identity.enrolment import add_user, initialise
    from governance.identity.keys import KEYRING_ENV, load_private_key, new_key_file, public_hex
    from governance.identity.users import load_registry
    from governance.log.ledger import Ledger
    from governance.policy.adoption import adopt, policy_in_force

    ring = demo_keyring(ws)
    os.environ[KEYRING_ENV] = str(ring)
    names = [(DEMO_ADMIN, "admin"), *((m.name, m.role.value) for m in cast)]
    for name, _ in names:
        if not (ring / f"{name}.key").exists():
            new_key_file(ring / f"{name}.key", comment=f"alphagate DEMO key of {name}")
    with Ledger.open(ws) as ledger:
        reg = load_registry(ledger)
        if reg.genesis_seq is None:
            initialise(ws, ledger, DEMO_ADMIN, load_private_key(ring / f"{DEMO_ADMIN}.key"))
            reg = load_registry(ledger)
        missing = [(n, r) for n, r in names[1:] if reg.at(n) is None]
        if missing:
            admin = prove_identity(ws, ledger, DEMO_ADMIN, None, "users add")
            for name, role in missing:
                pub = public_hex(load_private_key(ring / f"{name}.key"))
                add_user(ws, ledger, admin, name, role, pub)
        current = policy_in_force(ledger)
        if current is None or current.policy_hash != sha256_file(policy_path):
            for m in [m for m in cast if m.role.value == "risk_officer"][:2]:
                officer = prove_identity(ws, ledger, m.name, None, "policy adopt")
                adopt(ws, ledger, officer, policy_path, {"rule": "fallback"})
    return [
        f"DEMO KEYS: the demo cast's private keys are in {ring} (outside the workspace).",
        "  They are demo keys: one person holding everybody's key defeats four eyes. In",
        "  production each person runs `alphagate keys new --out FILE` and keeps the file.",
    ]


def guide(summary: RunSummary, config_path: str) -> str:
    """Plain-language next steps for the demo cast (dana develops, vera validates,
    rita and omar are risk officers)."""
    lines = ["What this means, and what a risk officer does next:"]
    approval = summary.stages.get("approval", {}).get("state") or {}
    verdict = (summary.validation or {}).get("verdict")
    version = summary.model_version
    if summary.stage == "data_quality":
        lines.append("  The data-quality gate halted the chain: no model was trained.")
    elif verdict is None:
        lines.append("  The candidate was not validated yet:")
        lines.append(
            f"    alphagate validate --model {summary.model_name} --model-version {version}"
            f" --as vera {_key_flag('vera')}"
        )
    elif verdict == "review":
        lines.append(
            f"  Independent validation says REVIEW: v{version} raised warnings that an"
            " accountable risk officer may accept (signed, with an expiry and a compensating"
            " control); then a validator and a risk officer approve. Still to do:"
        )
        lines += [
            f"    {cmd}"
            for cmd in _standing(config_path, version)["next"]
            or [f"alphagate status --model {summary.model_name} --model-version {version}"]
        ]
        lines.append(
            f"  Where it stands at any time:  alphagate status --model {summary.model_name}"
        )
    elif verdict != "pass":
        lines.append(
            f"  Independent validation says {verdict.upper()}: the candidate v{version} may not"
            " be promoted. The findings above say why; the full report is in the MLflow UI"
            " (`alphagate ui`) under the model version."
        )
        lines.append(
            "  Each approval (for paper first, when the tier has a paper stage) needs one"
            " validator and one risk officer (policy); right now these are refused with exit 4"
            " because the verdict is not pass:"
        )
        lines += [f"    {cmd}" for cmd in _approve_commands(config_path, version)]
    elif approval.get("champion"):
        lines.append(f"  v{version} is the champion and drives the portfolio.")
    else:
        lines.append(f"  v{version} passed validation and needs approvals before it is promoted:")
        lines += [f"    {_with_demo_key(cmd)}" for cmd in approval.get("commands", [])]
    if summary.stage != "data_quality" and version is not None:
        lines += lifecycle_lines(_standing(config_path, version))
    pf = summary.portfolio or {}
    if pf:
        lines.append(f"  Portfolio published from the {pf.get('source')}: {pf.get('weights_path')}")
        if pf.get("source") == PortfolioSource.FALLBACK:
            lines += [f"    because {r}" for r in pf.get("reasons", [])]
    lines += risk_lines(summary)
    ks = summary.stages.get("kill switch", {}).get("headline")
    if ks:
        lines.append(f"  Kill switch: {ks}   (alphagate killswitch status)")
    lines += [
        "  Check the audit trail:      alphagate ledger verify",
        f"  Export the evidence:        alphagate evidence export --model-version {version}"
        " --out evidence.zip",
        "  Browse runs and reports:    alphagate ui",
        f"  Rebalance again later:      alphagate rebalance --config {config_path}",
    ]
    return "\n".join(lines)


def _standing(config_path: str, version: int | None) -> dict:
    """The version's status report (flows/status.py): the exact commands still needed and
    where it stands in its lifecycle."""
    from flows.config import load_config
    from flows.status import status_report
    from governance.ground.refs import ModelRef
    from governance.ground.workspace import Workspace
    from governance.log.ledger import Ledger
    from governance.policy.config import load_policy_for

    cfg = load_config(config_path)
    _policy, tier, _digest = load_policy_for(cfg)
    ws = Workspace.from_env()
    with Ledger.open(ws) as ledger:
        return status_report(ws, ledger, ModelRef(cfg.model.name, version), tier)


def lifecycle_lines(report: dict) -> list[str]:
    """Where the version stands among the stages of its life and what comes next (issue 24):
    under a tier with a paper stage, paper comes before live capital."""
    from flows.status import lifecycle_line

    life = report["lifecycle"]
    lines = [
        f"  Where v{report['version']} stands: {lifecycle_line(life)}",
        f"    next: {life['next_step']}",
    ]
    if life["paper_required"]:
        lines.append(
            f"    (this tier trades a version on paper for {life['min_paper_days']} days, never"
            " published, before the graduation gate and a separate approval for live capital)"
        )
    return lines


def _approve_commands(config_path: str, version: int | None) -> list[str]:
    """``alphagate approve`` lines for the cast's first validator and risk officer: for
    paper (``--stage paper``) when the tier has a paper stage, else for live."""
    from flows.config import load_config
    from governance.policy.config import load_policy_for

    cfg = load_config(config_path)
    stage = "--stage paper " if load_policy_for(cfg)[1].paper is not None else ""
    cast = cfg.governance.cast
    names = [
        next((m.name for m in cast if m.role.value == role), f"<{role}>")
        for role in ("validator", "risk_officer")
    ]
    return [
        f"alphagate approve {stage}--model {cfg.model.name} --model-version {version} --as {who}"
        f' {_key_flag(who)} --reason "..."'
        for who in names
    ]


def risk_lines(summary: RunSummary) -> list[str]:
    """Where the published book's risk decomposition and stress losses are (issue 16)."""
    risk = summary.stages.get("risk", {})
    if not risk:
        return []
    run_id = risk.get("mlflow_run_id")
    return [
        "  Risk and stress of the published book (above): its plots and tables are in MLflow,"
        f" experiment {summary.model_name}-risk" + (f", run {run_id}" if run_id else ""),
        "    (risk/contributions.png, stress/losses.png); again at any time with"
        "  alphagate risk  and  alphagate stress",
    ]


def _key_flag(who: str) -> str:
    """``--key <demo keyring>/<who>.key``."""
    from governance.ground.workspace import Workspace

    return f"--key {demo_keyring(Workspace.from_env()) / f'{who}.key'}"


def _with_demo_key(cmd: str) -> str:
    """An approval command with the demo keyring's key in place of ``--key FILE``."""
    who = cmd.split(" --as ", 1)[1].split()[0] if " --as " in cmd else ""
    return cmd.replace("--key FILE", _key_flag(who)) if who else cmd
