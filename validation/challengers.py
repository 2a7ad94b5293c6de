"""Challenger signals on the same holdout rows: naive 12-1 momentum and a seeded random score.

Benchmarking (SR 11-7, "outcomes analysis ... benchmarking"): a model earns its complexity
only if it beats simple alternatives on the data it was not built on. The margin is the
model's mean rank IC minus the challenger's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from validation.metrics import SignalMetrics, evaluate_signal

__all__ = ["MOMENTUM_COLUMN", "ChallengerResult", "random_signal", "run_challengers"]

MOMENTUM_COLUMN = "mom_12_1"  # 12-month return skipping the last month (Jegadeesh-Titman)


@dataclass(frozen=True)
class ChallengerResult:
    """One challenger: its metrics and the model's margin in mean rank IC (NaN if absent)."""

    name: str
    metrics: SignalMetrics | None
    margin_rank_ic: float
    available: bool
    note: str = ""


def random_signal(frame: pd.DataFrame, seed: int) -> np.ndarray:
    """Standard-normal score per row, reproducible from ``seed``, shape (n_rows,)."""
    return np.random.default_rng(seed).standard_normal(len(frame))


def run_challengers(
    frame: pd.DataFrame, model: SignalMetrics, *, seed: int, **kwargs
) -> list[ChallengerResult]:
    """Evaluate momentum and random challengers with the model's settings.

    Parameters
    ----------
    frame : DataFrame
        Holdout rows (same rows the model was scored on).
    model : SignalMetrics
        The model's metrics, for the margins.
    seed : int
        Seed of the random challenger.
    **kwargs
        Passed to :func:`validation.metrics.evaluate_signal` (``horizon``, ``n_quantiles``...).
    """
    out = []
    if MOMENTUM_COLUMN in frame.columns and frame[MOMENTUM_COLUMN].notna().any():
        m, _ = evaluate_signal(frame, MOMENTUM_COLUMN, name="momentum_12_1", **kwargs)
        out.append(ChallengerResult("momentum_12_1", m, model.rank_ic_mean - m.rank_ic_mean, True))
    else:
        out.append(
            ChallengerResult(
                "momentum_12_1",
                None,
                math.nan,
                False,
                f"holdout has no {MOMENTUM_COLUMN} column",
            )
        )
    rnd = frame[["date", "asset", "fwd_ret", *_returns(frame)]].copy()
    rnd["random"] = random_signal(frame, seed)
    m, _ = evaluate_signal(rnd, "random", name="random", **kwargs)
    out.append(ChallengerResult("random", m, model.rank_ic_mean - m.rank_ic_mean, True))
    return out


def _returns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("fwd_ret_")]
