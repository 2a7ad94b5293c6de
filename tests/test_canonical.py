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


any_text = st.text(st.characters(codec="utf-8"))  # controls, astral and private-use included
mixed_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | any_text
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(any_text | st.text("abcXYZ_-09 "), inner, max_size=4),
    max_leaves=25,
)  # fmt: skip


@given(mixed_values)
def test_the_plain_fast_path_writes_rfc8785s_bytes(value):
    """canonical_json takes the standard library's encoder for plain values (no float, ASCII
    keys, integers within 2**53) and the rfc8785 package for the rest: the bytes are the
    package's either way, or both refuse (an integer beyond RFC 8785's range)."""
    import rfc8785

    try:
        expected = rfc8785.dumps(value)
    except Exception as exc:
        with pytest.raises(type(exc)):
            canonical_json(value)
        return
    assert canonical_json(value) == expected


def test_key_order_is_utf16_code_units_beyond_ascii():
    """Where Python's order (code points) and RFC 8785's (UTF-16 code units) differ, the
    general encoder decides: U+10000 sorts before U+E000 in UTF-16."""
    value = {"\ue000": 1, "\U00010000": 2}
    assert canonical_json(value) == '{"\U00010000":2,"\ue000":1}'.encode()


def test_a_lone_surrogate_is_the_packages_to_judge():
    import rfc8785

    try:
        expected = rfc8785.dumps({"k": "\ud800"})
    except Exception as exc:
        with pytest.raises(type(exc)):
            canonical_json({"k": "\ud800"})
    else:
        assert canonical_json({"k": "\ud800"}) == expected
