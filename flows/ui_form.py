"""What a Prefect review form names (flows/review.py): the validation report as a URL of the
MLflow server, and the exact ``alphagate approve [--stage paper] ... --sign-only`` command
an approver runs to sign the line the form takes.

The pipeline never pauses for a person (issue 29): a version that awaits approvals is
handed to its review flow (flows/review.py ``hand_off``), one run per version that waits
for each signed approval in turn and holds no ledger while it waits.
"""

from __future__ import annotations

from governance.ground.refs import ModelRef
from governance.ground.workspace import Workspace

#: Where a validation's report sits among its MLflow run's artifacts (validation/run.py).
REPORT_ROUTE = "validation/report.html"


def report_url(ws: Workspace, validation_run: str | None) -> str:
    """The validation report as an ``http(s)`` URL of the MLflow server: the one
    ``$ALPHAGATE_MLFLOW_URL`` names (``alphagate serve`` sets it for its worker), else the
    tracking store when it is a server; else a sentence saying how to get one."""
    import os

    from flows.serve import MLFLOW_URL_ENV
    from governance.registry.recorder import run_page

    if not validation_run:
        return "no validation report recorded"
    base = os.environ.get(MLFLOW_URL_ENV) or None
    if link := run_page(ws, validation_run, REPORT_ROUTE, base=base):
        return link
    return (
        f"no MLflow server known (`alphagate serve` starts one; or set {MLFLOW_URL_ENV}) for"
        f" run {validation_run}"
    )


def sign_only_command(ref: ModelRef, who: str, config_file: str | None, stage: str = "live") -> str:
    """The ``alphagate approve [--stage paper] ... --sign-only`` command ``who`` runs to
    sign an approval of the version ``ref`` for ``stage`` for the form: ``--model`` and
    ``--config`` named, so it signs under the tier and policy the form checks
    (governance/decisions/standing.py's hint)."""
    from governance.decisions.standing import APPROVE

    flag = " --stage paper" if stage == "paper" else ""
    cmd = APPROVE.format(stage=flag, name=ref.name, version=ref.version, who=who)
    return cmd + (f" --config {config_file}" if config_file else "") + " --sign-only"
