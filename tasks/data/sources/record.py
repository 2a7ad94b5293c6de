"""Feature sources in a governed run: read, fingerprint, gate and record them.

:func:`read_sources` reads every configured source before anything is recorded (a bad
contract or value is exit 2 with nothing written) and gives the dataset fingerprint the run
is keyed by, so a changed source or contract version is a new run, never a reuse.
:func:`gate_sources` records one ``data.ingested`` per source (its fingerprint, contract
version and owner) and the sources' ``gate.data_quality`` decision through the gate seam:
``halt`` with one line per critical failure (exit 3), warnings and every source's lineage
in the evidence.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action, Subject
from tasks.data.sources.gate import check_source
from tasks.data.sources.source import (
    SourceConfig,
    SourceTable,
    dataset_fingerprint,
    known_digest,
    load_source,
)

if TYPE_CHECKING:
    from governance.decisions.context import RunContext

__all__ = [
    "feature_declarations",
    "flag_contract_changes",
    "gate_sources",
    "joined_features",
    "live_lineage",
    "read_sources",
    "training_lineage",
]


def read_sources(
    cfgs: Sequence[SourceConfig], base_dir: str | Path, market_fingerprint: str
) -> tuple[tuple[SourceTable, ...], str]:
    """The sources read and typed, and the dataset fingerprint covering them."""
    tables = tuple(load_source(c, base_dir) for c in cfgs)
    return tables, dataset_fingerprint(market_fingerprint, list(tables))


def gate_sources(
    ctx: RunContext, tables: Sequence[SourceTable], universe: list[str], as_of: dt.date,
    fingerprint: str, results: Sequence | None = None,
) -> None:  # fmt: skip
    """Record each source and the sources' gate decision; raise ``GateHalt`` on a halt.

    ``results``: each table's :func:`check_source` already run (``alphagate data check``
    prints them), else run here."""
    from governance.decisions import decide

    if results is None:
        results = [check_source(t, universe, as_of) for t in tables]
    for t, r in zip(tables, results, strict=True):
        ctx.record(
            Action.DATA_INGESTED,
            subject=Subject.data(t.fingerprint),
            payload={**t.lineage(), "rows": len(t.rows), "ok": r.ok, "warnings": list(r.warnings)},
            # the contract itself, so an evidence pack carries what the model depended on
            artifacts={"contract.yaml": _stored_contract(ctx, t)},
        )
    critical = [line for r in results for line in r.critical_failures]
    flag_contract_changes(ctx.ledger, tables)  # before the gate decides: a halt stops the run
    decide.data_sources(
        ctx, critical, Subject.data(fingerprint),
        sources=[r.summary() for r in results], as_of=as_of.isoformat(),
    )  # fmt: skip


def _stored_contract(ctx: RunContext, table: SourceTable) -> str:
    """The contract file in the content-addressed store; its address is its SHA-256, the
    ``contract_sha256`` of the lineage (an edit after it was read is exit 2)."""
    from governance.ground.errors import InputError

    sha = ctx.store.put_bytes(Path(table.contract.path).read_bytes())
    if sha != table.contract.sha256:
        raise InputError(f"source {table.name}: {table.contract.path}: changed while being read")
    return sha


def _trained_payload(ledger, ref: ModelRef) -> dict:
    registered = ledger.last(action=Action.MODEL_REGISTERED, subject=ref.subject)
    seq = None if registered is None else registered.payload.get("trained_seq")
    if seq is None:
        return {}
    (entry,) = ledger.entries_between(int(seq), int(seq))
    return dict(entry.payload)


def flag_contract_changes(ledger, tables: Sequence[SourceTable]) -> list:
    """A finding on every champion trained on a source whose contract changed since.

    The champion's ``model.trained`` entry names each source's contract version and hash;
    a source read now under another version, or the same version with other bytes (an
    edited contract), raises ``source_contract_changed`` about the source on that version,
    once while it stands (governance/findings/escalation.py): its training and validation
    no longer describe the data it will score.
    """
    from governance.findings.escalation import finding, raise_once
    from governance.registry.versions import champions

    now = {t.name: t.contract for t in tables}
    raised = []
    for promoted in champions(ledger).values():  # what the signed approvals make
        found = []
        for src in _trained_payload(ledger, promoted.ref).get("sources") or []:
            c = now.get(src.get("source"))
            if c is None or (c.version, c.sha256) == (
                src.get("version"),
                src.get("contract_sha256"),
            ):
                continue
            edited = (
                " (same version number, edited contract)" if c.version == src["version"] else ""
            )
            found.append(finding(
                "source_contract_changed",
                f"source {src['source']}: contract {src.get('contract')} {src['version']} -> "
                f"{c.version}{edited}, owner {c.owner}: v{promoted.version} was trained and validated on "
                f"{src['version']}",
                about=str(src["source"]),
            ))  # fmt: skip
        if found:
            evidence = {"sources": [t.lineage() for t in tables]}
            raised += raise_once(ledger, promoted.ref, found, origin="source", evidence=evidence)
    return raised


def joined_features(tables: Sequence[SourceTable], panel) -> dict:
    """Every source's features on the panel's dates and assets, joined as of publication."""
    from tasks.data.sources.source import source_features

    out: dict = {}
    for t in tables:
        out.update(source_features(t, panel.close.index, panel.close.columns))
    return out


def feature_declarations(tables: Sequence[SourceTable]) -> dict[str, dict]:
    """``{<source>_<column>: {name, description, expected_sign, unit, source, owner,
    contract_version}}``: what ``features.json`` and the model card say of source features."""
    out = {}
    for t in tables:
        cols = {c.name: c for c in t.contract.columns}
        for name in t.feature_columns():
            c = cols[name]
            feature = f"{t.name}_{name}"
            out[feature] = {
                "name": feature,
                "description": f"{c.description} (source {t.name}, owner {t.contract.owner})",
                "expected_sign": c.expected_sign,
                "unit": c.unit,
                "source": t.name,
                "owner": t.contract.owner,
                "contract_version": t.contract.version,
            }
    return out


def training_lineage(tables: Sequence[SourceTable], cutoff) -> tuple[dict, ...]:
    """What training records of each source: its lineage, the digest of its history known
    on ``cutoff`` (the sealed data's last date: :func:`known_digest`) and its features'
    declarations. Validation carries the first two into the operating domain
    (validation/boundaries.py)."""
    day = pd.Timestamp(cutoff).date().isoformat()
    return tuple(
        {**t.lineage(), "known_by": day, "known_digest": known_digest(t, day),
         "features": list(feature_declarations([t]).values())}
        for t in tables
    )  # fmt: skip


def live_lineage(tables: Sequence[SourceTable], validated: Sequence) -> list[dict]:
    """Each source read now, as the operating domain's sources are held to it: its lineage
    and, for a source the domain names, the digest of its history known on the domain's
    ``known_by`` (the same rows, read from today's file)."""
    cutoffs = {s.get("source"): s.get("known_by") for s in validated or ()}
    out = []
    for t in tables:
        row = t.lineage()
        if cutoffs.get(t.name):
            row["known_digest"] = known_digest(t, cutoffs[t.name])
        out.append(row)
    return out
