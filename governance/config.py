"""Governance sections of the run config: which policy file, which tier, the demo cast."""

from __future__ import annotations

from pydantic import Field, field_validator

from governance.configio import StrictModel
from governance.users import Role


class PolicyRef(StrictModel):
    """Which policy file (relative to the run config) and which materiality tier apply."""

    file: str = "policy.yaml"
    tier: str = "high"


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

    ``ui_approval``: when a Prefect server is configured (``PREFECT_API_URL``), the pipeline
    pauses on the approval gate for a form in the Prefect UI (governance/ui_approval.py).
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


def policy_for(cfg, ledger=None):
    """``(PolicyInForce, tier)`` for a run config: the *adopted* policy, which the file its
    ``policy:`` section names must be (governance/adoption.py), except in a sandbox.

    An invalid policy or an unknown tier is an :class:`InputError` (exit 2); a file that is
    not the policy in force is :class:`~governance.errors.Forbidden` (exit 4).
    """
    from governance.adoption import resolve_policy
    from governance.ledger import Ledger
    from governance.policy import load_tier
    from governance.workspace import Workspace

    path = cfg.resolve(cfg.policy.file)
    load_tier(path, cfg.policy.tier)  # a file or tier that cannot be used is exit 2 first
    own = ledger is None
    ledger = ledger or Ledger.open(Workspace.from_env())
    try:
        force = resolve_policy(ledger, path)
    finally:
        if own:
            ledger.dispose()
    return force, force.policy.tier(cfg.policy.tier, source=str(path))


def load_policy_for(cfg, ledger=None) -> tuple:
    """``(policy, tier, policy_sha256)`` of the policy in force for a run config
    (:func:`policy_for`)."""
    force, tier = policy_for(cfg, ledger)
    return force.policy, tier, force.policy_hash
