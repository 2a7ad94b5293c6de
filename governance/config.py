"""Governance sections of the run config: which policy file, which tier, the demo cast. (stub)"""

from governance.configio import StrictModel


class PolicyRef(StrictModel):
    file: str = "policy.yaml"  # relative to the run config
    tier: str = "high"


class GovernanceConfig(StrictModel):
    pass
