"""Operating boundaries: the domain a version was validated on, and live inputs held to it.

Validation records the domain of its sealed holdout (:func:`operating_domain`) in the
report's JSON twin, whose hash the validator signs with the verdict (validation/run.py).
At each use, the rebalance and the monitor hold the live inputs to it
(:func:`outside_domain`); outside, the model's use raises a finding and the policy tier's
``boundaries.action`` applies (warn, or fallback). Four families:

- **features**: each model input's 1 % and 99 % quantiles over the holdout (and its min,
  median, max for the record), and ``worst``: the largest share of one holdout date's rows
  outside ``[q01, q99]``. A date's assets move together, so that share varies from day to
  day more than a binomial ``p = 0.02`` would; the holdout's own worst day sets the level.
  A live date whose share ``s`` of its ``n`` scored rows exceeds
  ``worst + z sqrt(p (1 - p) / n)`` (the live share's binomial sampling error) is outside;
  a column shifted beyond its validated range puts nearly every row outside.
- **volatility regime**: the equal-weight market's annualised volatility over ``window``
  days, from the holdout's one-day returns, its range over the holdout's dates. A live
  estimate from ``n`` daily returns has relative standard error ``1 / sqrt(2 n)`` (normal
  returns), so the range is widened to ``[min (1 - z/sqrt(2n)), max (1 + z/sqrt(2n))]``.
- **universe size**: the fewest and most assets scored on one holdout date.
- **data columns**: the model's inputs and the sector map the holdout had; a live input
  missing one is outside.
- **feature sources** (issue 26): each source the version was trained on, by name, contract
  (name, version, hash), file fingerprint and the digest of its history known on the sealed
  data's last day (``known_by``, tasks/data/sources/source.py ``known_digest``), from the
  developer's signed ``model.trained`` entry. A live source missing, under another contract
  version or contract bytes, or whose rows known by ``known_by`` now hash otherwise (a
  value rewritten or removed in place: history restated) is outside. A new file
  fingerprint alone is not: later vintages and periods are appended data.

``z`` is the tier's ``boundaries.z`` (governance/policy/boundaries.py, where its
false-alarm rate is stated).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from tasks.model.stats import TRADING_DAYS
from validation.monitoring_checks import Check, CheckResult, Status

__all__ = [
    "TAIL",
    "Outside",
    "check_boundaries",
    "market_volatility",
    "operating_domain",
    "outside_domain",
]

#: Probability mass outside ``[q01, q99]`` of the validated distribution (the binomial
#: sampling error of a live share).
TAIL = 0.02
_QUANTILES = {"min": 0.0, "q01": 0.01, "median": 0.5, "q99": 0.99, "max": 1.0}


@dataclass(frozen=True)
class Outside:
    """One live input outside the validated domain.

    ``about`` names what (``feature:<name>``, ``volatility``, ``universe``, ``columns``);
    ``value`` the live figure and ``threshold`` the bound it crossed.
    """

    about: str
    detail: str
    value: float | None = None
    threshold: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def market_volatility(returns: pd.DataFrame, window: int) -> pd.Series:
    """Annualised volatility of the equal-weight market over trailing ``window`` days.

    ``returns`` is dates x assets of simple one-day returns (NaN skipped in the mean).
    """
    market = returns.mean(axis=1, skipna=True)
    return market.rolling(window, min_periods=window).std() * math.sqrt(TRADING_DAYS)


#: What the domain keeps of each source's signed lineage (module docstring).
SOURCE_KEYS = ("source", "contract", "version", "contract_sha256", "fingerprint", "known_by",
               "known_digest")  # fmt: skip


def operating_domain(
    holdout: pd.DataFrame,
    features: Sequence[str],
    window: int = 63,
    sources: Sequence[Mapping[str, Any]] = (),
) -> dict:
    """The domain of the sealed holdout (long rows: ``date, asset, [sector], <features>,
    fwd_ret_1``): feature quantiles, volatility regime, universe size, data columns, and
    the feature ``sources`` (their lineage as the ``model.trained`` entry signed it)."""
    feats = {}
    for name in features:
        x = holdout[["date", name]].dropna()
        if x.empty:
            feats[name] = {}
            continue
        q = {k: float(x[name].quantile(p)) for k, p in _QUANTILES.items()}
        tails = (x[name] < q["q01"]) | (x[name] > q["q99"])
        feats[name] = {**q, "worst": float(tails.groupby(x["date"]).mean().max())}
    scored = holdout.dropna(subset=list(features)).groupby("date")["asset"].nunique()
    returns = holdout.pivot(index="date", columns="asset", values="fwd_ret_1").sort_index()
    vol = market_volatility(returns, window).dropna()
    sectors = "sector" in holdout.columns and bool(holdout["sector"].notna().any())
    return {
        "features": feats,
        "volatility": {"window": int(window), "min": _num(vol.min()), "max": _num(vol.max())},
        "universe": {"min": int(scored.min()), "max": int(scored.max())} if len(scored) else {},
        "columns": sorted([*features, *(["sector"] if sectors else [])]),
        "sources": [{k: s.get(k) for k in SOURCE_KEYS} for s in sources],
    }


def _num(v) -> float | None:
    return float(v) if v is not None and np.isfinite(v) else None


def outside_domain(
    domain: Mapping[str, Any],
    live: pd.DataFrame,
    close: pd.DataFrame,
    *,
    sectors: bool,
    z: float,
    sources: Sequence[Mapping[str, Any]] | None = None,
) -> list[Outside]:
    """What of the live inputs lies outside ``domain`` (empty: inside).

    Parameters
    ----------
    domain : mapping
        From :func:`operating_domain` (a validation report's ``domain``).
    live : DataFrame
        The model's input rows on the day of use (``asset``, one column per feature).
    close : DataFrame, shape (n_dates, n_assets)
        Prices up to the day of use (the volatility regime's last ``window`` days).
    sectors : bool
        Whether the live market data carries the sector map.
    z : float
        One-sided normal quantile of each bound (module docstring).
    sources : sequence of mapping, optional
        The sources read today (tasks/data/sources/record.py ``live_lineage``); None skips
        the sources' check (a domain without sources never fails it).
    """
    out: list[Outside] = []
    names = list(domain.get("features") or {})
    have = {c for c in names if c in live.columns and live[c].notna().any()}
    have |= {"sector"} if sectors else set()
    missing = sorted(set(domain.get("columns") or ()) - have)
    if missing:
        out.append(Outside("columns", f"live inputs lack {', '.join(missing)}"))
    for name, q in (domain.get("features") or {}).items():
        x = live[name].astype(float).dropna() if name in live.columns else pd.Series(dtype=float)
        if not q or x.empty:
            continue
        share = float(((x < q["q01"]) | (x > q["q99"])).mean())
        limit = q.get("worst", TAIL) + z * math.sqrt(TAIL * (1 - TAIL) / len(x))
        if share > limit:
            out.append(Outside(
                f"feature:{name}",
                f"{share:.0%} of {len(x)} live values outside the validated 1-99 % range"
                f" [{q['q01']:.4g}, {q['q99']:.4g}] (limit {limit:.0%}); live median"
                f" {x.median():.4g}, validated {q['median']:.4g}",
                share, limit,
            ))  # fmt: skip
    out += _volatility(domain.get("volatility") or {}, close, z)
    if sources is not None:
        out += _sources(domain.get("sources") or [], sources)
    uni = domain.get("universe") or {}
    n = int(live[names].notna().all(axis=1).sum()) if names and set(names) <= set(live) else 0
    if uni and not uni["min"] <= n <= uni["max"]:
        bound = uni["min"] if n < uni["min"] else uni["max"]
        out.append(Outside(
            "universe", f"{n} assets scored, validated on {uni['min']} to {uni['max']}", n, bound
        ))  # fmt: skip
    return out


def _volatility(vol: Mapping[str, Any], close: pd.DataFrame, z: float) -> list[Outside]:
    if vol.get("min") is None or vol.get("max") is None:
        return []
    window = int(vol["window"])
    live = market_volatility(close.pct_change(fill_method=None), window).dropna()
    if live.empty:
        return []
    now, widen = float(live.iloc[-1]), z / math.sqrt(2 * window)
    low, high = vol["min"] * max(1 - widen, 0.0), vol["max"] * (1 + widen)
    if low <= now <= high:
        return []
    return [Outside(
        "volatility",
        f"market volatility {now:.1%} (last {window} days) outside the validated"
        f" {vol['min']:.1%}-{vol['max']:.1%}, widened by its sampling error to"
        f" [{low:.1%}, {high:.1%}]",
        now, low if now < low else high,
    )]  # fmt: skip


def _sources(validated: Sequence[Mapping], live: Sequence[Mapping]) -> list[Outside]:
    now = {s.get("source"): s for s in live}
    out = []
    for v in validated:
        name, was = v.get("source"), f"{v.get('contract')} {v.get('version')}"
        s = now.get(name)
        if s is None:
            why = f"the live inputs lack source {name} (validated on contract {was})"
        elif (s.get("version"), s.get("contract_sha256")) != (
            v.get("version"),
            v.get("contract_sha256"),
        ):
            edited = (
                " (same version, edited contract)" if s.get("version") == v.get("version") else ""
            )
            why = f"contract {was} -> {s.get('contract')} {s.get('version')}{edited}"
        elif v.get("known_digest") and s.get("known_digest") != v.get("known_digest"):
            why = (
                f"its history known by {v.get('known_by')} changed since validation (a value"
                " rewritten or removed in place: history restated)"
            )
        else:
            continue
        out.append(Outside(f"source:{name}", why))
    return out


def check_boundaries(
    domain: Mapping[str, Any] | None,
    features: pd.DataFrame,
    close: pd.DataFrame,
    as_of: pd.Timestamp,
    *,
    sectors: bool,
    z: float,
    sources: Sequence[Mapping[str, Any]] | None = None,
) -> CheckResult:
    """The monitor's view of the boundaries on ``as_of`` (:func:`outside_domain`, the
    rebalance's check, with the ``sources`` read today): a warning when outside (each
    outside input in ``data["outside"]``: escalation raises one finding per input)."""
    check = Check.OPERATING_BOUNDARY
    if not domain:
        return CheckResult(check, Status.NOT_EVALUATED, None, None, "no validated domain")
    live = features.loc[features["date"] == pd.Timestamp(as_of)]
    if live.empty:
        return CheckResult(check, Status.NOT_EVALUATED, None, None, f"no inputs on {as_of}")
    outside = outside_domain(domain, live, close.loc[:as_of], sectors=sectors, z=z, sources=sources)
    if not outside:
        return CheckResult(check, Status.OK, 0.0, None, "inside the validated domain")
    detail = "; ".join(f"{o.about}: {o.detail}" for o in outside)
    data = {"outside": [o.to_json() for o in outside]}
    return CheckResult(check, Status.WARNING, float(len(outside)), 0.0, detail, data)
