"""May the champion drive a portfolio now? The decision the rebalance asks before scoring.

:func:`model_may_drive` says no — and why — when there is no champion, the kill switch is
tripped, the registry disagrees with the ledger, the champion's latest validation is not
``pass`` (nor ``review`` with every warning accepted), an acceptance expired or a
revalidation fell due or an owned finding is overdue past the tier's escalation (per
policy), a signed rejection or retirement stands against it, or its evidence
was made under another tier than the one the adopted policy assigns the strategy now
(governance/policy/tiers.py). The rebalance then builds the tier's fallback portfolio
(``policy.tiers.<tier>.fallback``) and reports the reasons.
"""

from __future__ import annotations

from dataclasses import dataclass

from governance.audit.intact import ledger_problem
from governance.decisions import killswitch
from governance.decisions.promotion import (
    compute_state,
    facts_for,
    latest_validation,
    rejections,
)
from governance.findings.review import use_checks
from governance.ground.errors import Forbidden
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from governance.ground.workspace import Workspace
from governance.identity.users import load_registry
from governance.log.ledger import Ledger
from governance.log.readtime import VerifiedReader
from governance.policy.adoption import champion_policy_problem, policy_in_force
from governance.policy.backing import validation_tier_problem
from governance.policy.schema import Tier
from governance.policy.tiers import tier_at_use
from governance.registry.champion import champion
from governance.registry.retired import retirements
from governance.registry.store_reader import registry_reader
from governance.registry.versions import champion_version, registry_exists


@dataclass(frozen=True)
class DriveDecision:
    """May the champion drive, and with which model files.

    ``model_hash`` is the hash of the model files every counted approval signed, recomputed
    from the registry's files now; the loader recomputes it again from the files it loads
    (:func:`tasks.model.scoring.load_scoring_model`).
    """

    allowed: bool
    reasons: tuple[str, ...]
    champion: ModelRef | None  # the champion the signed approvals make, if any
    model_hash: str | None = None

    @property
    def version(self) -> str | None:
        """The champion's version as ``portfolio.published`` and ``--json`` record it."""
        return self.champion.version_text if self.champion else None


def model_may_drive(
    ws: Workspace, ledger: Ledger, model_name: str, tier: Tier | None = None
) -> tuple[bool, list[str], str | None]:
    """``(allowed, reasons, champion_version)`` for ``model_name``.

    Parameters
    ----------
    ws : Workspace
    ledger : Ledger
    model_name : str
        Registered model name (``model.name`` of the run config).
    tier : Tier, optional
        The policy tier in a sandbox workspace (what an expired finding acceptance or an
        overdue revalidation does, who must approve); default the policy's defaults.
        Elsewhere the tier the adopted policy assigns ``model_name`` now is used, whatever
        is passed.

    Returns
    -------
    allowed : bool
        True only when every condition holds; ``reasons`` is then empty.
    reasons : list of str
        One line per condition that fails.
    champion_version : str or None
        The champion the signed approvals make (governance/registry/champion.py), if any.

    Fails closed: an error while deciding (registry unreachable, unreadable ledger entry)
    is a refusal whose reason names the error, never a permission.
    """
    d = drive_decision(ws, ledger, model_name, tier)
    return d.allowed, list(d.reasons), d.version


def drive_decision(ws: Workspace, ledger: Ledger, model_name: str, tier=None) -> DriveDecision:
    """:func:`model_may_drive` with the model hash the loader must find (fails closed)."""
    try:
        return _decide(ws, ledger, model_name, tier or Tier())
    except Exception as exc:
        why = f"could not decide whether the model may drive: {type(exc).__name__}: {exc}"
        return DriveDecision(False, (why,), None)


