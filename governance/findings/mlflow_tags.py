"""The findings register as the MLflow model version shows it: tags and a description line.

Tags ``findings.open`` and ``findings.accepted`` (ids, comma-separated; accepted ones with
their date) and one description line linking the validation report, whose findings table
carries the same ids. Written by the validation as it records its verdict, and with the
version's view after every act (governance/views/mlflow_pages.py: an acceptance's, by the
command's detached refresher); the ledger stays the record (these are a view of it).
"""

from __future__ import annotations

from governance.findings.register import Status, load_register
from governance.findings.review import blocking
from governance.ground.refs import ModelRef
from governance.registry.recorder import mlflow_client

_LINE = "Findings: "


def findings_line(records, link: str | None) -> str:
    """``Findings: open A (warning shap_sign); accepted B until D — [report](link)``."""
    open_ = [f"{r.id} ({r.severity.value} {r.check})" for r in records if r.status != "accepted"]
    done = [f"{r.id} until {r.acceptance.until}" for r in records if r.status is Status.ACCEPTED]
    text = f"{_LINE}open {', '.join(open_) or 'none'}; accepted {', '.join(done) or 'none'}"
    return f"{text} — [report]({link})" if link else text


def findings_tags(records) -> dict[str, str]:
    """``findings.open`` (ids) and ``findings.accepted`` (``id@until``), ``none`` when empty."""
    opened = ",".join(r.id for r in records if r.status is not Status.ACCEPTED)
    accepted = ",".join(
        f"{r.id}@{r.acceptance.until}" for r in records if r.status is Status.ACCEPTED
    )
    return {"findings.open": opened or "none", "findings.accepted": accepted or "none"}


def sync_findings(ws, ledger, ref: ModelRef, validation_seq: int) -> None:
    """Set the version's findings tags and description line from the register."""
    name, version = ref.mlflow  # as MLflow's client takes them
    client = mlflow_client(ws)
    records = blocking(load_register(ledger), validation_seq)
    mv = client.get_model_version(name, version)
    tags = dict(mv.tags or {})
    run_id = tags.get("validation.run_id")
    link = None
    if run_id:
        exp = client.get_run(run_id).info.experiment_id
        link = f"#/experiments/{exp}/runs/{run_id}/artifacts/validation/report.html"
    for key, value in findings_tags(records).items():
        client.set_model_version_tag(name, version, key, value)
    kept = [ln for ln in (mv.description or "").split("\n\n") if not ln.startswith(_LINE)]
    desc = "\n\n".join(x for x in [*kept, findings_line(records, link)] if x.strip())
    client.update_model_version(name, version, description=desc)
