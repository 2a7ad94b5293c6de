"""Small synthetic holdout-shaped frames for the validation tests (pure numpy)."""

from __future__ import annotations

import numpy as np
import pandas as pd

HORIZONS = (1, 5, 21, 63)


def holdout_frame(
    n_assets: int = 60,
    n_days: int = 400,
    *,
    strength: float = 0.002,
    horizon: int = 5,
    seed: int = 0,
    n_noise: int = 2,
) -> pd.DataFrame:
    """Long (date, asset) frame shaped like the sealed holdout (docs/architecture.md).

    A persistent AR(1) characteristic ``s`` drives next-day returns with coefficient
    ``strength`` (0 = no signal). Columns: ``date, asset, sector, signal`` (``s`` seen with
    noise), ``noise_<k>``, ``mom_12_1``, ``fwd_ret`` (horizon ``horizon``), ``fwd_ret_<h>``.
    """
    rng = np.random.default_rng(seed)
    t, n = n_days + 300, n_assets
    s = np.zeros((t, n))
    s[0] = rng.standard_normal(n)
    for i in range(1, t):
        s[i] = 0.98 * s[i - 1] + np.sqrt(1 - 0.98**2) * rng.standard_normal(n)
    ret = np.zeros((t, n))
    ret[1:] = (
        strength * s[:-1]
        + 0.01 * rng.standard_normal((t - 1, n))
        + 0.005 * rng.standard_normal((t - 1, 1))
    )
    logp = np.cumsum(np.log1p(ret), axis=0)
    dates = pd.bdate_range("2019-01-01", periods=t)
    assets = [f"A{i:03d}" for i in range(n)]

    def fwd(h: int) -> np.ndarray:
        out = np.full((t, n), np.nan)
        out[:-h] = np.expm1(logp[h:] - logp[:-h])
        return out

    mom = np.full((t, n), np.nan)
    mom[252:] = np.expm1(logp[231:-21] - logp[:-252])
    cols = {
        "signal": s + 0.5 * rng.standard_normal((t, n)),
        "mom_12_1": mom,
        "fwd_ret": fwd(horizon),
        **{f"fwd_ret_{h}": fwd(h) for h in HORIZONS},
    }
    for k in range(n_noise):
        cols[f"noise_{k}"] = rng.standard_normal((t, n))
    keep = slice(t - n_days, t)
    frame = pd.DataFrame(
        {
            "date": np.repeat(dates[keep].to_numpy(), n),
            "asset": np.tile(np.array(assets, dtype=object), n_days),
            "sector": np.tile(np.array([f"S{i % 5}" for i in range(n)], dtype=object), n_days),
        }
    )
    for name, arr in cols.items():
        frame[name] = arr[keep].reshape(-1)
    frame["asset"] = frame["asset"].astype(str)
    return frame
