"""Retirement of a model version: a signed decision, the end of its life in use.

A risk officer who is not the version's developer signs a retirement document
(:func:`retirement_document`: the action, the model and the hash of its files, the policy in
force, the ledger head the decision answers, a unique id and the reason) and the ledger
records it as ``model.retired``. From then on the version never drives a book
(``governance.decisions.model_use`` falls back with the reason), is never approved again
(``governance.decisions.approvals.approve`` refuses, recorded), and the MLflow registry shows
it: tag ``status=retired`` and, if it was the champion, no ``champion`` alias.

The facts come from the signed document only (``governance.registry.retired.retirements``): the version retired is
the one the document names, whatever the entry's subject says; an entry that is not a valid
signed act of a risk officer at the time, or whose signer developed the version, retires
nothing; a document id seen before counts once. Every refusal is recorded as
``retirement.refused`` and raises :class:`Forbidden` (exit 4).
"""

from __future__ import annotations

import uuid

from governance.decisions.promotion import facts_for
from governance.ground.errors import Forbidden, InputError
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from governance.ground.workspace import Workspace
from governance.identity.duties import Act, duty_refusal
from governance.identity.signing import Signer, append_signed
from governance.log.ledger import Ledger, LedgerEntry
from governance.registry.recorder import mlflow_client
from governance.registry.retired import DOC_KIND, retirements
from governance.registry.versions import CHAMPION, champion_version, registry_exists

__all__ = ["retire", "retirement_document", "retirements"]


def retirement_document(facts, *, policy_hash: str, head: tuple[int, str], reason: str) -> dict:
    """What a retiring officer signs: action, subject, model files, policy, ledger state, id."""
    return {
        "kind": DOC_KIND,
        "action": Action.MODEL_RETIRED,
        "model_name": facts.name,
        "model_version": facts.ref.version_text,
        "model_artifact_hash": facts.model_artifact_hash,
        "mlflow_run_id": facts.run_id,
        "policy_hash": policy_hash,
        "answers": {"seq": head[0], "hash": head[1]},
        "id": uuid.uuid4().hex,
        "reason": reason,
    }


def _refuse(ledger: Ledger, facts, signer: Signer, message: str) -> Forbidden:
    ledger.append(
        Action.RETIREMENT_REFUSED,
        actor=signer.name,
        role=signer.role,
        subject=facts.ref.subject,
        payload={
            "model_name": facts.name,
            "model_version": facts.ref.version_text,
            "refusal": message,
        },
    )
    return Forbidden(message)


def retire(
    ws: Workspace,
    ledger: Ledger,
    ref: ModelRef,
    signer: Signer,
    reason: str,
    *,
    policy_hash: str,
) -> LedgerEntry:
    """Sign and record the retirement of the version ``ref``; update the registry.

    Raises
    ------
    InputError
        No reason, an unknown version, or a version already retired (exit 2).
    Forbidden
        Not a risk officer, or the version's developer (recorded; exit 4).
    """
    if not reason or not reason.strip():
        raise InputError("retire: --reason: required")
    facts = facts_for(ws, ledger, ref)
    refusal = duty_refusal(
        Act.RETIRE, signer.name, signer.role, developer=facts.developer,
        subject=f"{facts.name} v{facts.version}",
    )  # fmt: skip
    if refusal:
        raise _refuse(ledger, facts, signer, refusal)
    if facts.version in retirements(ledger, facts.name):
        raise InputError(f"--model-version: {facts.name} v{facts.version} is already retired")
    doc = retirement_document(facts, policy_hash=policy_hash, head=ledger.head(), reason=reason)
    entry = append_signed(
        ledger,
        signer,
        Action.MODEL_RETIRED,
        subject=facts.ref.subject,
        payload=doc,
    )
    if registry_exists(ws):
        client = mlflow_client(ws)
        tags = {"status": "retired", "retired_by_seq": str(entry.seq), "retired_by": signer.name}
        for key, value in tags.items():
            client.set_model_version_tag(facts.name, facts.ref.version_text, key, value)
        if ModelRef.recorded_number(champion_version(client, facts.name)) == facts.version:
            client.delete_registered_model_alias(facts.name, CHAMPION)
    return entry
