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


def load_policy_for(cfg) -> tuple:
    """``(policy, tier, policy_sha256)`` named by a run config's ``policy:`` section.

    ``cfg`` is the root ``AlphagateConfig`` (its ``resolve`` makes the file path absolute).
    An invalid policy or an unknown tier is an :class:`InputError` (exit 2).
    """
    from governance.policy import load_tier

    return load_tier(cfg.resolve(cfg.policy.file), cfg.policy.tier)
