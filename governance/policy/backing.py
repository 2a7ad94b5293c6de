"""What must back a version before it is promoted or drives a portfolio.

:func:`backing_blockers` is asked by :func:`governance.decisions.promotion.compute_state` both when a
version is approved and again at the moment of use (:mod:`governance.decisions.model_use`):

- the validation is a valid signed act of an enrolled validator who is not the developer
  (the latest *valid* one: a forged, unsigned ``validation.completed`` is not a verdict);
- it judged the training run the registry names for the version now (an ``mlflow.db`` whose
  row was pointed at another run after the verdict backs nothing);
- it was made under the policy in force (governance/policy/adoption.py; in a sandbox, any); at the
  moment of use the *latest* validation is judged instead, by the adoption's champion rule
  (:func:`governance.policy.adoption.champion_policy_problem`, asked by governance/decisions/model_use.py);
- every counted approval signed the hash of the model files the registry holds now, which
  is recomputed from the files themselves (a swapped ``model.lgb`` changes it);
- the validation and every counted approval were made under the tier the adopted policy
  assigns the strategy now (governance/policy/tiers.py; at the moment of use, for a validation
  under an earlier policy, the tier of that validation: the champion rule judges the
  policy). Evidence under another tier counts for nothing. Not in a sandbox.
"""

from __future__ import annotations

from governance.ground.errors import Forbidden
from governance.policy.adoption import policy_in_force
from governance.policy.tiers import evidence_problem, signed_tier, tier_at_use


def backing_blockers(ledger, registry, facts, validation, approvals, *, at_use: bool) -> list[str]:
    """Why ``validation`` and ``approvals`` (ledger entries) do not back ``facts``' version.

    Parameters
    ----------
    registry : governance.identity.users.Registry
    facts : governance.registry.versions.ModelFacts
        With ``model_artifact_hash`` recomputed from the files and ``developer`` from the
        training signature.
    validation : governance.decisions.promotion.ValidationFacts
    approvals : list of LedgerEntry
        The counted approvals.
    at_use : bool
        True when the version is about to drive a portfolio: ``validation`` is then the one
        the approvals were given against, and the policy is judged on the latest one by the
        caller.
    """
    out = []
    v = f"v{facts.version}"
    if validation.validator is not None and validation.validator == facts.developer:
        out.append(f"{v} was validated by its own developer {facts.developer!r}")
    if validation.run_id is not None and validation.run_id != facts.run_id:
        # the registry row names another training run than the one the validator signed
        # (an edited mlflow.db): its lineage (developer, data, card) is not what was judged
        out.append(
            f"{v}'s registry entry names run {facts.run_id}, but its validation signed run"
            f" {validation.run_id}: the registry was changed after the verdict"
        )
    if not registry.sandbox and not at_use:
        adoption = policy_in_force(ledger, registry)
        if adoption is not None and validation.policy_hash != adoption.policy_hash:
            problem = (
                f"{v} was validated under policy {str(validation.policy_hash)[:12]}, not the"
                f" policy in force {adoption.policy_hash[:12]}: a verdict counts only under"
                " the adopted policy; revalidate"
            )
        else:
            problem = None if adoption is not None else "no policy is in force"
        if problem:
            out.append(problem)
    if not registry.sandbox:
        out += tier_blockers(ledger, registry, facts, validation, approvals, at_use=at_use)
    for e in approvals:
        signed = (e.payload.get("signed") or e.payload.get("document") or {}).get(
            "model_artifact_hash"
        )
        if signed != facts.model_artifact_hash:
            out.append(
                f"{v}'s model files changed since {e.actor} approved them: their hash is"
                f" {facts.model_artifact_hash[:12]} now, the approval signed {str(signed)[:12]}"
            )
    return out


def validation_tier_problem(in_force, version, validation) -> str | None:
    """Why ``validation`` (made under the policy in force) is under another tier, or None.

    A validation under an earlier policy is the champion rule's to judge (None here)."""
    if validation.policy_hash != in_force.policy_hash:
        return None
    what = f"v{version}'s validation (ledger seq {validation.seq})"
    return evidence_problem(what, validation.tier, in_force.name, in_force.strategy)


def tier_blockers(ledger, registry, facts, validation, approvals, *, at_use: bool) -> list[str]:
    """Why the validation or an approval of ``facts``' version is under the wrong tier."""
    try:
        in_force = tier_at_use(ledger, facts.name, registry)
    except Forbidden as exc:
        return [str(exc)]
    out = []
    problem = validation_tier_problem(in_force, facts.version, validation)
    if problem:
        out.append(problem)
    # approvals count under the tier in force; at use, under an earlier policy's validation
    # (in its grace), under that validation's tier
    current = not at_use or validation.policy_hash == in_force.policy_hash
    expected = in_force.name if current else validation.tier
    for e in approvals:
        what = f"the approval by {e.actor} (ledger seq {e.seq})"
        problem = evidence_problem(what, signed_tier(e), expected, facts.name)
        if problem:
            out.append(problem)
    return out
