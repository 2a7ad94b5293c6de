"""An honest count of what was tried: trials keyed to the search and the data, not a name.

The deflated Sharpe ratio needs ``N``, the number of configurations tried before the one
selected (Bailey & López de Prado 2014). Counting the ``model.trained`` entries of one
strategy name gets ``N`` wrong both ways: renaming the strategy starts again from zero, and
retraining an unchanged configuration on new data counts its trials again. Here a trial is
a **search point** and its count is scoped by **data**:

- :func:`trial_key` hashes what defines a search point: the features (their names,
  normalisation, label and horizon), the trial's effective LightGBM parameters, the CV and
  selection settings, and the feature sources with their contract versions. The strategy
  name, the holdout settings and the data are not in it: the same point evaluated again is
  the same trial.
- :func:`data_sketch` summarises the development data by content (a bottom-k MinHash of
  its ``(date, asset, next-day return)`` rows, returns rounded to 1e-4); :func:`overlap`
  estimates the share of the smaller dataset found in the other. Two trainings whose data
  overlap by at least :data:`SAME_DATA` count against each other: a rename (overlap 1), an
  extension with new days (the old data is contained in the new), a rolling window that
  moves by less than half. Another market does not (overlap 0).

:func:`count_trials` reads the ledger and returns the distinct keys in scope, with the
latest Sharpe ratio and trial series of each. Training records the keys and the sketch in
``model.trained``; validation counts with the same function (docs/architecture.md).

What it cannot guard: trials run outside alphagate, or on data perturbed beyond the
rounding (a developer who adds noise of more than 1e-4 to every return starts a new
count; the data fingerprint and quality gate still record that the data changed).
Entries written before keys were recorded count each trial once, by strategy name.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from governance.ground.canonical import sha256_json
from governance.ground.vocabulary import Action, Subject

__all__ = [
    "SAME_DATA",
    "SKETCH_SIZE",
    "DataSketch",
    "TrialCount",
    "count_trials",
    "data_sketch",
    "overlap",
    "trial_key",
]

#: Smallest hashes kept by the sketch. The Jaccard estimate from a bottom-k sketch has a
#: standard error near ``sqrt(J (1 - J) / k)``: at most 0.044 with 128, well inside the
#: margin between a retrain (overlap near 1) and another market (near 0).
SKETCH_SIZE = 128
#: Overlap from which two trainings are on the same data: more than half of the smaller
#: dataset's rows are in the other.
SAME_DATA = 0.5
#: Returns are rounded to this before hashing, so re-reads and float noise hash alike.
RETURN_QUANTUM = 1e-4
_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def trial_key(identity: Mapping[str, Any]) -> str:
    """SHA-256 of a search point's canonical JSON (see the module docstring for its fields)."""
    return sha256_json(dict(identity))


@dataclass(frozen=True)
class DataSketch:
    """Bottom-k MinHash of a dataset's rows.

    Attributes
    ----------
    rows : int
        Distinct hashed rows.
    hashes : tuple of int
        The ``SKETCH_SIZE`` smallest 64-bit row hashes, ascending.
    """

    rows: int
    hashes: tuple[int, ...] = field(repr=False)

    def to_payload(self) -> dict[str, Any]:
        """JSON form for a ledger payload (hashes as 16-digit hex: JSON integers stop at 2**53)."""
        return {"rows": self.rows, "hashes": [f"{h:016x}" for h in self.hashes]}

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any] | None) -> DataSketch | None:
        """The sketch a payload recorded, or None when it has none or it is malformed."""
        if not isinstance(payload, Mapping):
            return None
        try:
            return cls(int(payload["rows"]), tuple(int(h, 16) for h in payload["hashes"]))
        except (KeyError, TypeError, ValueError):
            return None


def _splitmix(x: np.ndarray) -> np.ndarray:
    # SplitMix64 finaliser (Steele, Lea & Flood 2014): a bijective 64-bit mixer.
    with np.errstate(over="ignore"):
        x = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK
        x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK
        x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK
        return x ^ (x >> np.uint64(31))


def _asset_codes(assets: pd.Series) -> np.ndarray:
    codes, uniques = pd.factorize(assets.astype(str))
    table = np.array(
        [int.from_bytes(hashlib.sha256(a.encode()).digest()[:8], "big") for a in uniques],
        dtype=np.uint64,
    )
    return table[codes]


