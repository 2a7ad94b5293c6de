"""The human decisions on a model version, and the switch that governs it, as people read them.

One reader of the ``approval.granted`` / ``approval.rejected`` entries for every place that
shows them: the MLflow version page (:mod:`governance.views.mlflow_pages`), the validation
report's sign-off block, and the Prefect gate artifacts.
"""

from __future__ import annotations

from governance.decisions import killswitch
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from governance.log.ledger import Ledger

__all__ = ["decision_rows", "switch_text"]


def decision_rows(ledger: Ledger, ref: ModelRef) -> list[dict]:
    """Every approval and rejection of the version ``ref``, oldest first.

    Each row: ``{seq, decision (approved|rejected), user, role, at, reason, identity,
    signature_sha256}``; ``signature_sha256`` is the digest the signer signed
    (``signed_digest``), empty for a declared (unsigned) UI approval.
    """
    subject = ref.subject
    entries = [*ledger.entries(action=Action.APPROVAL_GRANTED, subject=subject),
               *ledger.entries(action=Action.APPROVAL_REJECTED, subject=subject)]  # fmt: skip
    rows = []
    for e in sorted(entries, key=lambda e: e.seq):
        p = e.payload
        doc = p.get("signed") or p.get("document") or {}
        rows.append(
            {
                "seq": e.seq,
                "decision": "approved" if e.action == Action.APPROVAL_GRANTED else "rejected",
                "user": p.get("user") or e.actor,
                "role": p.get("role") or e.role,
                "at": e.ts,
                "reason": doc.get("reason") or p.get("reason") or "",
                "identity": p.get("identity", "signed"),
                "signature_sha256": p.get("signed_digest") or "",
            }
        )
    return rows


def switch_text(ledger, strategy: str) -> str:
    """The switch that governs ``strategy`` in words, for every view: ``armed``, or
    ``tripped by WHO at WHEN: WHY`` (``tripped (strategy) ...`` when only its own is)."""
    ks = killswitch.effective(ledger, strategy)
    if not ks.tripped:
        return "armed"
    own = " (strategy)" if not killswitch.status(ledger).tripped else ""
    return f"{ks.state}{own} by {ks.by} at {ks.since}: {ks.reason}"
