"""Labels: forward returns over the horizon, normalised per date.

The label of row ``(t, asset)`` is the simple return from the close at ``t`` to the close
at ``t + h`` (trading days), normalised across assets on date ``t``. Rows whose label
would need a price after the data end are dropped by :mod:`tasks.model.dataset`, never filled.
"""

from __future__ import annotations

import pandas as pd

from tasks.model.config import LabelMode, Normalise
from tasks.model.features import normalise_cross_section
from tasks.model.stats import forward_returns

#: Horizons of the raw forward returns kept in the sealed frames for IC-decay analysis
#: (docs/architecture.md: ``fwd_ret_1``, ``fwd_ret_5``, ``fwd_ret_21``, ``fwd_ret_63``).
IC_DECAY_HORIZONS: tuple[int, ...] = (1, 5, 21, 63)

LABEL = "label"
FWD_RET = "fwd_ret"


def normalise_label(fwd: pd.DataFrame, mode: LabelMode) -> pd.DataFrame:
    """Per-date normalisation of a dates × assets forward-return frame (NaN stays NaN)."""
    if mode is LabelMode.RANK:
        return normalise_cross_section(fwd, Normalise.RANK)
    return fwd.sub(fwd.mean(axis=1, skipna=True), axis=0)


def label_panels(close: pd.DataFrame, horizon: int, mode: LabelMode) -> dict[str, pd.DataFrame]:
    """The target columns of the sealed frames, as dates × assets frames.

    Returns
    -------
    dict
        ``label`` (normalised ``h``-day forward return), ``fwd_ret`` (raw ``h``-day forward
        return) and ``fwd_ret_<k>`` for each ``k`` in :data:`IC_DECAY_HORIZONS`.
    """
    fwd = forward_returns(close, horizon)
    out = {LABEL: normalise_label(fwd, mode), FWD_RET: fwd}
    for k in IC_DECAY_HORIZONS:
        out[f"fwd_ret_{k}"] = fwd if k == horizon else forward_returns(close, k)
    return out


TARGET_COLUMNS: tuple[str, ...] = (LABEL, FWD_RET, *(f"fwd_ret_{k}" for k in IC_DECAY_HORIZONS))
