"""Which materiality tier a strategy runs under: the adopted policy's, never the caller's.

The adopted policy (governance/policy/adoption.py) assigns a tier to each strategy (``model.name``,
the MLflow registered-model name) under ``strategies:``, and to every other strategy its
``default_tier:`` (governance/policy/schema.py). :func:`assign_tier` is the one place a command's
tier is decided (through :func:`governance.policy.config.tier_for`):

- a run config's ``policy.tier`` is optional; naming a tier other than the assigned one is
  :class:`~governance.ground.errors.Forbidden` (exit 4, naming the strategy, both tiers and the
  policy hash), recorded as ``policy.refused``;
- a strategy the policy does not assign (no entry, no ``default_tier``) is Forbidden too:
  nothing may be decided about it until an adopted policy assigns it (fail closed);
- only in a ``--sandbox`` workspace (or one without a genesis, where nothing can be decided)
  may the config choose.

Every piece of evidence records the tier it was made under: ``model.trained`` (``tier``),
``validation.completed`` (``policy_tier``), approval and rejection documents and finding
acceptances (``tier``). :func:`tier_at_use` gives the tier in force for a strategy *now*,
from the adopted policy alone, and :func:`evidence_problem` says why evidence made under
another tier counts for nothing. Evidence made under an earlier adopted policy is judged
by the champion rule of the adoption in force instead
(:func:`governance.policy.adoption.champion_policy_problem`): a re-adoption that moves a strategy
to another tier puts its champion under revalidation, as any new policy does.
"""

from __future__ import annotations

from dataclasses import dataclass

from governance.ground.errors import Forbidden
from governance.ground.vocabulary import Action, Subject
from governance.identity.users import load_registry
from governance.policy.adoption import (
    PolicyInForce,
    adopted_policy,
    adoption_history,
    policy_in_force,
)
from governance.policy.schema import MIN_RESET_APPROVALS, Tier


@dataclass(frozen=True)
class TierInForce:
    """The policy and tier a command about ``strategy`` runs under."""

    force: PolicyInForce
    strategy: str
    name: str
    tier: Tier

    @property
    def policy_hash(self) -> str:
        return self.force.policy_hash


def _unassigned(strategy: str, policy_hash: str) -> str:
    return (
        f"policy: strategy {strategy!r} has no tier: policy {policy_hash} neither lists it"
        " under `strategies:` nor has a `default_tier:`; the adopted policy must assign it"
        " a tier before anything is decided about it"
    )


def _refuse(ledger, strategy: str, named: str | None, assigned, digest: str, why: str):
    ledger.append(
        Action.POLICY_REFUSED, actor="alphagate", role="system", subject=Subject.POLICY,
        payload={"strategy": strategy, "named_tier": named, "assigned_tier": assigned,
                 "policy_hash": digest, "refusal": why},
    )  # fmt: skip
    return Forbidden(why)


def assign_tier(ledger, force: PolicyInForce, strategy: str, named: str | None) -> TierInForce:
    """The tier ``strategy`` runs under, given the tier its config names (module doc).

    Raises
    ------
    InputError
        ``named`` is not a tier of the policy (exit 2).
    Forbidden
        The strategy is unassigned, or ``named`` is not its assigned tier (recorded; exit 4).
    """
    policy, digest = force.policy, force.policy_hash
    if named is not None:
        policy.tier(named)  # a tier the policy does not have is exit 2 whatever happens next
    assigned = policy.assigned_tier(strategy)
    free = force.sandbox or force.adoption is None  # a sandbox, or no genesis yet
    name = (named or assigned) if free else assigned
    if name is None:
        raise _refuse(ledger, strategy, named, None, digest, _unassigned(strategy, digest))
    if named is not None and named != name:
        raise _refuse(
            ledger, strategy, named, assigned, digest,
            f"policy: the config names tier {named!r} for strategy {strategy!r}, but the"
            f" policy in force {digest} assigns it tier {assigned!r}; a config may not"
            " choose its tier",
        )  # fmt: skip
    return TierInForce(force, strategy, name, policy.tiers[name])


def tier_at_use(ledger, strategy: str, registry=None) -> TierInForce:
    """The tier in force for ``strategy`` now, from the adopted policy alone.

    Raises
    ------
    Forbidden
        No policy is in force, or it leaves the strategy unassigned (nothing recorded:
        the caller names it as a reason).
    """
    registry = registry or load_registry(ledger)
    adoption = policy_in_force(ledger, registry)
    if adoption is None:
        raise Forbidden("policy: no policy is in force in this workspace")
    policy = adopted_policy(ledger, adoption)
    name = policy.assigned_tier(strategy)
    if name is None:
        raise Forbidden(_unassigned(strategy, adoption.policy_hash))
    force = PolicyInForce(policy, adoption.policy_hash, False, adoption)
    return TierInForce(force, strategy, name, policy.tiers[name])


def signed_tier(entry) -> str | None:
    """The tier an approval, rejection or acceptance entry's signed document names."""
    p = entry.payload or {}
    return (p.get("signed") or p.get("document") or {}).get("tier")


def evidence_problem(what: str, tier: str | None, expected: str, strategy: str) -> str | None:
    """Why ``what``, made under ``tier``, counts for nothing where ``expected`` is in force."""
    if tier == expected:
        return None
    return (
        f"{what} was made under tier {tier!r}, not {strategy!r}'s tier {expected!r}:"
        " evidence under another tier counts for nothing"
    )


def reset_officers(policy, strategy: str | None) -> int:
    """Distinct risk officers a reset of ``strategy``'s switch needs under ``policy``: its
    tier's ``kill_switch.reset_approvals``; the workspace-wide switch (None), or a strategy
    the policy does not assign, needs the strictest tier's."""
    name = policy.assigned_tier(strategy) if strategy is not None else None
    tiers = [policy.tiers[name]] if name is not None else list(policy.tiers.values())
    return max([MIN_RESET_APPROVALS, *(t.kill_switch.reset_approvals for t in tiers)])


def adopted_policies(ledger, registry) -> list[tuple[int, object]]:
    """``[(adoption seq, Policy)]`` of every adoption that holds, oldest first."""
    return [(a.seq, adopted_policy(ledger, a)) for a in adoption_history(ledger, registry)]


def in_force_at(history: list[tuple[int, object]], seq: int):
    """The policy of ``history`` (:func:`adopted_policies`) in force when entry ``seq`` was
    appended (the last adoption before it), or None."""
    return next((policy for since, policy in reversed(history) if since < seq), None)


def reset_rule(ledger, registry, strategy: str | None) -> list[tuple[int, int]]:
    """``[(adoption seq, officers needed)]``, oldest first: from each adoption on, the
    officers a reset of the switch needs under the policy it put in force. Empty in a
    sandbox workspace (its run config names the policy) or before any adoption."""
    if registry is None or registry.sandbox:
        return []
    return [(seq, reset_officers(p, strategy)) for seq, p in adopted_policies(ledger, registry)]
