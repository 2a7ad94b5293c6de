"""The modelling frame and its sealed split into a development period and a final holdout.

:func:`build_frame` joins point-in-time features and forward-return labels into one long
table (docs/architecture.md, "Sealed dataset split"). :func:`split_and_seal` cuts it in
time, leaves a purge gap of ``h`` dates between the two periods so that no development
label window reaches into the holdout, writes both halves to the artifact store as
Parquet with deterministic bytes, and records the ``data.split`` ledger entry. Their
SHA-256 are the dev and holdout fingerprints. Training receives the dev frame only;
validation reads the holdout back with :func:`load_sealed`.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from governance.ground.errors import InputError
from governance.ground.vocabulary import Action, Subject
from tasks.data.market import MarketPanel
from tasks.model.config import SplitConfig
from tasks.model.features import (
    FEATURES_BY_NAME,
    FeaturesConfig,
    feature_panels,
    normalise_cross_section,
    select_features,
)
from tasks.model.labels import FWD_RET, LABEL, TARGET_COLUMNS, label_panels
from tasks.model.wide import wide_to_long

if TYPE_CHECKING:
    from governance.decisions.context import RunContext
    from governance.ground.artifacts import ArtifactStore

META_COLUMNS: tuple[str, ...] = ("date", "asset", "sector")


# Parquet writer options, fixed so that equal frames give equal bytes (and fingerprints).
_PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "version": "2.6",
}


@dataclass(frozen=True)
class SealedSplit:
    """The outcome of :func:`split_and_seal`: what training may see, and the seals.

    Attributes
    ----------
    dev_fingerprint, holdout_fingerprint : str
        SHA-256 of the ``dev.parquet`` and ``holdout.parquet`` artifacts.
    dev_period, holdout_period : tuple of Timestamp
        First and last date of each period (inclusive).
    dev : DataFrame
        The development frame (columns as :func:`build_frame`); the only rows training sees.
    horizon : int
        Label horizon ``h`` (also the purge gap, in dates, between the periods).
    features : tuple of str
        Feature columns, in model input order.
    ledger_seq : int or None
        Sequence number of the ``data.split`` ledger entry.
    """

    dev_fingerprint: str
    holdout_fingerprint: str
    dev_period: tuple[pd.Timestamp, pd.Timestamp]
    holdout_period: tuple[pd.Timestamp, pd.Timestamp]
    dev: pd.DataFrame
    horizon: int
    features: tuple[str, ...]
    ledger_seq: int | None = None


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """Feature columns of a frame from :func:`build_frame`, in model input order."""
    fixed = set(META_COLUMNS) | set(TARGET_COLUMNS)
    return [c for c in frame.columns if c not in fixed]


def build_frame(
    panel: MarketPanel,
    features_cfg: FeaturesConfig,
    extra_features: Mapping[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """The modelling frame: one row per (date, asset) with complete features and label.

    Parameters
    ----------
    panel : MarketPanel
    features_cfg : FeaturesConfig
    extra_features : mapping name -> DataFrame (n_dates, n_assets), optional
        Additional features appended after the declared ones and normalised the same way
        (tests inject, e.g., a feature that leaks the future return).

    Returns
    -------
    DataFrame
        Columns ``date`` (datetime64[ns]), ``asset`` (str), ``sector`` (str, NaN when
        unknown), the features, ``label``, ``fwd_ret``, ``fwd_ret_1/5/21/63``, sorted by
        (date, asset). Rows with a missing feature or label (warm-up windows, the last
        ``h`` dates) are dropped, never filled; ``fwd_ret_<k>`` stays NaN where it reaches
        past the data end. ``frame.attrs`` holds ``horizon`` and ``features``.
    """
    columns = feature_columns_wide(panel, features_cfg, extra_features)
    names = list(columns)
    columns.update(label_panels(panel.close, features_cfg.horizon, features_cfg.label))
    # Rows missing a feature or the label are left out as the table is built (never filled);
    # each wide frame is freed once copied: a large frame's peak memory is about its own.
    long = wide_to_long(columns, panel.close, require=[*names, LABEL, FWD_RET], consume=True)
    if panel.sectors is not None:
        sector = long["asset"].map(panel.sectors.astype("str"))
    else:
        sector = pd.Series(np.nan, index=long.index)
    long.insert(2, "sector", sector.astype("str"))
    long.attrs = {"horizon": features_cfg.horizon, "features": names}
    return long


def feature_columns_wide(
    panel: MarketPanel,
    features_cfg: FeaturesConfig,
    extra_features: Mapping[str, pd.DataFrame] | None = None,
) -> dict[str, pd.DataFrame]:
    """The declared features and the extra ones (a source's, normalised the same way), wide:
    one definition for training's frame and the champion's scoring rows."""
    columns = feature_panels(panel, features_cfg, select_features(panel, features_cfg))
    for name, wide in (extra_features or {}).items():
        if name in columns or name in META_COLUMNS or name in TARGET_COLUMNS:
            raise InputError(f"extra_features: {name!r} clashes with an existing column")
        aligned = wide.reindex(index=panel.close.index, columns=panel.close.columns)
        columns[name] = normalise_cross_section(aligned, features_cfg.normalise)
    return columns


def scoring_rows(
    panel: MarketPanel,
    features_cfg: FeaturesConfig,
    extra_features: Mapping[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Long feature rows to score a model whose contract names ``features_cfg.names``.

    The built-in features among the names are computed from the panel, a source's from
    ``extra_features`` (normalised as in training); a name neither provides is absent, for
    the caller to refuse (the portfolio stage's ``Gate.SCORING`` halt).
    """
    extra = dict(extra_features or {})
    builtin = tuple(n for n in features_cfg.names or () if n in FEATURES_BY_NAME)
    cfg = features_cfg.model_copy(update={"names": builtin or None})
    return wide_to_long(feature_columns_wide(panel, cfg, extra), panel.close)


def frame_to_parquet(frame: pd.DataFrame) -> bytes:
    """Deterministic Parquet bytes: given column order, no index, fixed writer options."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata(None)  # pandas metadata would embed attrs
    buf = io.BytesIO()
    pq.write_table(table, buf, **_PARQUET_OPTIONS)
    return buf.getvalue()


def load_sealed(store: ArtifactStore, fingerprint: str) -> pd.DataFrame:
    """Read a sealed frame back from the artifact store, verifying its fingerprint.

    Raises
    ------
    TamperDetected
        The artifact is missing or no longer hashes to ``fingerprint``.
    """
    frame = pq.read_table(io.BytesIO(store.read_bytes(fingerprint))).to_pandas()
    frame["date"] = frame["date"].astype("datetime64[ns]")
    return frame


def split_dates(
    dates: np.ndarray,
    *,
    horizon: int,
    holdout_start: pd.Timestamp | None,
    holdout_fraction: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Development and holdout dates, with ``horizon`` dates purged between them.

    Parameters
    ----------
    dates : array of datetime64, shape (n_rows,)
        The frame's dates (repeats allowed).
    horizon : int
        Purge gap ``h``: the last ``h`` dates before the holdout are in neither period, so
        every development label window ``(t, t+h]`` ends before the holdout's first date.
    holdout_start : Timestamp or None
        First holdout date; when None, the last ``ceil(holdout_fraction * n_dates)`` dates.
    holdout_fraction : float

    Returns
    -------
    (dev_dates, holdout_dates) : sorted unique arrays.

    Raises
    ------
    InputError
        Either period would be empty.
    """
    unique = np.unique(dates)
    if holdout_start is not None:
        first = int(np.searchsorted(unique, np.datetime64(pd.Timestamp(holdout_start), "ns")))
        field = "model.holdout_start"
    else:
        first = len(unique) - math.ceil(holdout_fraction * len(unique))
        field = "model.holdout_fraction"
    dev_end = first - horizon
    if first >= len(unique) or dev_end <= 0:
        span = f"{pd.Timestamp(unique[0]).date()}..{pd.Timestamp(unique[-1]).date()}"
        raise InputError(
            f"{field}: leaves an empty development or holdout period "
            f"({len(unique)} dates {span}, purge {horizon})"
        )
    return unique[:dev_end], unique[first:]


def _period(dates: np.ndarray) -> tuple[pd.Timestamp, pd.Timestamp]:
    return pd.Timestamp(dates[0]), pd.Timestamp(dates[-1])


def split_and_seal(
    ctx: RunContext,
    frame: pd.DataFrame,
    split_cfg: SplitConfig,
    *,
    horizon: int | None = None,
) -> SealedSplit:
    """Split ``frame`` in time, store both halves, and record ``data.split``.

    Parameters
    ----------
    ctx : RunContext
        Provides the artifact store and the ledger.
    frame : DataFrame
        From :func:`build_frame`.
    split_cfg : SplitConfig
        ``holdout_start`` or ``holdout_fraction`` choose the holdout; ``name`` the subject
        (a :class:`tasks.model.train.ModelConfig` is one).
    horizon : int, optional
        Label horizon; defaults to ``frame.attrs["horizon"]`` set by :func:`build_frame`.

    Returns
    -------
    SealedSplit
    """
    h = horizon if horizon is not None else frame.attrs.get("horizon")
    if h is None:
        raise ValueError("split_and_seal: horizon not given and frame.attrs has none")
    features = tuple(frame.attrs.get("features") or feature_columns(frame))
    dev_dates, hold_dates = split_dates(
        frame["date"].to_numpy(),
        horizon=int(h),
        holdout_start=split_cfg.holdout_start,
        holdout_fraction=split_cfg.holdout_fraction,
    )
    date = frame["date"].to_numpy()
    dev = frame.loc[date <= dev_dates[-1]].reset_index(drop=True)
    holdout = frame.loc[date >= hold_dates[0]].reset_index(drop=True)
    dev_fp = ctx.store.put_bytes(frame_to_parquet(dev))
    hold_fp = ctx.store.put_bytes(frame_to_parquet(holdout))
    dev_period, hold_period = _period(dev_dates), _period(hold_dates)
    entry = ctx.record(
        Action.DATA_SPLIT,
        subject=Subject.strategy(split_cfg.name),
        payload={
            "dev_fingerprint": dev_fp,
            "holdout_fingerprint": hold_fp,
            "dev_period": [d.date().isoformat() for d in dev_period],
            "holdout_period": [d.date().isoformat() for d in hold_period],
            "purge_dates": int(h),
            "horizon": int(h),
            "dev_rows": len(dev),
            "holdout_rows": len(holdout),
            "features": list(features),
            "columns": list(frame.columns),
        },
        artifacts={"dev.parquet": dev_fp, "holdout.parquet": hold_fp},
    )
    dev.attrs = {"horizon": int(h), "features": list(features)}
    return SealedSplit(
        dev_fingerprint=dev_fp,
        holdout_fingerprint=hold_fp,
        dev_period=dev_period,
        holdout_period=hold_period,
        dev=dev,
        horizon=int(h),
        features=features,
        ledger_seq=entry.seq,
    )
