"""A model version's verdict: its latest *valid* ``validation.completed`` entry.

The one reader of verdicts for every decision (promotion, use, finding acceptances, status):
only a signed act of a user who was a validator at the time counts
(governance/identity/signed_acts.py), its facts taken from the signed document (the entry's
unsigned copies must agree with it: governance/log/bound.py), each document once. Pass a
:class:`governance.log.readtime.VerifiedReader` to have every entry verified as it is read.
"""

from __future__ import annotations

from dataclasses import dataclass

from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from governance.identity.duties import ROLES, Act
from governance.identity.users import Registry, load_registry, valid_acts
from governance.log.ledger import Ledger

#: The report a ``validation.completed`` entry names (validation/run.py records it so).
REPORT_ARTIFACT = "report.json"


@dataclass(frozen=True)
class ValidationFacts:
    """The latest ``validation.completed`` entry of a version: verdict and digests."""

    verdict: str
    report_hash: str
    entry_hash: str
    seq: int
    validator: str | None = None
    policy_hash: str | None = None
    tier: str | None = None  # the policy tier it was made under (governance/policy/tiers.py)
    run_id: str | None = None  # the MLflow run of the validated model (its signed model_run_id)


def latest_validation(
    ledger: Ledger,
    ref: ModelRef,
    registry: Registry | None = None,
    entry_hash: str | None = None,
) -> ValidationFacts | None:
    """The latest *valid* ``validation.completed`` of the version ``ref`` (or the one
    whose entry hash is ``entry_hash``), or None.

    Only a signed act of a user who was a validator at the time is a verdict
    (governance/identity/signed_acts.py): a forged, unsigned entry is skipped.
    """
    registry = registry or load_registry(ledger)
    entries = ledger.entries(action=Action.VALIDATION_COMPLETED, subject=ref.subject)
    valid = [
        e
        for e in valid_acts(registry, entries, ROLES[Act.VALIDATE])
        if entry_hash in (None, e.entry_hash)
        and REPORT_ARTIFACT in e.artifacts  # a verdict without its report decides nothing
    ]
    if not valid:
        return None
    entry = valid[-1]
    p = entry.payload
    return ValidationFacts(
        str(p.get("verdict")).lower(), entry.artifacts[REPORT_ARTIFACT], entry.entry_hash, entry.seq,
        validator=entry.actor, policy_hash=p.get("policy_hash"), tier=p.get("policy_tier"),
        run_id=p.get("model_run_id"),
    )  # fmt: skip