def data_sketch(frame: pd.DataFrame, column: str = "fwd_ret_1") -> DataSketch:
    """Sketch of a long frame's ``(date, asset, column)`` rows (NaN rows skipped).

    Parameters
    ----------
    frame : DataFrame
        ``date`` (datetime64), ``asset`` (str) and ``column`` (the next-day return in the
        sealed development frame).
    """
    df = frame[["date", "asset", column]].dropna()
    days = df["date"].to_numpy(dtype="datetime64[D]").astype(np.int64).astype(np.uint64)
    ret = np.round(df[column].to_numpy(dtype=float) / RETURN_QUANTUM).astype(np.int64)
    h = _splitmix(ret.astype(np.uint64) ^ _asset_codes(df["asset"]))
    h = np.unique(_splitmix(h ^ _splitmix(days)))
    return DataSketch(int(h.size), tuple(int(v) for v in h[:SKETCH_SIZE]))


def overlap(a: DataSketch, b: DataSketch) -> float:
    """Estimated share of the smaller dataset's rows that are in the other, in [0, 1].

    The Jaccard index ``J`` is the share of the union's ``k`` smallest hashes present in
    both sketches; the intersection is ``J (n_a + n_b) / (1 + J)``.
    """
    if a.rows == 0 or b.rows == 0:
        return 0.0
    sa, sb = set(a.hashes), set(b.hashes)
    union = sorted(sa | sb)[: max(len(a.hashes), len(b.hashes))]
    if not union:
        return 0.0
    jaccard = sum(1 for h in union if h in sa and h in sb) / len(union)
    inter = jaccard * (a.rows + b.rows) / (1.0 + jaccard)
    return min(1.0, inter / min(a.rows, b.rows))


@dataclass(frozen=True)
class TrialCount:
    """Distinct trials on overlapping data, from the ledger.

    Attributes
    ----------
    keys : tuple of str
        Distinct trial keys, first seen first.
    sharpes : dict of str to float
        Annualised OOS Sharpe ratio of each key's latest evaluation (finite only).
    columns : dict of str to (str, int)
        ``(mlflow_run_id, trial_index)`` of each key's latest evaluation (the preferred
        run's own, when it evaluated the key).
    runs : tuple of str
        Training runs in scope, oldest first.
    """

    keys: tuple[str, ...]
    sharpes: dict[str, float]
    columns: dict[str, tuple[str, int]]
    runs: tuple[str, ...]

    @property
    def n_trials(self) -> int:
        """``N`` for the deflated Sharpe ratio."""
        return len(self.keys)


def _entry_keys(payload: Mapping[str, Any], run: str) -> list[str]:
    keys = payload.get("trial_keys")
    if isinstance(keys, list) and keys:
        return [str(k) for k in keys]
    return [f"{run}:{i}" for i in range(int(payload.get("trials", 0)))]  # before keys


def count_trials(
    ledger,
    sketch: DataSketch | None,
    strategy: str,
    *,
    prefer_run: str | None = None,
    pending: Sequence[tuple[str, float]] = (),
) -> TrialCount:
    """Distinct trials of every ``model.trained`` entry whose data overlaps ``sketch``.

    Parameters
    ----------
    ledger : governance.log.ledger.Ledger
    sketch : DataSketch or None
        The data of the training being counted. Entries without a sketch (recorded before
        sketches), and every entry when ``sketch`` is None, are in scope only under
        ``strategy:<strategy>``.
    strategy : str
    prefer_run : str, optional
        A run whose own evaluation of a key is kept over later ones (the validated version's).
    pending : sequence of (key, sharpe)
        Trials of a run not yet recorded (training counts itself before it records).
    """
    keys: dict[str, None] = {}
    sharpes: dict[str, float] = {}
    columns: dict[str, tuple[str, int]] = {}
    runs: list[str] = []
    own = Subject.strategy(strategy)
    for e in ledger.entries(action=Action.MODEL_TRAINED):
        p = e.payload
        theirs = DataSketch.from_payload(p.get("data_sketch"))
        if sketch is None or theirs is None:
            if e.subject != own:
                continue
        elif overlap(sketch, theirs) < SAME_DATA:
            continue
        run = str(p.get("mlflow_run_id") or f"seq{e.seq}")
        runs.append(run)
        trial_sharpes = list(p.get("trial_sharpes") or [])
        for i, key in enumerate(_entry_keys(p, run)):
            keys.setdefault(key, None)
            if columns.get(key, ("",))[0] == prefer_run and run != prefer_run:
                continue
            columns[key] = (run, i)
            s = trial_sharpes[i] if i < len(trial_sharpes) else None
            if s is not None and math.isfinite(float(s)):
                sharpes[key] = float(s)
            else:
                sharpes.pop(key, None)
    for key, s in pending:
        keys.setdefault(key, None)
        if s is not None and math.isfinite(float(s)):
            sharpes[key] = float(s)
    return TrialCount(tuple(keys), sharpes, columns, tuple(runs))
