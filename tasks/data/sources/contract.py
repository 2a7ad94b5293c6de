"""Data contracts of feature sources: the subset of ODCS v3 alphagate reads and enforces.

A source is described by an Open Data Contract Standard (ODCS, bitol-io) v3 YAML file. The
reference validator, datacontract-cli, is not a dependency: it brings its own engines and
connectors, far more than one schema check needs (README "Bring your own data"; the
shipped contracts are held against the standard's JSON schema in tests/test_source_odcs.py). :class:`DataContract` validates the
subset this gate enforces with pydantic instead; every other ODCS key is allowed and kept
untouched, so a full ODCS contract loads as long as this subset is in it:

- ``apiVersion`` (``v3.*``), ``kind: DataContract``, ``id``, ``name``, ``version``, ``status``;
- ``team``: the v3.1 object (``members: [{username, role}]``) or the v3.0 list of members;
  exactly one member has ``role: owner``;
- ``schema``: one object whose ``properties`` describe the columns. ``asset`` (string) and
  ``period`` (date) are required; ``available_at`` (date) is optional when the source config
  declares a publication lag. Every other property is a value column and needs a
  ``description``, ``logicalType: number``, and ``customProperties`` ``unit`` and
  ``expectedSign`` (+1 or -1, as the built-in features declare theirs); optional
  ``logicalTypeOptions`` ``minimum``/``maximum`` (range) and a ``quality`` rule
  ``{metric: nullValues, mustBeLessOrEqualTo: X, unit: percent}`` (null share);
- top-level ``customProperties`` ``maxStalenessDays`` (newest ``available_at`` no older than
  this at the as-of date) and ``minUniverseCoverage`` (share of the market's assets the
  source covers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from governance.ground.canonical import sha256_bytes
from governance.ground.configio import read_yaml, validate_model
from governance.ground.errors import InputError

__all__ = ["Column", "DataContract", "LoadedContract", "load_contract"]

KEYS = ("asset", "period", "available_at")
_KEY_TYPES = {"asset": "string", "period": "date", "available_at": "date"}


class _Open(BaseModel):
    # ODCS has many more keys than alphagate reads: keep them, enforce the subset.
    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False)


class _Custom(_Open):
    property: str
    value: Any = None


class _Quality(_Open):
    metric: str | None = None
    mustBeLessOrEqualTo: float | None = None
    unit: str | None = None


class _Range(_Open):
    minimum: float | None = None
    maximum: float | None = None


class _Property(_Open):
    name: str
    logicalType: str
    description: str | None = None
    required: bool = False
    logicalTypeOptions: _Range | None = None
    customProperties: list[_Custom] = Field(default_factory=list)
    quality: list[_Quality] = Field(default_factory=list)

    def custom(self, key: str) -> Any:
        return next((c.value for c in self.customProperties if c.property == key), None)


class _Object(_Open):
    name: str
    properties: list[_Property] = Field(min_length=1)


class _Member(_Open):
    username: str
    role: str | None = None


class _Team(_Open):
    name: str | None = None
    members: list[_Member] = Field(default_factory=list)


class DataContract(_Open):
    """The ODCS v3 subset (module docstring); other keys pass through."""

    apiVersion: str = Field(pattern=r"^v3\.")
    kind: str = Field(pattern=r"^DataContract$")
    id: str
    name: str
    version: str = Field(min_length=1)
    status: str
    team: _Team | list[_Member]
    schema_: list[_Object] = Field(alias="schema", min_length=1, max_length=1)
    customProperties: list[_Custom] = Field(default_factory=list)

    @field_validator("team")
    @classmethod
    def _one_owner(cls, team):
        members = team.members if isinstance(team, _Team) else team
        owners = [m.username for m in members if (m.role or "").lower() == "owner"]
        if len(owners) != 1:
            raise ValueError(f"needs exactly one member with role owner, found {len(owners)}")
        return team

    @property
    def owner(self) -> str:
        members = self.team.members if isinstance(self.team, _Team) else self.team
        return next(m.username for m in members if (m.role or "").lower() == "owner")

    def custom(self, key: str) -> Any:
        return next((c.value for c in self.customProperties if c.property == key), None)


@dataclass(frozen=True)
class Column:
    """A value column of a source, as its contract declares it."""

    name: str
    description: str
    unit: str
    expected_sign: int
    minimum: float | None
    maximum: float | None
    max_null_share: float | None


@dataclass(frozen=True)
class LoadedContract:
    """A validated contract: who owns it, which version, its columns and source rules.

    ``sha256`` is the contract file's hash: a changed contract is a changed source.
    """

    path: str
    name: str
    version: str
    owner: str
    sha256: str
    has_available_at: bool
    columns: tuple[Column, ...]
    max_staleness_days: int | None
    min_coverage: float | None

    def lineage(self) -> dict[str, str]:
        """What lineage and trial keys name: contract name, version, owner and hash."""
        return {"contract": self.name, "version": self.version, "owner": self.owner,
                "contract_sha256": self.sha256}  # fmt: skip


def _column(label: str, p: _Property) -> Column:
    where = f"{label}: schema.properties.{p.name}"
    if p.logicalType != "number":
        raise InputError(f"{where}: logicalType: a value column must be number")
    if not (p.description or "").strip():
        raise InputError(f"{where}: description: required for a value column")
    unit, sign = p.custom("unit"), p.custom("expectedSign")
    if not unit:
        raise InputError(f"{where}: customProperties: unit is required")
    if sign not in (1, -1):
        raise InputError(f"{where}: customProperties: expectedSign must be 1 or -1")
    share = None
    for q in p.quality:
        if q.metric == "nullValues" and q.mustBeLessOrEqualTo is not None:
            scale = 100.0 if (q.unit or "percent") == "percent" else 1.0
            share = q.mustBeLessOrEqualTo / scale
    rng = p.logicalTypeOptions or _Range()
    return Column(p.name, p.description.strip(), str(unit), int(sign), rng.minimum, rng.maximum,
                  share)  # fmt: skip


def load_contract(path: str | Path, source: str = "") -> LoadedContract:
    """Read and check an ODCS contract file; every problem is one :class:`InputError` line."""
    p = Path(path)
    label = f"source {source}: {p}" if source else str(p)
    contract = validate_model(DataContract, read_yaml(p), label)
    props = {q.name: q for q in contract.schema_[0].properties}
    for key in ("asset", "period"):
        if key not in props:
            raise InputError(f"{label}: schema.properties: {key} is required")
    for key, kind in _KEY_TYPES.items():
        if key in props and props[key].logicalType != kind:
            raise InputError(f"{label}: schema.properties.{key}: logicalType must be {kind}")
    values = tuple(_column(label, q) for n, q in props.items() if n not in KEYS)
    if not values:
        raise InputError(f"{label}: schema.properties: no value column")
    stale, cover = contract.custom("maxStalenessDays"), contract.custom("minUniverseCoverage")
    return LoadedContract(
        path=str(p),
        name=contract.name,
        version=contract.version,
        owner=contract.owner,
        sha256=sha256_bytes(p.read_bytes()),
        has_available_at="available_at" in props,
        columns=values,
        max_staleness_days=None if stale is None else int(stale),
        min_coverage=None if cover is None else float(cover),
    )


def column_map(contract: LoadedContract) -> Mapping[str, Column]:
    """``{name: Column}`` of the value columns."""
    return {c.name: c for c in contract.columns}
