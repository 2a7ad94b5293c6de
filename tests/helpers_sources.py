"""Synthetic feature sources and their ODCS contracts, written as a user would write them.

``write_contract`` writes an ODCS v3.1 contract with the subset alphagate enforces
(tasks/data/sources/contract.py); ``write_source`` a long CSV. Tests break one rule at a
time by editing the frame or the contract's fields.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml


def contract_doc(
    name: str = "sentiment",
    version: str = "1.0.0",
    *,
    available_at: bool = True,
    minimum: float = -10.0,
    maximum: float = 10.0,
    null_percent: float = 5.0,
    staleness_days: int | None = None,
    coverage: float | None = None,
    owner: str | None = "olga",
) -> dict:
    keys = [
        {"name": "asset", "logicalType": "string", "required": True},
        {"name": "period", "logicalType": "date", "required": True},
    ]
    if available_at:
        keys.append({"name": "available_at", "logicalType": "date", "required": True})
    value = {
        "name": "score",
        "logicalType": "number",
        "description": "Standardised news sentiment of the asset over the period",
        "logicalTypeOptions": {"minimum": minimum, "maximum": maximum},
        "customProperties": [
            {"property": "unit", "value": "z-score"},
            {"property": "expectedSign", "value": 1},
        ],
        "quality": [
            {"metric": "nullValues", "mustBeLessOrEqualTo": null_percent, "unit": "percent"}
        ],
    }
    custom = []
    if staleness_days is not None:
        custom.append({"property": "maxStalenessDays", "value": staleness_days})
    if coverage is not None:
        custom.append({"property": "minUniverseCoverage", "value": coverage})
    members = [{"username": "quant-dana", "role": "consumer"}]
    if owner:
        members.append({"username": owner, "role": "owner"})
    return {
        "apiVersion": "v3.1.0",
        "kind": "DataContract",
        "id": f"urn:alphagate:{name}",
        "name": name,
        "version": version,
        "status": "active",
        "team": {"name": "alt-data", "members": members},
        "schema": [{"name": name, "logicalType": "object", "properties": [*keys, value]}],
        "customProperties": custom,
    }


def write_contract(path: Path, **kw) -> Path:
    path.write_text(yaml.safe_dump(contract_doc(**kw), sort_keys=False), encoding="utf-8")
    return path


def write_source(path: Path, frame: pd.DataFrame) -> Path:
    out = frame.copy()
    for col in ("period", "available_at"):
        if col in out.columns:
            out[col] = pd.to_datetime(out[col]).dt.strftime("%Y-%m-%d")
    out.to_csv(path, index=False)
    return path


def lagged_signal(close: pd.DataFrame, horizon: int, lag_days: int, noise: float, seed: int):
    """A daily source whose value for period d is the forward ``horizon``-day return from d
    (as Gaussian ranks) seen through noise of sd ``noise``, published ``lag_days`` calendar
    days after d: a signal about d that is only known once its window has passed."""
    from scipy.stats import norm

    fwd = close.shift(-horizon) / close - 1.0
    n = fwd.notna().sum(axis=1)
    z = pd.DataFrame(norm.ppf((fwd.rank(axis=1) - 0.5).div(n, axis=0)), index=fwd.index,
                     columns=fwd.columns)  # fmt: skip
    z = z + np.random.default_rng(seed).standard_normal(z.shape) * noise
    long = z.stack().rename("score").rename_axis(["period", "asset"]).reset_index()
    long["available_at"] = long["period"] + pd.Timedelta(days=lag_days)
    return long[["asset", "period", "available_at", "score"]]
