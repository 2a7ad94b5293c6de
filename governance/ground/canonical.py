"""Canonical JSON (RFC 8785) and SHA-256 helpers: the basis of every recorded hash."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import rfc8785

_CHUNK = 1 << 20
#: RFC 8785 (I-JSON) integers: beyond 2**53 a number is not exact in IEEE 754.
_INT_LIMIT = 2**53


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
    """RFC 8785 canonical UTF-8 bytes of ``obj`` after :func:`to_jsonable`.

    Most recorded values hold no float and only ASCII keys; for those the standard library's
    encoder (C) writes the same bytes as RFC 8785 (:func:`_plain` says why), about four times
    faster than the ``rfc8785`` package, which writes every other value.
    """
    value = obj if _plain(obj) else to_jsonable(obj)  # a plain value is not walked twice
    if value is obj or _plain(value):
        out = plain_bytes(value)
        if out is not None:
            return out
    return rfc8785.dumps(value)


def jsonable(obj: Any) -> Any:
    """``obj`` itself when it is already plain JSON (:func:`_plain`: no walk, no copy; do
    not mutate it), else :func:`to_jsonable` of it."""
    return obj if _plain(obj) else to_jsonable(obj)


def plain_bytes(value: Any) -> bytes | None:
    """The standard library's compact, key-sorted UTF-8 JSON of a value known to be plain
    (:func:`_plain`), which is its RFC 8785 text; None for a string holding a lone surrogate
    (not UTF-8: the ``rfc8785`` package decides)."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return None


def _plain(value: Any) -> bool:
    r"""True when ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
    writes RFC 8785's text for ``value``: no float (ECMAScript's number form differs from
    Python's ``repr``), integers inside RFC 8785's range (±2**53), keys in ASCII (RFC 8785
    sorts by UTF-16 code units, Python by code points: the two orders agree on ASCII). Both
    escape a string alike: ``\\``, ``\"``, ``\b \f \n \r \t``, other controls as
    ``\u00xx`` in lower case, everything else as itself (tests/test_canonical.py checks it
    against the ``rfc8785`` package)."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return -_INT_LIMIT < value < _INT_LIMIT
    if kind is dict:  # loops, not all() over a generator: this walk is on every append
        for k, v in value.items():
            if type(k) is not str or not k.isascii():
                return False
            if type(v) is not str and not _plain(v):
                return False
        return True
    if kind is list:
        for v in value:  # noqa: SIM110 (a loop: see the dict's)
            if type(v) is not str and not _plain(v):
                return False
        return True
    return False


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
