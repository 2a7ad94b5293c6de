"""The run summary: what `alphagate run|rebalance --json` prints, and its human rendering.

The JSON fields are a contract (shared/DESIGN.md, "Command-line contract"): ``status``,
``stage``, ``reasons``, ``flow_run_id``, ``mlflow_run_id``, ``model_version``, ``validation``,
``portfolio``, ``ledger_head``. Other fields may be added; none may be renamed. ``sandbox``
says whether the workspace is a sandbox (governance/identity/sandbox.py); so does the first line of
the human rendering.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Any

from governance.ground.canonical import to_jsonable
from governance.ground.errors import Exit


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
    sandbox: bool = False
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    #: The process's CPU seconds (all threads) during each stage, beside its wall time.
    cpu_timings: dict[str, float] = field(default_factory=dict)

    def note(self, stage: str, **info: Any) -> None:
        """Record what a stage did (shown in the human summary, kept in the JSON)."""
        self.stages.setdefault(stage, {}).update(info)

    def halt(self, stage: str, reasons: list[str]) -> None:
        self.status = "halted"
        self.stage = stage
        self.reasons = list(reasons)

    @property
    def exit_code(self) -> int:
        return Exit.DONE if self.status == "completed" else Exit.HALTED

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
                "sandbox": self.sandbox,
                "stages": self.stages,
                "timings": self.timings,
                "cpu_timings": self.cpu_timings,
            }
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunSummary:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


#: The human summary fits a 100-column terminal; longer lines wrap under their label.
WIDTH = 100
_LABEL = 14
_INDENT = " " * (_LABEL + 3)


def capped(lines: list[str], limit: int, where: str) -> list[str]:
    """The first ``limit`` lines and, when some are left out, ``+N more — see <where>``:
    never a silent cut."""
    lines = list(lines)
    if len(lines) <= limit:
        return lines
    return [*lines[:limit], f"+{len(lines) - limit} more — see {where}"]


def _wrap(text: str, first: str, rest: str, width: int) -> list[str]:
    return textwrap.wrap(
        text, width=width, initial_indent=first, subsequent_indent=rest,
        break_on_hyphens=False,
    ) or [first.rstrip()]  # fmt: skip


def halt_line(summary: RunSummary) -> str:
    """``alphagate KIND: halted at STAGE: first reason (+N more)``: one line, escaped."""
    from governance.ground.text import printable

    reasons = summary.reasons or ["no reason recorded"]
    more = f" (+{len(reasons) - 1} more)" if len(reasons) > 1 else ""
    return f"alphagate {summary.kind}: halted at {summary.stage}: {printable(reasons[0])}{more}"


def render(summary: RunSummary, width: int = WIDTH) -> str:
    """A readable summary for people, one screen of at most ``width`` columns (a published
    book's weights and trades paths printed whole, never cut); free text
    (reasons, headlines) printed escaped (:func:`governance.ground.text.printable`)."""
    from governance.ground.text import printable

    head = f"alphagate {summary.kind}: {summary.status.upper()}"
    if summary.status != "completed":
        head += f" at {summary.stage}"
    if summary.sandbox:
        from governance.identity.sandbox import NOT_FOR_PRODUCTION

        head += f" — SANDBOX workspace ({NOT_FOR_PRODUCTION})"
    lines = [head]
    for r in capped(summary.reasons, 5, "`alphagate ledger show`"):
        lines += _wrap(printable(r), "    - ", "      ", width)
    for stage, info in summary.stages.items():
        lines += _wrap(printable(info.get("headline", "")), f"  {stage:<{_LABEL}} ", _INDENT, width)
        for d in info.get("details", []):
            if str(d).startswith("alphagate "):  # a command, whole: it is pasted as printed
                lines.append(_INDENT + printable(d))
            else:
                lines += _wrap(printable(d), _INDENT, _INDENT + "  ", width)
    book = summary.portfolio or {}
    for label, key in (("weights", "weights_path"), ("trades", "trades_path")):
        if book.get(key):  # whole, never wrapped: a path cut in two cannot be pasted
            lines.append(f"  {label:<{_LABEL}} {book[key]}")
    head_ = summary.ledger_head
    if head_.get("hash"):
        lines.append(f"  {'ledger':<{_LABEL}} head #{head_['seq']} {head_['hash'][:16]}")
    if summary.flow_run_id:
        lines.append(f"  {'flow run':<{_LABEL}} {summary.flow_run_id}")
    return "\n".join(lines)
