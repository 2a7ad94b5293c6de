"""Which versions are retired: read from the signed ``model.retired`` documents alone.

The act is :func:`governance.decisions.retirement.retire`; this is its one reader, low enough
in the rooms for the registry check (a retired champion has no ``champion`` alias) and every
decision to use. A retirement counts when its entry is a valid signed act of a risk officer
at the time, its signer did not develop the version (the developer is read from the
``model.trained`` entry of the run the document names), and its document id was not seen
before; the version retired is the one the signed document names, whatever the entry says.
"""

from __future__ import annotations

from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from governance.identity.duties import ROLES, Act, developer_of
from governance.identity.users import act_problems, load_registry
from governance.log.ledger import Ledger, LedgerEntry

__all__ = ["DOC_KIND", "retirements"]

DOC_KIND = "alphagate.retirement/1"


def retirements(ledger: Ledger, model_name: str, registry=None) -> dict[int, LedgerEntry]:
    """``{version number: entry}`` of the valid retirements of ``model_name`` (the first
    counts; a document whose version is no number retires nothing)."""
    registry = registry or load_registry(ledger)
    out: dict[int, LedgerEntry] = {}
    seen: set[str] = set()
    for e in ledger.entries(action=Action.MODEL_RETIRED):
        doc = (e.payload or {}).get("signed") or {}
        if doc.get("kind") != DOC_KIND or doc.get("action") != Action.MODEL_RETIRED:
            continue
        if doc.get("model_name") != model_name or doc.get("id") in seen:
            continue
        if act_problems(registry, e, ROLES[Act.RETIRE]):
            continue
        if e.actor == developer_of(ledger, doc.get("mlflow_run_id"), registry):
            continue
        version = ModelRef.recorded_number(doc.get("model_version"))
        if version is None:
            continue
        seen.add(doc.get("id"))
        out.setdefault(version, e)
    return out