def _decide(ws, ledger, model_name: str, tier) -> DriveDecision:
    problem = ledger_problem(ws, ledger)  # fail closed on a broken ledger, cheaply
    if problem:
        return DriveDecision(False, (problem,), None)
    # every entry read below is verified as it is read, each query read once (only reads)
    ledger = VerifiedReader(ledger, memo=True)
    reasons: list[str] = []
    registry = load_registry(ledger)
    in_force = None
    if not registry.sandbox:  # the tier in force now, from the adopted policy alone
        try:
            in_force = tier_at_use(ledger, model_name, registry)
            tier = in_force.tier
        except Forbidden as exc:
            reasons.append(str(exc))
    state = killswitch.effective(ledger, model_name)  # the workspace's, else the strategy's
    if state.tripped:
        reasons.append(f"kill switch tripped by {state.by} at {state.since}: {state.reason}")
    # the champion the signed approvals make, never a model.promoted entry (nor the alias)
    promoted = champion(ledger, model_name, registry, tier if registry.sandbox else None)
    if promoted is None:
        reasons.append(f"no champion: {model_name!r} has never been promoted")
        return DriveDecision(False, tuple(reasons), None)
    ref, version = promoted.ref, promoted.version
    gone = retirements(ledger, model_name, registry).get(version)
    if gone is not None:
        reasons.append(f"champion v{version} was retired by {gone.actor} (ledger seq {gone.seq})")
        return DriveDecision(False, tuple(reasons), ref)
    # the registry read once for this decision: each version's rows by one statement
    client = registry_reader(ws, once=True) if registry_exists(ws) else None
    alias = champion_version(client, model_name) if client is not None else None
    if ModelRef.recorded_number(alias) != version:
        reasons.append(
            f"registry drift: champion alias points at v{alias}, the ledger promoted v{version}"
        )
    validation = latest_validation(ledger, ref, registry)
    if validation is not None and in_force is not None:
        problem = validation_tier_problem(in_force, version, validation)
        if problem:
            reasons.append(problem)
    # findings, acceptances and revalidation cadence (governance/findings/review.py)
    reasons += use_checks(ledger, ref, validation, tier).blockers
    rejected = rejections(ledger, ref)
    if rejected:
        who = ", ".join(e.actor for e in rejected)
        reasons.append(f"champion v{version} was rejected by {who}")
    # what backs the promotion, re-checked now: the approvals it names (signatures, roles
    # at the time, four eyes, not the developer, the model files' hash they signed) against
    # the validation they were given on; the latest verdict under the policy in force
    facts = facts_for(ws, ledger, ref, registry, client)
    backed = _promoted_validation(ledger, registry, promoted)
    if backed is None:
        reasons.append(f"champion v{version}: its promotion names no valid signed approval")
    else:
        backing = compute_state(ws, ledger, facts, tier, backed, at_use=True)
        reasons += [f"champion v{version}: {r}" for r in backing.blocked if r not in reasons]
        if backing.missing:
            reasons.append(
                f"champion v{version} lacks valid signed approvals: {', '.join(backing.missing)}"
                " still needed (a promotion without them counts for nothing)"
            )
    if validation is not None and not registry.sandbox:
        problem = champion_policy_problem(policy_in_force(ledger, registry), validation.policy_hash)
        if problem:
            reasons.append(problem)
    if validation is not None and validation.validator == facts.developer:
        reasons.append(f"champion v{version} was validated by its own developer")
    return DriveDecision(not reasons, tuple(reasons), ref, facts.model_artifact_hash)


def _promoted_validation(ledger, registry, promoted):
    """The validation the promotion's approvals were given against (None: none valid)."""
    seqs = {a.get("seq") for a in promoted.approvals}
    ref = promoted.ref
    hashes = {
        (e.payload.get("signed") or e.payload.get("document") or {}).get("validation_entry_hash")
        for e in ledger.entries(action=Action.APPROVAL_GRANTED, subject=ref.subject)
        if e.seq in seqs
    }
    found = [latest_validation(ledger, ref, registry, h) for h in hashes if h]
    found = [f for f in found if f is not None]
    return found[0] if len(found) == 1 else None
