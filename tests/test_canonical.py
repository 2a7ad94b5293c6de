"""Canonical JSON: every value a stage records hashes the same way, whatever its type."""

from __future__ import annotations

import datetime as dt
import enum
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from governance.ground.canonical import canonical_json, sha256_json, to_jsonable


class Colour(enum.StrEnum):
    RED = "red"


def test_numpy_and_pandas_values_become_plain_json():
    doc = {
        "int": np.int64(3),
        "float": np.float32(0.5),
        "nan": float("nan"),
        "array": np.array([1.0, np.inf]),
        "ns": np.datetime64("2024-01-02T03:04:05.000000006"),
        "dates": pd.to_datetime(["2024-01-01"]).to_numpy(),
        "ts": pd.Timestamp("2024-01-03"),
        "date": dt.date(2024, 1, 4),
        "enum": Colour.RED,
        "path": Path("/x"),
        "set": {"b", "a"},
    }
    out = json.loads(canonical_json(doc))
    assert out == {
        "int": 3,
        "float": 0.5,
        "nan": None,
        "array": [1.0, None],
        "ns": "2024-01-02T03:04:05.000000006",
        "dates": ["2024-01-01"],
        "ts": "2024-01-03T00:00:00",
        "date": "2024-01-04",
        "enum": "red",
        "path": "/x",
        "set": ["a", "b"],
    }


def test_unknown_types_are_refused():
    with pytest.raises(TypeError, match="object"):
        to_jsonable(object())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_hash_ignores_key_order(value):
    if isinstance(value, dict):
        reordered = dict(reversed(list(value.items())))
        assert sha256_json(value) == sha256_json(reordered)
    assert json.loads(canonical_json(value)) == value


@given(
    st.fixed_dictionaries(
        {name: st.text() for name in ("ts", "actor", "role", "action", "subject")}
        | {"seq": st.integers(1, 2**53 - 1), "payload_hash": st.text(max_size=64)}
        | {"prev_hash": st.text(max_size=64), "idempotency_key": st.none() | st.text()}
    )
)
def test_entry_bytes_fast_path_is_rfc8785(fields):
    """The ledger's fast encoder of the hashed fields writes exactly the RFC 8785 bytes."""
    from governance.log.chain import entry_bytes

    try:
        expected = canonical_json(fields)
    except Exception:  # lone surrogates: not encodable, the general encoder decides
        return
    assert entry_bytes(fields) == expected
