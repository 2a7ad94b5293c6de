"""A signed approval pasted into a Prefect review form: what it counts for (no Prefect here).

The review flow (flows/review.py) pauses for a form whose one field takes the line
``alphagate approve [--stage paper] ... --sign-only`` printed: the approver's approval
document of this version for a stage, signed by their own key (:func:`detached_approval`).
:func:`settle_signed` records it as the approving command would: the signature is checked
against the signer's registered key, role and the stage's act, then the command's own
function (``approve`` with the graduation gate, or ``approve_for_paper``) runs with a
:class:`Presigned` signer, so every check of ``alphagate approve`` applies, and the pasted
signature is recorded only if it signs the very document that function built. A refusal is
recorded as ``approval.refused``.

Prefect OSS cannot prove who resumed a run (shared/DESIGN.md), so an unsigned answer counts
for nothing: the form takes signed lines only. (Declared, unsigned UI approvals recorded by
earlier versions are still read: governance/registry/champion.py ``declared_count``.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import SimpleNamespace

from governance.decisions.approvals import sign_decision
from governance.decisions.promotion import PromotionState, compute_state
from governance.ground.vocabulary import Action
from governance.identity.duties import Act
from governance.log.ledger import Ledger, LedgerEntry
from governance.registry.versions import ModelFacts


@dataclass(frozen=True)
class UIDecision:
    """What a signed form answer came to: ``approved`` or ``refused``."""

    outcome: str
    user: str
    reason: str
    entry: LedgerEntry
    counted: bool
    state: PromotionState
    promoted: LedgerEntry | None = None


def detached_approval(
    ledger, facts: ModelFacts, validation, signer, *, reason, policy_hash, tier_name,
    stage: str = "live", graduation: dict | None = None,
):  # fmt: skip
    """The one-line JSON ``alphagate approve [--stage paper] --sign-only`` prints: the signed
    approval of this version for ``stage`` (``approval.paper`` or ``approval.granted``, the
    document the approving command would record: :func:`sign_decision`), recorded nowhere."""
    _, _, signed = sign_decision(
        ledger, facts, validation, signer=signer, decision="approve", reason=reason,
        policy_hash=policy_hash, tier_name=tier_name, action=STAGE_ACTS[stage],
        graduation=graduation,
    )  # fmt: skip
    return json.dumps(signed, sort_keys=True, separators=(",", ":"))


def _signed_refusal(ledger, facts, validation, signed: dict, action: str) -> str | None:
    """Why a signed line is not an approval of this version recordable as ``action``
    (``approval.granted`` or ``approval.paper``), or None: the signature by the signer's
    registered key, the signer's role, the document bound to ``action`` and this version."""
    from governance.identity.duties import ROLES
    from governance.identity.users import act_problems, load_registry

    doc = signed.get("signed") if isinstance(signed.get("signed"), dict) else {}
    probe = SimpleNamespace(
        seq=ledger.head()[0] + 1,
        actor=signed.get("signer"),
        action=action,
        payload=signed,
        role=doc.get("signer_role"),
        subject=facts.ref.subject,
    )
    problems = act_problems(load_registry(ledger), probe, ROLES[Act.APPROVE])
    want = {
        "model_name": facts.name,
        "model_version": facts.ref.version_text,
        "model_artifact_hash": facts.model_artifact_hash,
        "validation_entry_hash": validation.entry_hash if validation else None,
        "decision": "approve",
    }
    problems += [
        f"it signs {k} {doc.get(k)!r}, not {v!r}" for k, v in want.items() if doc.get(k) != v
    ]
    if problems:
        return "ui approval: the signature does not hold: " + "; ".join(problems)
    return None


#: The action a signed approval for each stage is recorded as.
STAGE_ACTS = {"live": Action.APPROVAL_GRANTED, "paper": Action.APPROVAL_PAPER}
#: Fields of a signed approval that may differ from the document the approving command
#: builds when it is recorded: when it was signed and the approver's own words.
_SIGNER_OWN = frozenset({"time", "reason"})


@dataclass(frozen=True)
class Presigned:
    """The signer of a signed line pasted into a Prefect form: the approving functions
    (:func:`governance.decisions.approvals.approve`, ``approve_for_paper``) run their
    every check with it, and where they would sign it hands back the pasted signature, only
    if it signs the very document they built (action, subject, version, model hash,
    validation, tier, policy, accepted findings, graduation); else the refusal is recorded."""

    ledger: Ledger
    facts: ModelFacts
    blob: dict

    @property
    def name(self) -> str:
        return self.blob["signer"]

    @property
    def role(self) -> str:
        return self.blob["signed"]["signer_role"]

    def signed_payload(self, act: str, document: dict, *, subject: str) -> dict:
        from governance.decisions.approvals import _refuse
        from governance.ground.canonical import canonical_json, to_jsonable

        doc = self.blob["signed"]
        want = {**{k: v for k, v in document.items() if k not in _SIGNER_OWN},
                "act": act, "subject": subject}  # fmt: skip
        wrong = [
            f"it signs {k} {doc.get(k)!r}, not {v!r}" for k, v in to_jsonable(want).items()
            if canonical_json(doc.get(k)) != canonical_json(v)
        ]  # fmt: skip
        if wrong:
            message = "ui approval: the signature does not hold: " + "; ".join(wrong)
            raise _refuse(self.ledger, self.facts, self, "approve", message)
        return self.blob


def settle_signed(
    ws, ledger, facts, validation, line: str, *, stage: str, tier, act, flow_run_id=None
):  # fmt: skip
    """Record the signed line ``approve [--stage paper] --sign-only`` printed, as the
    approving command would record the approval for ``stage``: ``act(signer, reason)`` runs
    its function (``approve`` with the graduation gate, or ``approve_for_paper``) with a
    :class:`Presigned` signer, so every check is that command's (roles, four eyes, a
    retired or rejected version, paper days, graduation, tier binding). The signature is
    checked first (the signer's registered key and role, the stage's action, this version).
    A refusal is recorded as ``approval.refused``; returns a :class:`UIDecision`."""
    from governance.ground.errors import Forbidden, GateHalt, TamperDetected

    try:
        signed = json.loads(line)
        signed = signed if isinstance(signed, dict) else {}
    except ValueError:
        signed = {}
    doc = signed.get("signed") if isinstance(signed.get("signed"), dict) else {}
    refusal = _signed_refusal(ledger, facts, validation, signed, STAGE_ACTS[stage])
    if refusal is None:
        try:
            out = act(Presigned(ledger, facts, signed), str(doc.get("reason") or ""))
        except (Forbidden, GateHalt, TamperDetected):  # recorded by the approving function
            entry = ledger.last(action=Action.APPROVAL_REFUSED, subject=facts.ref.subject)
            state = compute_state(ws, ledger, facts, tier, validation)
            return UIDecision("refused", entry.actor, "", entry, False, state)
        return UIDecision("approved", out.entry.actor, str(doc.get("reason") or ""), out.entry,
                          True, out.state, out.promoted)  # fmt: skip
    who = str(signed.get("signer") or "<none>")
    entry = ledger.append(
        Action.APPROVAL_REFUSED, actor=who, role="unknown",
        subject=facts.ref.subject,
        payload={"model_name": facts.name, "model_version": facts.ref.version_text, "user": who,
                 "flow_run_id": flow_run_id, "decision": "approve", "refusal": refusal},
    )  # fmt: skip
    state = compute_state(ws, ledger, facts, tier, validation)
    return UIDecision("refused", who, "", entry, False, state)
