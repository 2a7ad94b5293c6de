"""The run summary: what `alphagate run|rebalance --json` prints, and its human rendering.

The JSON fields are a contract (shared/DESIGN.md, "Command-line contract"): ``status``,
``stage``, ``reasons``, ``flow_run_id``, ``mlflow_run_id``, ``model_version``, ``validation``,
``portfolio``, ``ledger_head``. Other fields may be added; none may be renamed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from governance.canonical import to_jsonable


@dataclass
class RunSummary:
    """Accumulates the outcome of one flow run, stage by stage."""

    kind: str = "pipeline"
    status: str = "completed"
    stage: str | None = None
    reasons: list[str] = field(default_factory=list)
    flow_run_id: str | None = None
    mlflow_run_id: str | None = None
    model_name: str | None = None
    model_version: int | None = None
    validation: dict[str, Any] | None = None
    portfolio: dict[str, Any] | None = None
    ledger_head: dict[str, Any] = field(default_factory=lambda: {"seq": 0, "hash": None})
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def note(self, stage: str, **info: Any) -> None:
        """Record what a stage did (shown in the human summary, kept in the JSON)."""
        self.stages.setdefault(stage, {}).update(info)

    def halt(self, stage: str, reasons: list[str]) -> None:
        self.status = "halted"
        self.stage = stage
        self.reasons = list(reasons)

    @property
    def exit_code(self) -> int:
        return 0 if self.status == "completed" else 3

    def to_json(self) -> dict[str, Any]:
        return to_jsonable(
            {
                "kind": self.kind,
                "status": self.status,
                "stage": self.stage,
                "reasons": self.reasons,
                "flow_run_id": self.flow_run_id,
                "mlflow_run_id": self.mlflow_run_id,
                "model_name": self.model_name,
                "model_version": self.model_version,
                "validation": self.validation,
                "portfolio": self.portfolio,
                "ledger_head": self.ledger_head,
                "stages": self.stages,
                "timings": self.timings,
            }
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunSummary:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def render(summary: RunSummary) -> str:
    """A readable multi-line summary for people (the JSON is for tools); free text (reasons,
    headlines) printed escaped (:func:`governance.text.printable`)."""
    from governance.text import printable

    lines = [f"alphagate {summary.kind}: {summary.status.upper()}"]
    if summary.status != "completed":
        lines.append(f"  halted at {summary.stage}:")
        lines += [f"    - {printable(r)}" for r in summary.reasons]
    for stage, info in summary.stages.items():
        headline = printable(info.get("headline", ""))
        lines.append(f"  {stage:<14} {headline}")
        lines += [f"  {'':<14}   {printable(d)}" for d in info.get("details", [])]
    head = summary.ledger_head
    if head.get("hash"):
        lines.append(f"  {'ledger':<14} head #{head['seq']} {head['hash'][:16]}")
    if summary.flow_run_id:
        lines.append(f"  {'flow run':<14} {summary.flow_run_id}")
    return "\n".join(lines)
