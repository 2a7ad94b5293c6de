"""Canonical JSON (RFC 8785) and SHA-256 helpers: the basis of every recorded hash."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import rfc8785

_CHUNK = 1 << 20


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays, dataclasses, enums, paths and datetimes to plain JSON.

    Non-finite floats become ``None``: JSON has no NaN, and a hash must not depend on how a
    library happens to spell it.
    """
    if obj is None or isinstance(obj, bool | str | int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, enum.Enum):
        return to_jsonable(obj.value)
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, dt.datetime | dt.date):
        return obj.isoformat()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if hasattr(obj, "model_dump"):  # pydantic
        return to_jsonable(obj.model_dump(mode="json"))
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        items = sorted(obj, key=str) if isinstance(obj, set | frozenset) else obj
        return [to_jsonable(v) for v in items]
    if getattr(getattr(obj, "dtype", None), "kind", None) == "M":  # numpy datetime64
        # tolist() of datetime64[ns] gives integer nanoseconds, beyond RFC 8785's 2**53.
        import numpy as np

        return to_jsonable(np.datetime_as_string(obj, unit="auto").tolist())
    if hasattr(obj, "tolist"):  # numpy arrays and scalars, pandas objects with tolist
        return to_jsonable(obj.tolist())
    if hasattr(obj, "item"):
        return to_jsonable(obj.item())
    raise TypeError(f"cannot serialise {type(obj).__name__} to canonical JSON")


def canonical_json(obj: Any) -> bytes:
    """RFC 8785 canonical UTF-8 bytes of ``obj`` after :func:`to_jsonable`."""
    return rfc8785.dumps(to_jsonable(obj))


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_json(obj: Any) -> str:
    """Hex SHA-256 of the canonical JSON of ``obj``."""
    return sha256_bytes(canonical_json(obj))


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()
