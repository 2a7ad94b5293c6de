"""Validation configuration: the ``validation:`` section of a run config.

Thresholds that decide a verdict live in the policy (``ValidationPolicy``), not here; this
section only says how much work to do and how to compute the statistics.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from governance.ground.configio import StrictModel
from tasks.data.calendar import TRADING_DAYS


class ValidationConfig(StrictModel):
    """How validation computes its statistics.

    Attributes
    ----------
    validator : str or None
        The identity the pipeline validates as (role validator, never the version's
        developer). None: the pipeline stops after registering and a validator runs
        ``alphagate validate``.
    shap_sample : int
        Holdout rows explained by exact tree SHAP, time-stratified (shared/DESIGN.md: about
        18 s for 20,000 rows x 40 features on two cores; 2,000 is enough for stable means).
    shap_dependence_plots : int
        Number of top features that get a dependence plot.
    shap_min_abs_corr : float
        Below this |Spearman rho| between a feature and its SHAP value, the relation has no
        clear sign and the sign check passes (0.2: at least a weak-to-moderate monotone
        relation; below it the sign is dominated by interactions and noise splits).
    shap_sign_min_share : float
        Features below this share of total mean |SHAP| are not sign-checked (immaterial).
    n_quantiles : int
        Score buckets for quantile returns and the long-short portfolio (5 = quintiles).
    decay_horizons : list of int
        Horizons (days) of the IC decay curve; each needs a ``fwd_ret_<h>`` column.
    periods_per_year : int
        Annualisation of daily Sharpe ratios (``tasks.model.stats.TRADING_DAYS``).
    regime_window : int
        Trailing days of market volatility that define the high/low volatility regime.
    cscv_partitions : int
        Even number of blocks S for CSCV (Bailey et al. 2017 use 16: C(16, 8) = 12,870 splits).
    seed : int
        Seed of the random challenger and of the SHAP sample.
    experiment_suffix : str
        Validation runs go to the MLflow experiment ``<strategy><suffix>``.
    sensitivity_noise : float
        Scale of the noise the sensitivity section adds to every feature, in units of the
        feature's own per-date standard deviation (0.1: a tenth of its dispersion, the size
        of a vendor's revision of a price-based characteristic; validation/sensitivity.py).
    sensitivity_hyperparameters : list of mapping
        The hyperparameter neighbours the sensitivity section fits again from the signed
        recipe: each maps LightGBM parameters of the selected trial to a factor (0.8 and
        1.25 on the learning rate, 0.75 and 1.33 on the leaves: one step either side). Each
        costs one fit of the final model; an empty list fits none (the replica is always fit).
    """

    validator: str | None = None
    shap_sample: int = Field(2000, ge=50)
    shap_dependence_plots: int = Field(3, ge=0, le=20)
    shap_min_abs_corr: float = Field(0.2, ge=0.0, lt=1.0)
    shap_sign_min_share: float = Field(0.05, ge=0.0, lt=1.0)
    n_quantiles: int = Field(5, ge=2, le=20)
    decay_horizons: list[int] = Field(default_factory=lambda: [1, 5, 21, 63])
    periods_per_year: int = Field(TRADING_DAYS, ge=1)
    regime_window: int = Field(21, ge=2)
    cscv_partitions: int = Field(16, ge=2, le=20)
    seed: int = 0
    experiment_suffix: str = "-validation"
    sensitivity_noise: float = Field(0.1, gt=0, le=1)
    sensitivity_hyperparameters: list[dict[str, float]] = Field(
        default_factory=lambda: [
            {"learning_rate": 0.8},
            {"learning_rate": 1.25},
            {"num_leaves": 0.75},
            {"num_leaves": 1.33},
        ]
    )

    @field_validator("sensitivity_hyperparameters")
    @classmethod
    def _factors(cls, v: list[dict[str, float]]) -> list[dict[str, float]]:
        for i, spec in enumerate(v):
            if not spec or any(not 0 < f <= 10 for f in spec.values()):
                raise ValueError(f"[{i}]: each entry maps parameters to factors in (0, 10]")
        return v

    @field_validator("cscv_partitions")
    @classmethod
    def _even(cls, v: int) -> int:
        if v % 2:
            raise ValueError("must be even")
        return v
