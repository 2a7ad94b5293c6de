"""The guide ``alphagate demo`` prints after the pipeline: what happened and what comes next."""

from __future__ import annotations

from flows.summary import RunSummary
from governance.policy import PortfolioSource


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
        lines.append(f"    alphagate validate --model-version {version} --as vera")
    elif verdict == "review":
        lines.append(
            f"  Independent validation says REVIEW: v{version} raised warnings that an"
            " accountable risk officer may accept (signed, with an expiry and a compensating"
            " control); then a validator and a risk officer approve. Still to do:"
        )
        lines += [f"    {cmd}" for cmd in _review_steps(config_path, version)]
        lines.append("  Where it stands at any time:  alphagate status")
    elif verdict != "pass":
        lines.append(
            f"  Independent validation says {verdict.upper()}: the candidate v{version} may not"
            " be promoted. The findings above say why; the full report is in the MLflow UI"
            " (`alphagate ui`) under the model version."
        )
        lines.append(
            "  Promotion needs one validator and one risk officer (policy); right now these"
            " are refused with exit 4 because the verdict is not pass:"
        )
        lines += [f"    {cmd}" for cmd in _approve_commands(config_path, version)]
    elif approval.get("champion"):
        lines.append(f"  v{version} is the champion and drives the portfolio.")
    else:
        lines.append(f"  v{version} passed validation and needs approvals before it is promoted:")
        lines += [f"    {cmd}" for cmd in approval.get("commands", [])]
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


def _review_steps(config_path: str, version: int | None) -> list[str]:
    """The exact commands still needed on the review path (flows/status.py)."""
    from flows.config import load_config
    from flows.status import status_report
    from governance.config import load_policy_for
    from governance.ledger import Ledger
    from governance.workspace import Workspace

    cfg = load_config(config_path)
    _policy, tier, _digest = load_policy_for(cfg)
    ws = Workspace.from_env()
    with Ledger.open(ws) as ledger:
        report = status_report(ws, ledger, cfg.model.name, version, tier)
    return report["next"] or [f"alphagate status --model-version {version}"]


def _approve_commands(config_path: str, version: int | None) -> list[str]:
    """``alphagate approve`` lines for the cast's first validator and risk officer."""
    from flows.config import load_config

    cast = load_config(config_path).governance.cast
    names = [
        next((m.name for m in cast if m.role.value == role), f"<{role}>")
        for role in ("validator", "risk_officer")
    ]
    return [
        f'alphagate approve --model-version {version} --as {who} --reason "..."' for who in names
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
