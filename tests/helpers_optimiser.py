"""A small market for the optimiser's tests: 12 assets in 3 sectors, a 3-factor risk model."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tasks.portfolio.config import RiskModelKind
from tasks.portfolio.risk import RiskModel

N, K = 12, 3
ASSETS = pd.Index([f"A{i:02d}" for i in range(N)])
SECTORS = pd.Series([f"S{i % 3}" for i in range(N)], index=ASSETS)
TOL = 1e-6


def make_risk(seed: int = 0, n: int = N, k: int = K) -> RiskModel:
    rng = np.random.default_rng(seed)
    return RiskModel(
        assets=ASSETS[:n],
        exposures=rng.normal(0.0, 1.0, (n, k)),
        factor_cov=np.diag(rng.uniform(0.5, 1.5, k)) * 1e-5,
        specific_var=rng.uniform(1.0, 3.0, n) * 1e-4,
        kind=RiskModelKind.FACTOR,
    )


def make_alpha(seed: int = 0) -> pd.Series:
    return pd.Series(np.random.default_rng(seed + 100).normal(0, 5e-4, N), index=ASSETS)
