"""Governance sections of the run config: which policy file, the demo cast; and the one
home where a config's policy and tier are resolved (:func:`tier_for`)."""

from __future__ import annotations

from pydantic import Field, field_validator

from governance.ground.configio import StrictModel
from governance.identity.users import Role


class PolicyRef(StrictModel):
    """Which policy file (relative to the run config) applies.

    ``tier`` is optional: the adopted policy assigns each strategy its tier
    (governance/policy/tiers.py); a config naming another tier is refused (exit 4), except in a
    ``--sandbox`` workspace, where it chooses.
    """

    file: str = "policy.yaml"
    tier: str | None = None


class CastMember(StrictModel):
    """One user of the demo cast: created with a signing key on first run."""

    name: str
    role: Role


def _demo_cast() -> list[CastMember]:
    # A developer, a validator and two risk officers: enough for four-eyes promotion and a
    # two-officer kill-switch reset (issue 5).
    return [
        CastMember(name="dana", role=Role.DEVELOPER),
        CastMember(name="vera", role=Role.VALIDATOR),
        CastMember(name="rita", role=Role.RISK_OFFICER),
        CastMember(name="omar", role=Role.RISK_OFFICER),
    ]


class GovernanceConfig(StrictModel):
    """Users created on first run and how approvals are collected.

    ``ui_approval``: when a Prefect server is configured (``PREFECT_API_URL``), the pipeline's
    approval gate hands a version awaiting approvals to its review flow in Prefect (it
    starts deployment ``version-review`` when ``serve`` deployed it, and prints the
    ``alphagate review`` command; flows/review.py ``hand_off``). The pipeline never pauses.
    """

    cast: list[CastMember] = Field(default_factory=_demo_cast)
    ui_approval: bool = False

    @field_validator("cast")
    @classmethod
    def _unique_names(cls, cast: list[CastMember]) -> list[CastMember]:
        names = [m.name for m in cast]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate user names: {', '.join(dupes)}")
        return cast


def tier_for(cfg, ledger=None, strategy: str | None = None):
    """The :class:`~governance.policy.tiers.TierInForce` of a run config: the *adopted* policy,
    which the file its ``policy:`` section names must be (governance/policy/adoption.py), and the
    tier that policy assigns to ``strategy`` (default ``model.name``) — except in a sandbox.

    An invalid policy or an unknown tier is an :class:`InputError` (exit 2); a file that is
    not the policy in force, a tier other than the assigned one, or an unassigned strategy
    is :class:`~governance.ground.errors.Forbidden` (exit 4, recorded).
    """
    from governance.ground.workspace import Workspace
    from governance.log.readtime import verified_ledger
    from governance.policy.adoption import resolve_policy
    from governance.policy.schema import load_policy
    from governance.policy.tiers import assign_tier

    path = cfg.resolve(cfg.policy.file)
    named, _ = load_policy(path)  # a file or tier that cannot be used is exit 2 first
    if cfg.policy.tier is not None:
        named.tier(cfg.policy.tier, source=str(path))
    if ledger is None:  # the adoptions read for a command: verified as read (exit 3)
        with verified_ledger(Workspace.from_env(), "policy in force") as own:
            return tier_for(cfg, own, strategy)
    force = resolve_policy(ledger, path)
    return assign_tier(ledger, force, strategy or cfg.model.name, cfg.policy.tier)


def load_policy_for(cfg, ledger=None, strategy: str | None = None) -> tuple:
    """``(policy, tier, policy_sha256)`` of the policy in force for a run config
    (:func:`tier_for`)."""
    t = tier_for(cfg, ledger, strategy)
    return t.force.policy, t.tier, t.policy_hash
