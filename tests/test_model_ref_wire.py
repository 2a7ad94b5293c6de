"""``ModelRef`` changes no wire format (issue 21).

Code passes a model version as a :class:`~governance.ground.refs.ModelRef` (its version an
int); what is signed and recorded keeps the spelling it always had: ``model_version`` is the
registry's string in every signed document. Each document type that names a version is
built by its production builder from the registry's facts, read back into a ref at the
boundary, built again from that ref, and must come out byte-identical in canonical JSON.

A second guard keeps the ``int | str`` version from coming back: no parameter or field whose
name says version is annotated with both ``int`` and ``str`` in governance/, flows/, tasks/
or validation/ (an AST walk, like tests/test_vocabulary.py's greps). Two more keep the loose
forms from coming back: no function takes a model's name and a version side by side, and
``str()``/``int()`` of a version happens only at the boundaries listed (each with its reason).
"""

from __future__ import annotations

import ast
import datetime as dt
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from governance.decisions import approvals, retirement
from governance.findings import accept
from governance.findings.register import FindingRecord, finding_id
from governance.findings.verdict import ValidationFacts
from governance.ground.canonical import canonical_json
from governance.ground.refs import ModelRef
from governance.policy.schema import Severity
from governance.registry.versions import ModelFacts

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("governance", "flows", "tasks", "validation")
FIXED = "2026-01-02T03:04:05.000006+00:00"

#: Where a version may still be ``int | str``, and why (the list only shrinks).
BOUNDARIES = {
    # the ledger's subject builder spells a version as recorded, from a payload's string
    # or a ref's number alike (57 callers; the subject string is the same either way)
    ("governance/ground/vocabulary.py", "model"),
}


def _facts(version: int = 3) -> ModelFacts:
    """What the registry says (read once: ``ModelVersion.version`` is a string there)."""
    return ModelFacts(
        name="alpha", version=version, run_id="r" * 32, developer="dana", status="candidate",
        data_fingerprint="f" * 64, model_artifact_hash="a" * 64,
    )  # fmt: skip


def _from_ref(ref: ModelRef) -> ModelFacts:
    """The facts again, from the ref read back out of the recorded document."""
    return replace(_facts(), name=ref.name, version=ref.version)


VALIDATION = ValidationFacts("pass", "h" * 64, "e" * 64, 7, validator="vera")


def _approval(facts: ModelFacts) -> dict:
    return approvals.approval_document(
        facts, VALIDATION, decision="approve", reason="ok", user="vera", role="validator",
        policy_hash="p" * 64, tier="high", graduation={"passed": True, "figures": {}},
    )  # fmt: skip


def _retirement(facts: ModelFacts) -> dict:
    return retirement.retirement_document(
        facts, policy_hash="p" * 64, head=(9, "9" * 64), reason="superseded"
    )


def _record(facts: ModelFacts) -> FindingRecord:
    return FindingRecord(
        id=finding_id(facts.ref, 1), model_name=facts.name,
        model_version=facts.version, number=1, check="ic_decay", about="", message="m",
        severity=Severity.WARNING, value=0.1, threshold=0.2, validator="vera", created=FIXED,
        first_seq=7, validation_seq=7,
    )  # fmt: skip


def _acceptance(facts: ModelFacts) -> dict:
    record = _record(facts)
    return accept.acceptance_document(
        record, validation_entry_hash="e" * 64, reason="known", until=dt.date(2026, 3, 1),
        control=None, user="rita", role="risk_officer", policy_hash="p" * 64, tier="high",
    )  # fmt: skip


class _Clock(dt.datetime):
    @classmethod
    def now(cls, tz=None):
        return dt.datetime.fromisoformat(FIXED)


@pytest.fixture
def frozen(monkeypatch):
    """The builders' clock and ids held still, so two builds can be compared byte for byte."""
    monkeypatch.setattr(approvals, "_now", lambda: FIXED)
    monkeypatch.setattr(accept.dt, "datetime", _Clock)
    monkeypatch.setattr(retirement.uuid, "uuid4", lambda: uuid.UUID(int=7))


@pytest.mark.parametrize("build", [_approval, _retirement, _acceptance])
def test_every_signed_document_round_trips_through_a_ref_byte_for_byte(frozen, build):
    recorded = build(_facts(3))
    ref = ModelRef.parse(recorded["model_name"], recorded["model_version"])  # read at the boundary
    assert ref == ModelRef("alpha", 3)
    again = build(_from_ref(ref))
    assert canonical_json(again) == canonical_json(recorded)
    # the spelling every existing ledger holds: the version as a JSON string
    assert b'"model_version":"3"' in canonical_json(recorded)
    assert isinstance(recorded["model_version"], str)


