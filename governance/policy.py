"""The model-risk policy: a versioned YAML file with materiality tiers.

Every decision records the policy's hash. An invalid policy halts everything (exit 2 naming
the field). Sections are owned by the stage that enforces them:

- ``ValidationPolicy``: validation thresholds and severities (validation/)
- ``PretradeLimits``: pre-trade limit gate (governance/pretrade.py, portfolio helper)
- ``KillSwitchPolicy``, ``ApprovalPolicy``, fallback: governance
- ``MonitoringPolicy``: monitoring flow (operations)
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field

from governance.canonical import sha256_file
from governance.configio import StrictModel, load_yaml_model


class Severity(StrEnum):
    """How a finding weighs on a verdict: critical -> fail, warning -> review, info -> none."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


class Fallback(StrEnum):
    """Portfolio used when the model may not be: benchmark, hold current weights, or cash."""

    BENCHMARK = "benchmark"
    HOLD = "hold"
    FLAT = "flat"


class ValidationPolicy(StrictModel):
    """Thresholds for independent validation (owned by validation/)."""

    min_rank_ic: float = 0.01
    min_ic_tstat: float = 2.0
    min_dsr: float = 0.95
    max_pbo: float = 0.5
    max_plausible_rank_ic: float = 0.25
    min_margin_over_challenger: float = 0.0
    psi_warning: float = 0.10
    psi_critical: float = 0.25
    severities: dict[str, Severity] = Field(default_factory=dict)


class PretradeLimits(StrictModel):
    """Limits the pre-trade gate checks after every solve (owned by the portfolio stage)."""

    max_weight: float = 0.10
    max_sector_weight: float = 0.40
    max_turnover: float = 0.50
    max_gross_leverage: float = 1.0
    tolerance: float = 1e-6
    restricted: list[str] = Field(default_factory=list)


class KillSwitchPolicy(StrictModel):
    """Automatic triggers and reset rules."""

    trip_on_data_quality_critical: bool = True
    trip_on_champion_validation_fail: bool = True
    trip_on_monitoring_breach: bool = True
    trip_on_optimiser_failure: bool = True
    trip_on_pretrade_breach: bool = True
    reset_approvals: int = 2


class ApprovalPolicy(StrictModel):
    """Who must approve a promotion (four eyes; never the version's developer)."""

    validators: int = 1
    risk_officers: int = 1
    allow_declared_ui_approvals: bool = False
    ui_timeout_seconds: int = 3600


class MonitoringPolicy(StrictModel):
    """Thresholds for ongoing monitoring of the champion (owned by operations)."""

    psi_breach: float = 0.25
    min_realised_ic: float = 0.0
    max_ic_decay: float = 0.5
    max_drawdown: float = 0.25
    revalidation_days: int = 365


class Tier(StrictModel):
    validation: ValidationPolicy = Field(default_factory=ValidationPolicy)
    pretrade: PretradeLimits = Field(default_factory=PretradeLimits)
    kill_switch: KillSwitchPolicy = Field(default_factory=KillSwitchPolicy)
    approvals: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    monitoring: MonitoringPolicy = Field(default_factory=MonitoringPolicy)
    fallback: Fallback = Fallback.BENCHMARK


class Policy(StrictModel):
    version: str
    tiers: dict[str, Tier]


def load_policy(path: str | Path) -> tuple[Policy, str]:
    """Load and validate a policy; return it with the SHA-256 of the file's bytes."""
    policy = load_yaml_model(Policy, path)
    return policy, sha256_file(path)
