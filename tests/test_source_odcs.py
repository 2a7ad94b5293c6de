"""Our source contracts are Open Data Contract Standard documents (issue 26 item 1).

alphagate enforces a subset of ODCS v3 (tasks/data/sources/contract.py). This test holds the
shipped demo contract and the contract the source tests write (tests/helpers_sources.py)
against the standard's own JSON schema: ``tests/data/odcs-3.1.0.schema.json``, copied
unchanged from datacontract-cli 1.2.8 (``datacontract/schemas/``; the schema is bitol-io's,
Apache-2.0), the file ``datacontract lint`` checks a v3.1.0 contract with. It is read with
``jsonschema`` (installed with Great Expectations), so datacontract-cli itself is not a
dependency (docs/sources.md says what was tried).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.helpers_sources import contract_doc

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "tests" / "data" / "odcs-3.1.0.schema.json"


def _errors(doc: dict) -> list[str]:
    import jsonschema

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)
    ]


def test_the_schema_is_the_published_v3_1_0():
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert schema["title"] == "Open Data Contract Standard (ODCS)"
    assert "v3.1.0" in schema["properties"]["apiVersion"]["enum"]


@pytest.mark.parametrize("doc", [
    yaml.safe_load((ROOT / "configs" / "sources" / "revisions.odcs.yaml").read_text()),
    contract_doc(),
    contract_doc(available_at=False, staleness_days=30, coverage=0.9),
], ids=["demo-revisions", "test-source", "test-source-lagged"])  # fmt: skip
def test_our_contracts_are_valid_odcs(doc):
    assert doc["apiVersion"] == "v3.1.0"
    assert _errors(doc) == []


def test_the_schema_refuses_what_odcs_refuses():
    """The check can fail: a member without a username, an unknown logical type, no status,
    an unknown apiVersion."""
    doc = contract_doc()
    doc["team"]["members"][0].pop("username")
    assert [e.split(":")[0] for e in _errors(doc)] == ["team"]
    doc = contract_doc()
    doc["schema"][0]["properties"][0]["logicalType"] = "text"
    assert [e.split(":")[0] for e in _errors(doc)] == ["schema/0/properties/0/logicalType"]
    doc = contract_doc()
    doc.pop("status")
    assert "'status' is a required property" in _errors(doc)[0]
    assert [e.split(":")[0] for e in _errors({**contract_doc(), "apiVersion": "v9"})] == [
        "apiVersion"
    ]
