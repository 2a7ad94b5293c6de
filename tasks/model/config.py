"""The run config's ``features:`` and ``model:`` sections, apart from the code that runs them.

Reading a run config (every command does) imports no pandas, numpy or LightGBM; each class
is re-exported where it is used: :mod:`tasks.model.features`, :mod:`tasks.model.cv`,
:mod:`tasks.model.dataset`, :mod:`tasks.model.train`.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator

from governance.ground.configio import StrictModel
from tasks.data.calendar import TRADING_DAYS


class Normalise(StrEnum):
    """Cross-sectional normalisation applied per date."""

    RANK = "rank"  # average ranks mapped linearly onto [-0.5, 0.5]
    ROBUST_Z = "robust_z"  # (x - median) / (1.4826 * MAD), clipped at ±ROBUST_Z_CLIP
    NONE = "none"  # raw values (for diagnostics; not recommended for training)


class LabelMode(StrEnum):
    """How the forward return becomes the training label, per date."""

    RANK = "rank"  # ranks onto [-0.5, 0.5], as Normalise.RANK
    DEMEAN = "demean"  # forward return minus the date's cross-sectional mean


class FeaturesConfig(StrictModel):
    """The ``features:`` section of the run config.

    Attributes
    ----------
    horizon : int
        Label horizon ``h`` in trading days; also the purge gap of the split and the CV.
    names : list of str or None
        Subset of :data:`FEATURES` to use, in this order; ``None`` means every feature the
        panel supports (volume and sector features need volume and sectors).
    normalise : Normalise
        Per-date cross-sectional normalisation of the features.
    label : LabelMode
        Per-date normalisation of the forward return used as the training label.
    """

    horizon: int = Field(default=21, ge=1, le=TRADING_DAYS)
    names: tuple[str, ...] | None = None
    normalise: Normalise = Normalise.RANK
    label: LabelMode = LabelMode.RANK


class CVScheme(StrEnum):
    EXPANDING = "expanding"
    ROLLING = "rolling"
    PURGED_KFOLD = "purged_kfold"


class CVConfig(StrictModel):
    """The ``model.cv`` section.

    Attributes
    ----------
    scheme : CVScheme
    n_folds : int
        Number of test blocks.
    min_train_dates : int
        Walk-forward: dates reserved for the first training window (one year by default,
        so that the first fold trains on a full seasonal cycle).
    train_window : int or None
        Rolling scheme: training window length in dates (default ``min_train_dates``).
    embargo : int
        Dates of training data dropped after each test block. Default 5: about 1 % of a
        two-year fold, López de Prado's (2018, §7.4.2) rule of thumb ``0.01 T``.
    """

    scheme: CVScheme = CVScheme.EXPANDING
    n_folds: int = Field(default=5, ge=2, le=50)
    min_train_dates: int = Field(default=TRADING_DAYS, ge=20)
    train_window: int | None = Field(default=None, ge=20)
    embargo: int = Field(default=5, ge=0)


class SplitConfig(StrictModel):
    """Settings of the sealed split (the ``model:`` section's first fields).

    Attributes
    ----------
    name : str
        Strategy name: the ``data.split`` subject, MLflow experiment and registered model.
    holdout_start : date or None
        First date of the final holdout; when None, the last ``holdout_fraction`` of dates.
    holdout_fraction : float
    """

    name: str = Field(default="alphagate-demo", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    holdout_start: dt.date | None = None
    holdout_fraction: float = Field(default=0.2, gt=0, lt=1)


class LightGBMParams(StrictModel):
    """LightGBM hyperparameters (names as in the LightGBM documentation).

    Defaults are deliberately conservative for noisy return targets: shallow trees, large
    leaves and shrinkage, as in Gu, Kelly & Xiu (2020, "Empirical Asset Pricing via Machine
    Learning") where boosted trees of depth 1-2 with strong shrinkage did best.
    """

    objective: str = "regression"
    learning_rate: float = Field(default=0.05, gt=0, le=1)
    num_leaves: int = Field(default=7, ge=2)
    max_depth: int = -1
    min_data_in_leaf: int = Field(default=200, ge=1)
    feature_fraction: float = Field(default=0.8, gt=0, le=1)
    bagging_fraction: float = Field(default=0.8, gt=0, le=1)
    bagging_freq: int = Field(default=1, ge=0)
    lambda_l2: float = Field(default=1.0, ge=0)
    linear_tree: bool = False
    num_boost_round: int = Field(default=200, ge=1)
    early_stopping_rounds: int = Field(default=20, ge=1)
    seed: int = 7
    # One thread by default: the pipeline shares two cores with the Prefect and MLflow
    # servers, and OpenMP threads spin-waiting on a busy core slow LightGBM down by an order
    # of magnitude (measured on this 2-core machine under load: 100 rounds on 100k rows took
    # 10 s with one thread, 87 s with two). Raise it on a dedicated training host.
    num_threads: int = Field(default=1, ge=1)
    # The regime ensemble (issue 26): every tree splits first on this market-state feature
    # (a LightGBM forced split), so each regime's rows grow their own subtrees: one model
    # per regime, the date's regime choosing which one scores (tasks/model/regimes.py).
    regime_gate: str | None = None
    # The regime ensemble combined by the regime probabilities (issue 26 item 6): one
    # booster per regime, each row weighted by this probability feature (``mkt_p_turbulent``),
    # predicting sum_s p_s f_s (tasks/model/mixture.py).
    regime_mix: str | None = None

    def booster_params(self) -> dict[str, Any]:
        """Parameters for ``lightgbm.train``, with the determinism switches set."""
        p = self.model_dump(
            exclude={"num_boost_round", "early_stopping_rounds", "regime_gate", "regime_mix"}
        )
        p.update(deterministic=True, force_row_wise=True, verbosity=-1)
        return p


class ModelConfig(SplitConfig):
    """The ``model:`` section of the run config.

    The strategy ``name`` and the holdout (``holdout_start`` / ``holdout_fraction``) are the
    sealed split's settings, :class:`SplitConfig`; the rest is training's.

    Attributes
    ----------
    cv : CVConfig
    lightgbm : LightGBMParams
        Base hyperparameters.
    search : list of mapping
        Hyperparameter overrides of ``lightgbm``, one trial each. Every trial counts toward
        the strategy's trial total (deflated Sharpe ratio, Bailey & López de Prado 2014).
    validation_fraction : float
        Share of each training window's last dates used for early stopping (purged).
    long_short_quantile : float
        Top-minus-bottom quantile of the trial's long-short OOS series (0.2: quintiles).
    reference_rows, sample_rows : int
        Rows of ``reference.parquet`` (drift reference) and of the predictions sample.
    """

    cv: CVConfig = Field(default_factory=CVConfig)
    lightgbm: LightGBMParams = Field(default_factory=LightGBMParams)
    search: tuple[dict[str, bool | int | float | str], ...] = (
        {},
        {"num_leaves": 3, "learning_rate": 0.1},
        {"num_leaves": 15, "min_data_in_leaf": 500},
    )
    validation_fraction: float = Field(default=0.2, gt=0, lt=0.5)
    long_short_quantile: float = Field(default=0.2, gt=0, le=0.5)
    reference_rows: int = Field(default=5000, ge=10)
    sample_rows: int = Field(default=200, ge=5)

    @field_validator("search")
    @classmethod
    def _known_overrides(cls, search):
        fields = set(LightGBMParams.model_fields)
        for i, override in enumerate(search):
            unknown = set(override) - fields
            if unknown:
                raise ValueError(f"search[{i}]: unknown LightGBM parameter {sorted(unknown)[0]!r}")
            LightGBMParams.model_validate({**override})
        return search

    def trial_params(self) -> tuple[LightGBMParams, ...]:
        """One validated parameter set per trial (the base set alone when ``search`` is empty)."""
        base = self.lightgbm.model_dump()
        return tuple(LightGBMParams(**{**base, **o}) for o in (self.search or ({},)))