def test_views_and_packs_spell_a_version_as_they_always_did():
    """The facts an evidence pack records (``mlflow/model_version.json``) and the standing
    every view records hold the version as the registry's string, though code holds ints."""
    from governance.decisions.standing import Stage, Standing
    from governance.registry.change_control import ChangeClass, Classification

    facts = _facts(12)
    assert facts.to_json()["version"] == "12" and facts.ref == ModelRef("alpha", 12)
    here = Standing(
        name="alpha", version=12, stage=Stage.CHAMPION, verdict="pass", validator="vera",
        validation_seq=3, developer="dana", champion=12, killswitch="armed",
        workspace_switch="armed", strategy_switch="armed", halted=False,
    )  # fmt: skip
    shown = here.to_json()
    assert (shown["version"], shown["champion"]) == ("12", "12") and here.is_champion
    assert replace(here, champion=None).to_json()["champion"] is None
    # a baseline is recorded as a string; its number compares with versions
    change = Classification(ChangeClass.MINOR, "9", 4)
    assert change.to_json()["baseline_version"] == "9" and change.baseline == 9 < 12
    assert Classification(ChangeClass.MINOR, "v9", 4).baseline is None  # forged: no number


def test_a_findings_digest_and_json_spell_its_version_as_every_signed_acceptance_did():
    """Acceptances sign a finding's digest: it is computed over the version as recorded (the
    string), so a digest signed before the record held a number still matches."""
    from governance.findings.register import finding_digest
    from governance.ground.canonical import sha256_json

    record = _record(_facts(3))
    recorded = {"id": "F-alpha-v3-1", "model_name": "alpha", "model_version": "3",
                "check": "ic_decay", "about": "", "severity": "warning", "message": "m",
                "value": 0.1, "threshold": 0.2}  # fmt: skip
    assert finding_digest(record) == sha256_json(recorded)
    assert record.to_json()["model_version"] == "3" and record.ref == ModelRef("alpha", 3)


def test_a_promotion_state_shows_its_version_as_status_json_always_did():
    from governance.decisions.promotion import PromotionState

    shown = PromotionState(model_name="alpha", version=12, verdict="pass", developer="dana")
    assert shown.to_json()["version"] == "12"


def test_a_finding_id_is_spelled_as_before():
    """Finding ids are recorded (payloads, acceptance documents): ``F-<model>-v<N>-<n>``."""
    assert finding_id(ModelRef.parse("alpha", "12"), 3) == "F-alpha-v12-3"


def _mixed_versions(path: Path) -> list[str]:
    """``name`` of each parameter or field of ``path`` whose name says version and whose
    annotation admits both ``int`` and ``str``, as ``function.parameter``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []

    def mixed(annotation) -> bool:
        if annotation is None:
            return False
        if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
            annotation = ast.parse(annotation.value, mode="eval").body  # a string annotation
        names = {n.id for n in ast.walk(annotation) if isinstance(n, ast.Name)}
        return {"int", "str"} <= names

    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            a = node.args
            for arg in (*a.posonlyargs, *a.args, *a.kwonlyargs):
                if "version" in arg.arg and mixed(arg.annotation):
                    out.append(f"{node.name}.{arg.arg}")
        elif (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and "version" in node.target.id
            and mixed(node.annotation)
        ):
            out.append(node.target.id)
    return out


def test_no_version_is_int_or_str_any_more():
    """A model version inside the code is a ``ModelRef`` (or an ``int`` where the name is
    implied); ``int | str`` only where data crosses a boundary listed in BOUNDARIES."""
    found = []
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for name in _mixed_versions(path):
                if (rel, name.split(".")[0]) not in BOUNDARIES:
                    found.append(f"{rel}: {name}")
    assert found == []


def test_the_guard_sees_each_spelling_of_int_or_str(tmp_path):
    """The guard itself fails on the forms the code used (the test that fails on purpose)."""
    src = tmp_path / "m.py"
    src.write_text(
        "from typing import Optional, Union\n"
        "def a(name: str, version: int | str): ...\n"
        "def b(model_version: 'str | int | None' = None): ...\n"
        "def c(*, baseline_version: Optional[Union[int, str]] = None): ...\n"
        "class D:\n    version: int | str\n"
        "def ok(version: int, ref_version: str, raw: int | str): ...\n"
    )
    assert _mixed_versions(src) == ["a.version", "b.model_version", "c.baseline_version",
                                    "version"]  # fmt: skip


#: Functions that still take a model's name and a version side by side, and why (the list
#: only shrinks: a ``ModelRef`` is the one value code passes around).
PAIRS = {
    ("governance/ground/vocabulary.py", "model"):
        "the subject builder spells a version as recorded, from a payload's text or a number",
    ("governance/registry/store_reader.py", "get_model_version"):
        "mirrors MlflowClient.get_model_version(name, version): the registry's own call",
    ("flows/review.py", "review_flow"):
        "a Prefect deployment's parameters (JSON from a form or a schedule), read into a ref",
}  # fmt: skip
_NAMES = {"name", "model_name", "model", "strategy"}
_NOT_MODEL = {"policy_version", "schema_version", "contract_version", "pandas_version"}


def _says_version(word: str) -> bool:
    return word in ("version", "model_version") or (
        word.endswith("_version") and word not in _NOT_MODEL
    )


def _pairs(path: Path) -> list[str]:
    """Functions of ``path`` with a model-name parameter and a version parameter."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            a = node.args
            names = {x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)}
            if names & _NAMES and any(_says_version(n) for n in names):
                out.append(node.name)
    return out


