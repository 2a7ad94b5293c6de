"""What a Prefect-form answer on the approval gate counts for (no Prefect here).

The flow pauses for a form (flows/ui_form.py); the answer comes back here:

- with a detached signature made by ``alphagate approve ... --sign-only`` (pasted into the
  form's ``signature`` field), it is the approver's signed act: checked like an approval on
  the command line (signature by the registered key and role, over this version's model
  hash and latest validation, separation of duties) and recorded as ``approval.granted``;
- without one, Prefect OSS cannot prove *who* resumed the run (shared/DESIGN.md): it is
  recorded as a *declared* intent (``identity: "declared"``) that counts towards promotion
  only when the tier's ``approvals.allow_declared_ui_approvals`` is true (a sandbox's).

A refusal is recorded as ``approval.refused`` and returned (the flow goes on to its
fallback). No decision within the timeout is recorded as a rejection (``approval.rejected``,
user ``<timeout>``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import SimpleNamespace

from governance.decisions.approvals import approval_document, promote_if_complete, sign_decision
from governance.decisions.promotion import PromotionState, ValidationFacts, compute_state
from governance.ground.canonical import sha256_json
from governance.ground.vocabulary import Action, Subject
from governance.ground.workspace import Workspace
from governance.identity.duties import Act, duty_refusal
from governance.identity.users import find_user, load_registry
from governance.log.ledger import Ledger, LedgerEntry
from governance.registry.champion import declared_count
from governance.registry.versions import ModelFacts

TIMEOUT_USER = "<timeout>"


@dataclass(frozen=True)
class UIDecision:
    """What came back from the UI: ``approved``/``rejected``/``refused``/``timeout``."""

    outcome: str
    user: str
    reason: str
    entry: LedgerEntry
    counted: bool
    state: PromotionState
    promoted: LedgerEntry | None = None


def _refusal(ledger, facts: ModelFacts, user: str, state: PromotionState) -> str | None:
    """Why a declared decision by ``user`` is refused, or None (governance/identity/duties.py)."""
    known = find_user(ledger, user)
    return duty_refusal(
        Act.APPROVE, user, known.role if known else None, developer=facts.developer,
        already=[g["user"] for g in state.granted], subject=f"{facts.name} v{facts.version}",
    )  # fmt: skip


def record_declared_decision(
    ws: Workspace,
    ledger: Ledger,
    facts: ModelFacts,
    validation: ValidationFacts | None,
    *,
    approve: bool,
    user: str,
    reason: str,
    tier,
    tier_name: str,
    policy_hash: str,
    flow_run_id: str | None = None,
) -> tuple[str, LedgerEntry]:
    """Record an unsigned, declared UI decision (or its refusal); ``(outcome, entry)``."""
    subject = Subject.model(facts.name, facts.version)
    state = compute_state(ws, ledger, facts, tier, validation)
    refusal = None if user == TIMEOUT_USER else _refusal(ledger, facts, user, state)
    if approve and refusal is None and state.blocked:
        refusal = "ui approval: " + "; ".join(state.blocked)
    base = {
        "model_name": facts.name,
        "model_version": facts.version,
        "mlflow_run_id": facts.run_id,
        "user": user,
        "flow_run_id": flow_run_id,
    }
    if refusal is not None:
        entry = ledger.append(
            Action.APPROVAL_REFUSED, actor=user, role="declared", subject=subject,
            payload={**base, "decision": "approve" if approve else "reject", "refusal": refusal},
        )  # fmt: skip
        return "refused", entry
    known = find_user(ledger, user)
    role = known.role.value if known else "none"
    doc = approval_document(
        facts, validation, decision="approve" if approve else "reject", reason=reason,
        user=user, role=role, policy_hash=policy_hash, tier=tier_name,
    )  # fmt: skip
    entry = ledger.append(
        Action.APPROVAL_GRANTED if approve else Action.APPROVAL_REJECTED,
        actor=user,
        role=role,
        subject=subject,
        payload={
            **base,
            "decision": doc["decision"],
            "role": role,
            "identity": "declared",
            "policy_hash": policy_hash,
            "document": doc,
            "document_digest": sha256_json(doc),
        },
    )
    if user == TIMEOUT_USER:
        return "timeout", entry
    return ("approved" if approve else "rejected"), entry


#: The signed approval's facts copied into its ledger entry for readers that grep.
_FACTS = (
    "model_name",
    "model_version",
    "mlflow_run_id",
    "decision",
    "user",
    "role",
    "identity",
    "policy_hash",
)


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
        subject=Subject.model(facts.name, facts.version),
    )
    problems = act_problems(load_registry(ledger), probe, ROLES[Act.APPROVE])
    want = {
        "model_name": facts.name,
        "model_version": str(facts.version),
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
            entry = ledger.last(
                action=Action.APPROVAL_REFUSED, subject=Subject.model(facts.name, facts.version)
            )
            state = compute_state(ws, ledger, facts, tier, validation)
            return UIDecision("refused", entry.actor, "", entry, False, state)
        return UIDecision("approved", out.entry.actor, str(doc.get("reason") or ""), out.entry,
                          True, out.state, out.promoted)  # fmt: skip
    who = str(signed.get("signer") or "<none>")
    entry = ledger.append(
        Action.APPROVAL_REFUSED, actor=who, role="unknown",
        subject=Subject.model(facts.name, facts.version),
        payload={"model_name": facts.name, "model_version": facts.version, "user": who,
                 "flow_run_id": flow_run_id, "decision": "approve", "refusal": refusal},
    )  # fmt: skip
    state = compute_state(ws, ledger, facts, tier, validation)
    return UIDecision("refused", who, "", entry, False, state)


def record_form_decision(
    ws: Workspace,
    ledger: Ledger,
    facts: ModelFacts,
    validation: ValidationFacts | None,
    *,
    approve: bool,
    user: str,
    reason: str,
    signature: str,
    tier,
    tier_name: str,
    policy_hash: str,
    flow_run_id: str | None = None,
) -> tuple[str, LedgerEntry, bool]:
    """Record a form answer; ``(outcome, entry, signed)`` (see the module docstring)."""
    if not (signature or "").strip():
        outcome, entry = record_declared_decision(
            ws, ledger, facts, validation, approve=approve, user=user, reason=reason,
            tier=tier, tier_name=tier_name, policy_hash=policy_hash, flow_run_id=flow_run_id,
        )  # fmt: skip
        return outcome, entry, False
    subject = Subject.model(facts.name, facts.version)
    state = compute_state(ws, ledger, facts, tier, validation)
    try:
        signed = json.loads(signature)
        signed = signed if isinstance(signed, dict) else {}
    except ValueError:
        signed = {}
    refusal = (
        _signed_refusal(ledger, facts, validation, signed, Action.APPROVAL_GRANTED)
        or _refusal(ledger, facts, signed["signer"], state)
        if approve else "ui approval: a signature signs an approval; reject with `alphagate reject`"
    )  # fmt: skip
    if refusal is None and state.blocked:
        refusal = "ui approval: " + "; ".join(state.blocked)
    who = signed.get("signer") or user or "<none>"
    base = {"model_name": facts.name, "model_version": facts.version, "user": who,
            "flow_run_id": flow_run_id}  # fmt: skip
    if refusal is not None:
        entry = ledger.append(
            Action.APPROVAL_REFUSED, actor=who, role="unknown", subject=subject,
            payload={**base, "decision": "approve", "refusal": refusal},
        )  # fmt: skip
        return "refused", entry, True
    doc = signed["signed"]  # the facts recorded are the signed document's (governance/log/bound.py)
    entry = ledger.append(
        Action.APPROVAL_GRANTED, actor=who, role=doc["signer_role"], subject=subject,
        payload={**{k: doc[k] for k in _FACTS if k in doc}, **signed},
    )  # fmt: skip
    return "approved", entry, True


def settle_form_answer(
    ws: Workspace,
    ledger: Ledger,
    facts: ModelFacts,
    validation: ValidationFacts | None,
    *,
    promote: bool = True,
    **answer,
) -> UIDecision:
    """Record a form answer (:func:`record_form_decision`, same keywords) and what it counts
    for: an approval counts when it is signed, or declared in a sandbox whose tier allows
    declared UI approvals (:func:`governance.registry.champion.declared_count`); with
    ``promote``, a counted approval that completes the tier's approvals promotes the version
    (:func:`governance.decisions.approvals.promote_if_complete`)."""
    tier, policy_hash = answer["tier"], answer["policy_hash"]
    outcome, entry, signed = record_form_decision(ws, ledger, facts, validation, **answer)
    counted = outcome == "approved" and (signed or declared_count(load_registry(ledger), tier))
    promoted = None
    if counted and promote:
        state, promoted, _ = promote_if_complete(ws, ledger, facts, tier, policy_hash, validation)
    else:
        state = compute_state(ws, ledger, facts, tier, validation)
    user = entry.actor if signed else answer["user"]
    return UIDecision(outcome, user, answer["reason"], entry, counted, state, promoted)
