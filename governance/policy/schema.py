"""The model-risk policy: a versioned YAML file with materiality tiers.

Every decision records the policy's hash. An invalid policy halts everything (exit 2 naming
the field). Sections are owned by the stage that enforces them:

- ``ValidationPolicy``: validation thresholds and severities (validation/)
- ``PretradeLimits``: pre-trade limit gate (governance/decisions/pretrade.py, portfolio helper)
- ``StressLimits``: maximum stressed losses, checked before publishing (risk stage)
- ``KillSwitchPolicy``, ``ApprovalPolicy``, fallback: governance; ``MonitoringPolicy``: operations
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from governance.ground.canonical import sha256_file
from governance.ground.configio import StrictModel, load_yaml_model
from governance.ground.errors import InputError
from governance.policy.boundaries import BoundaryPolicy
from governance.policy.escalation import BreachAction, FindingsPolicy
from governance.policy.materiality import MaterialityPolicy
from governance.policy.paper import PaperPolicy
from governance.policy.records import RecordsPolicy
from governance.policy.stewardship import ChangePathPolicy, InventoryPolicy, OverlayPolicy
from governance.policy.witness_schema import WitnessPolicy


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


class PortfolioSource(StrEnum):
    """Where a published portfolio came from: the champion's scores, or the tier's fallback.

    One account of many can also ``hold`` what it has (its own bounds cannot be met).
    """

    MODEL = "model"
    FALLBACK = "fallback"
    HOLD = "hold"


#: L1 turnover ``sum |w - w_prev|`` allowed per rebalance when neither the policy tier nor
#: the portfolio config says otherwise: half the book, so a full turnover takes two
#: rebalances (configs/policy.yaml states it per tier; tasks.portfolio.config takes it as the
#: optimiser's default).
MAX_TURNOVER = 0.50


class AcceptanceRole(StrEnum):
    """Roles that may accept a finding (governance/identity/users.py ``Role`` values)."""

    RISK_OFFICER = "risk_officer"
    VALIDATOR = "validator"


class AcceptancePolicy(StrictModel):
    """Who may accept a validation finding, and for how long (governance/findings/accept.py).

    ``severities`` lists what may be accepted at all (``critical`` never in a ``high`` or
    ``medium`` tier: :class:`Policy` refuses such a file); ``role`` who signs;
    ``signatures`` how many distinct users must sign the same finding; ``max_days`` the
    longest expiry from the day of acceptance (SR 26-2: a time-limited exception with a
    compensating control); ``require_control`` whether ``--control`` is mandatory.
    """

    severities: list[Severity] = Field(default_factory=lambda: [Severity.WARNING])
    role: AcceptanceRole = AcceptanceRole.RISK_OFFICER
    signatures: int = Field(default=1, ge=1)
    # at most a year: an accepted exception outlives no annual review of the model
    max_days: int = Field(default=180, gt=0, le=366)
    require_control: bool = False


class ValidationPolicy(StrictModel):
    """Thresholds for independent validation (owned by validation/)."""

    min_rank_ic: float = 0.01
    min_ic_tstat: float = 2.0
    min_dsr: float = Field(default=0.95, ge=0, le=1)  # a probability
    max_pbo: float = Field(default=0.5, ge=0, le=1)  # a probability
    # PBO gates only with at least this many trial series: with N candidates the logit takes
    # at most N values, and with 2-3 similar trials PBO is a coin flip (Bailey et al. 2017
    # evaluate hundreds); fewer trials are reported, not gated (validation/findings.py).
    min_pbo_trials: int = 4
    max_plausible_rank_ic: float = Field(default=0.25, gt=0, le=1)
    # Label-timing leak (validation/label_timing.py): t-stat of the IC step at the label
    # window's end; 3.0 is a one-sided p of 0.0013, a leak of IC 0.09 scores about 5.
    max_label_timing_tstat: float = Field(default=3.0, gt=0)
    # ... and only when the window after keeps less than this share of the window's IC: a
    # genuine signal decays smoothly (a 63-day characteristic keeps e^(-21/63) = 0.72 of
    # it across a 21-day horizon, and with enough dates even that step is significant),
    # a leak keeps ~0 (validation/label_timing.py).
    label_timing_max_retained: float = Field(default=0.5, ge=0, le=1)
    # Distinct models validated on one sealed holdout (validation/looks.py): None, no cap;
    # ``adjust_for_holdout_looks`` raises the IC t-stat bar to Bonferroni's for the looks.
    max_holdout_looks: int | None = Field(default=None, ge=1)
    adjust_for_holdout_looks: bool = False
    # Minimum mean rank IC in every market regime's state (validation/metrics.py regime_ic:
    # volatility, trend, fitted HMM); None: no requirement. A state below it is a finding.
    min_regime_rank_ic: float | None = None
    min_margin_over_challenger: float = 0.0
    psi_warning: float = Field(default=0.10, ge=0)
    psi_critical: float = Field(default=0.25, ge=0)
    # One feature's share of mean |SHAP| over which it is a one-factor bet (shap_concentration)
    max_top_feature_share: float = Field(default=0.75, gt=0, le=1)
    # Sensitivity: turnover over a random book's, share of rank IC lost (validation/sensitivity.py)
    max_sensitivity_turnover: float = Field(default=0.5, gt=0, le=1)
    max_sensitivity_ic_loss: float = Field(default=0.5, gt=0, le=1)
    # Per check name (validation/findings.py CHECKS) override of the default severity.
    severities: dict[str, Severity] = Field(default_factory=dict)
    # Which findings a risk officer may accept, and how (the review path).
    acceptance: AcceptancePolicy = Field(default_factory=AcceptancePolicy)


class PretradeLimits(StrictModel):
    """Limits the pre-trade gate checks after every solve (owned by the portfolio stage).

    ``governance.decisions.pretrade.check_pretrade`` enforces them: weights finite; sum equal to
    ``budget`` (1 fully invested, 0 dollar-neutral; None skips the check); each weight in
    [``min_weight``, ``max_weight``]; each sector's net weight within
    +-``max_sector_weight``; L1 turnover at most ``max_turnover``; gross leverage
    (sum of absolute weights) at most ``max_gross_leverage``; restricted assets hold no
    more than now (absolute, same sign). ``tolerance`` absorbs solver round-off (interior
    point solutions meet constraints to about 1e-8).
    """

    max_weight: float = Field(default=0.10, gt=0, le=1)  # a share of the book
    min_weight: float = Field(default=0.0, ge=-1, le=1)
    budget: float | None = 1.0
    max_sector_weight: float = Field(default=0.40, gt=0)
    max_turnover: float = Field(default=MAX_TURNOVER, ge=0)
    max_gross_leverage: float = Field(default=1.0, gt=0)
    tolerance: float = Field(default=1e-6, ge=0, le=1e-2)
    restricted: list[str] = Field(default_factory=list)


class StressLimits(StrictModel):
    """Maximum stressed losses the pre-trade stress check allows (owned by the risk stage).

    ``governance.decisions.pretrade.check_stress`` enforces them on the stress result of every
    portfolio before it is published. Losses are fractions of portfolio value before exit
    costs. ``scenarios`` maps a named scenario of the run config's ``stress:`` section to
    its maximum loss; ``max_scenario_loss`` bounds every named scenario without its own
    limit; ``max_sampled_tail_loss`` bounds the expected shortfall of the sampled
    scenarios (``stress.sampled.tail``). None and an empty mapping set no limit: the
    defaults, so that policies written before these limits keep their meaning.
    """

    max_scenario_loss: float | None = Field(default=None, gt=0)
    scenarios: dict[str, float] = Field(default_factory=dict)
    max_sampled_tail_loss: float | None = Field(default=None, gt=0)


class OrderLimits(StrictModel):
    """Pre-send checks of an order set (the tier's ``orders:`` section; SEC rule 15c3-5's
    pre-trade controls, independent of the strategy and of the optimiser).

    ``governance.decisions.presend.check_orders`` enforces them: each order's notional at
    most ``max_order_notional``; its notional at most ``max_adv_share`` of the asset's
    average daily dollar volume (an unknown ADV breaches: fail closed); its reference and
    limit price within ``price_collar`` (fraction) of the last close; no buy of a
    ``restricted`` asset; no order id sent before, and no order for the same account,
    asset and side as one sent within ``duplicate_window_minutes``; the strategy's gross
    notional sent in one UTC day at most ``max_daily_gross_notional`` (its credit limit);
    and nothing is sent while the kill switch is tripped. None switches a limit off.
    ``max_cost_excess_bp``: realised cost above the cost model's estimate by more than
    this (notional-weighted, per rebalance) is a finding on the cost model.
    """

    max_order_notional: float | None = Field(default=None, gt=0)
    max_adv_share: float | None = Field(default=None, gt=0, le=1)
    price_collar: float | None = Field(default=0.10, gt=0)
    restricted: list[str] = Field(default_factory=list)
    duplicate_window_minutes: float = Field(default=60.0, ge=0)
    max_daily_gross_notional: float | None = Field(default=None, gt=0)
    max_cost_excess_bp: float = Field(default=25.0, ge=0)


#: The fewest distinct risk officers a reset ever needs (four eyes), whatever a document says.
MIN_RESET_APPROVALS = 2


class KillSwitchPolicy(StrictModel):
    """Automatic triggers and reset rules (governance/decisions/killswitch.py).

    Each ``trip_on_*`` names a trigger of issue 5 ("Kill switch"); a reset needs
    ``reset_approvals`` distinct risk officers, never the champion's developer (four eyes:
    at least two, after Knight Capital's single-person controls).
    """

    trip_on_data_quality_critical: bool = True
    trip_on_champion_validation_fail: bool = True
    trip_on_monitoring_breach: bool = True
    trip_on_optimiser_failure: bool = True
    trip_on_pretrade_breach: bool = True
    reset_approvals: int = Field(default=MIN_RESET_APPROVALS, ge=MIN_RESET_APPROVALS)
    reset_requires_incident: bool = True


class ApprovalPolicy(StrictModel):
    """Who must approve a promotion (four eyes; never the version's developer).

    ``validators`` + ``risk_officers`` approvals by distinct users are needed; declared
    (unsigned) Prefect-UI approvals count only when ``allow_declared_ui_approvals``; a UI
    approval not given within ``ui_timeout_seconds`` is recorded as a rejection.
    """

    validators: int = Field(default=1, ge=1)
    risk_officers: int = Field(default=1, ge=1)
    allow_declared_ui_approvals: bool = False
    ui_timeout_seconds: int = Field(default=3600, gt=0)


#: Kill-switch triggers (governance/decisions/killswitch.py ``Trigger``) that can make a revalidation due.
RevalidationTrigger = Literal[
    "data_quality_critical",
    "champion_validation_fail",
    "monitoring_breach",
    "optimiser_failure",
    "pretrade_breach",
    "manual",
]


class MonitoringPolicy(StrictModel):
    """Thresholds for ongoing monitoring of the champion (owned by operations).

    ``psi_breach`` follows the usual PSI reading (> 0.25: significant shift);
    ``revalidation_days`` is the revalidation cadence (SR 11-7: at least annual review;
    SR 26-2: materiality-based, so per tier), and ``revalidate_on`` the kill-switch
    triggers after which a revalidation is due at once (SR 26-2: trigger-based).
    ``on_revalidation_due`` / ``on_acceptance_expired`` say what an overdue revalidation
    or an expired finding acceptance does (:class:`BreachAction`).
    """

    psi_breach: float = Field(default=0.25, gt=0)
    min_realised_ic: float = 0.0
    max_ic_decay: float = Field(default=0.5, ge=0, le=1)
    max_drawdown: float = Field(default=0.25, gt=0, le=1)
    revalidation_days: int = Field(default=365, gt=0)
    # Realised-IC test (validation/monitoring.py): the last `ic_window` realised daily ICs,
    # Newey-West standard error with lag h-1, one-sided at `ic_z` (1.645 = 95 %). Half a
    # year is the shortest window that never tripped on 12 stable synthetic markets in the
    # calibration of tests/test_monitoring.py; 63 days tripped on stable markets.
    ic_window: int = Field(default=126, ge=10)
    ic_z: float = Field(default=1.645, ge=0)
    # Decay below (1 - max_ic_decay) x the validated IC is reported; it trips only when set:
    # regime swings in IC made it false-alarm on 3 of 12 stable markets in that calibration.
    trip_on_ic_decay: bool = False
    # Fast sign-flip detector (validation/monitoring_cusum.py): a one-sided CUSUM of the
    # last `cusum_window` one-day rank ICs below `min_realised_ic`, in units of their sd.
    # k = 0.25, h = 8: one false alarm per ~738 trading days at an IC exactly at the floor
    # (Siegmund's approximation, derived there); off with cusum: false.
    cusum: bool = True
    cusum_k: float = Field(default=0.25, ge=0)
    cusum_h: float = Field(default=8.0, gt=0)
    cusum_window: int = Field(default=252, ge=10)
    cusum_min: int = Field(default=63, ge=10)
    max_tracking_error: float = Field(default=0.10, gt=0)  # annualised, vs equal weight
    recent_days: int = Field(default=63, ge=5)  # drift sample and tracking-error window
    revalidate_on: list[RevalidationTrigger] = Field(default_factory=list)
    on_revalidation_due: BreachAction = BreachAction.WARN
    on_acceptance_expired: BreachAction = BreachAction.FALLBACK


class Tier(StrictModel):
    validation: ValidationPolicy = Field(default_factory=ValidationPolicy)
    pretrade: PretradeLimits = Field(default_factory=PretradeLimits)
    stress: StressLimits = Field(default_factory=StressLimits)
    orders: OrderLimits = Field(default_factory=OrderLimits)
    kill_switch: KillSwitchPolicy = Field(default_factory=KillSwitchPolicy)
    approvals: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    monitoring: MonitoringPolicy = Field(default_factory=MonitoringPolicy)
    paper: PaperPolicy | None = None  # None: no paper stage, live approval straight away
    boundaries: BoundaryPolicy = Field(default_factory=BoundaryPolicy)
    inventory: InventoryPolicy = Field(default_factory=InventoryPolicy)  # owner, attestation
    overlays: OverlayPolicy = Field(default_factory=OverlayPolicy)  # adjustments, restrictions
    change: ChangePathPolicy = Field(default_factory=ChangePathPolicy)  # minor vs material path
    findings: FindingsPolicy = Field(default_factory=FindingsPolicy)  # overdue escalation
    fallback: Fallback = Fallback.BENCHMARK


class Policy(StrictModel):
    """The whole policy: a version, named materiality tiers, which tier each strategy runs under.

    ``strategies`` maps a strategy (``model.name``, the MLflow registered-model name) to a
    tier name; ``default_tier`` is the tier of every strategy not listed. A strategy with
    neither is *unassigned*: nothing may be decided about it (governance/policy/tiers.py); the
    adopted policy's assignment is the tier in force, never a run config's choice."""

    version: str = Field(min_length=1)
    tiers: dict[str, Tier] = Field(min_length=1)
    strategies: dict[str, str] = Field(default_factory=dict)
    default_tier: str | None = None
    witnesses: WitnessPolicy | None = None  # None: the environment's witnesses only
    records: RecordsPolicy = Field(default_factory=RecordsPolicy)  # governance/policy/records.py
    # the inventory's materiality score (governance/policy/materiality.py)
    materiality: MaterialityPolicy = Field(default_factory=MaterialityPolicy)

    @model_validator(mode="after")
    def _assigned_tiers_exist(self) -> Policy:
        known = ", ".join(sorted(self.tiers))
        named = [(f"strategies.{s}", t) for s, t in self.strategies.items()]
        if self.default_tier is not None:
            named.append(("default_tier", self.default_tier))
        for field, tier in named:
            if tier not in self.tiers:
                raise ValueError(f"{field}: unknown tier {tier!r} (policy has {known})")
        return self

    def assigned_tier(self, strategy: str) -> str | None:
        """The tier name ``strategy`` runs under (its own, else ``default_tier``), or None."""
        return self.strategies.get(strategy, self.default_tier)

    @model_validator(mode="after")
    def _no_critical_acceptance_when_material(self) -> Policy:
        for name in ("high", "medium"):
            tier = self.tiers.get(name)
            if tier is not None and Severity.CRITICAL in tier.validation.acceptance.severities:
                raise ValueError(
                    f"tiers.{name}.validation.acceptance.severities: critical findings may"
                    f" not be accepted in a {name}-materiality tier"
                )
        return self

    def tier(self, name: str, source: str = "policy") -> Tier:
        """The tier called ``name``; an unknown tier is an :class:`InputError` (exit 2)."""
        try:
            return self.tiers[name]
        except KeyError:
            known = ", ".join(sorted(self.tiers))
            raise InputError(
                f"{source}: tier: unknown tier {name!r} (policy has {known})"
            ) from None


def load_policy(path: str | Path) -> tuple[Policy, str]:
    """Load and validate a policy; return it with the SHA-256 of the file's bytes.

    An invalid policy is an :class:`InputError` naming ``file: field.path`` (exit 2): a
    policy that cannot be read halts everything (fail closed).
    """
    policy = load_yaml_model(Policy, path)
    return policy, sha256_file(path)