def _walk(fn):
    found = []
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            found += [(rel, name) for name in fn(path)]
    return found


def test_no_function_takes_a_name_and_a_version_side_by_side():
    """A version is a ``ModelRef`` (its name inside), never a loose ``(name, version)`` pair
    that a caller can mismatch; the exceptions are listed with their reasons."""
    found = _walk(_pairs)
    assert sorted(set(found) - set(PAIRS)) == []
    assert sorted(set(PAIRS) - set(found)) == []  # a converted one leaves the list


#: Where a version is still converted with ``str()``/``int()``, and why: each crosses a
#: boundary (the list only shrinks; elsewhere ``ModelRef.number``/``recorded_number`` read
#: a version and ``ModelRef.version_text``/``mlflow`` spell it).
CONVERSIONS = {
    ("governance/ground/refs.py", "version_text"): "the one spelling of a version as text",
    ("governance/registry/versions.py", "champion_version"):
        "the registry's alias, as model.promoted records it (a string)",
    ("governance/registry/store_reader.py", "_versions"): "the registry's SQLite rows",
    ("governance/registry/store_reader.py", "search_registered_models"):
        "the registry's SQLite rows",
    ("governance/registry/change_control.py", "_registered"):
        "a baseline version as the signed change class records it (a string)",
    ("governance/evidence/history.py", "_paper_fact"):
        "history --json spells a recorded version as a string",
    ("governance/evidence/history.py", "_retired"):
        "history --json spells a recorded version as a string",
    ("governance/policy/adoption.py", "pending_adoptions"): "a policy's version, no model's",
    ("governance/policy/adoption.py", "_fold"): "a policy's version, no model's",
}  # fmt: skip


def _versionish(e) -> bool:
    """``version``, ``x.version``, ``p["model_version"]``, ``p.get("model_version")``."""
    key = None
    if isinstance(e, ast.Name):
        key = e.id
    elif isinstance(e, ast.Attribute):
        key = e.attr
    elif isinstance(e, ast.Subscript) and isinstance(e.slice, ast.Constant):
        key = e.slice.value
    elif isinstance(e, ast.Call) and isinstance(e.func, ast.Attribute) and e.func.attr == "get":
        key = e.args[0].value if e.args and isinstance(e.args[0], ast.Constant) else None
    return isinstance(key, str) and "version" in key and key not in _NOT_MODEL


def _conversions(path: Path) -> list[str]:
    """Enclosing function of each ``str(<version>)`` or ``int(<version>)`` of ``path``."""
    out = []

    def visit(node, where):
        for child in ast.iter_child_nodes(node):
            inner = (
                child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else where
            )
            if (isinstance(child, ast.Call) and isinstance(child.func, ast.Name)
                    and child.func.id in ("str", "int") and len(child.args) == 1
                    and _versionish(child.args[0])):  # fmt: skip
                out.append(where)
            visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8")), "<module>")
    return out


def test_versions_are_converted_at_their_boundaries_only():
    """``str(version)``/``int(version)`` only where a version crosses a boundary listed in
    CONVERSIONS, and each listed one still does (so the list only shrinks)."""
    found = _walk(_conversions)
    assert sorted(set(found) - set(CONVERSIONS)) == []
    assert sorted(set(CONVERSIONS) - set(found)) == []


def test_the_guards_see_a_pair_and_each_spelling_of_a_conversion(tmp_path):
    """Both guards fail on the forms the code used (the tests that fail on purpose)."""
    src = tmp_path / "m.py"
    src.write_text(
        "def a(ledger, name, version): ...\n"
        "def b(strategy: str, model_version: int): ...\n"
        "def ok(ref, policy_version, name): ...\n"
        "def c(p, facts, version):\n"
        "    return str(p.get('model_version')), int(p['version']), str(facts.version),"
        " int(version), str(p.get('policy_version'))\n"
    )
    assert _pairs(src) == ["a", "b"]
    assert _conversions(src) == ["c"] * 4
