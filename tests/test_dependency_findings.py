"""A dependency version change raises findings on the dependent models (issue 27).

Three champions in one workspace: two trained with this environment's vendor components
signed in their ``model.trained`` entries (tasks/model/tracking.py ``vendor_components``), one
from before components were recorded. A simulated solver upgrade (cvxpy's version in the
environment about to use them) raises ``dependency_changed`` about cvxpy on the two that
recorded it, once; the third, validated against nothing recorded, gets none. A price-vendor
change is a finding too; an unchanged environment raises nothing.
"""

from __future__ import annotations

import copy

import pytest

from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action

MODELS = ("dep-a", "dep-b")


@pytest.fixture()
def champions(workspace, monkeypatch):
    from tasks.model.tracking import python_environment, vendor_components
    from tests.helpers_identity import enrol_cast, promoted_version

    enrol_cast(workspace, monkeypatch=monkeypatch)
    recorded = vendor_components(python_environment(), {"source": "demo"})
    assert "cvxpy" in recorded["packages"] and recorded["price_vendor"] == "demo"
    for name in MODELS:
        _registered(
            workspace, name, *promoted_version(workspace, name, trained={"components": recorded})
        )
    _registered(workspace, "dep-old", *promoted_version(workspace, "dep-old"))  # no components
    return recorded


def _registered(workspace, name, version, run_id):
    """``model.registered`` as training records it (tasks/model/register.py): the version
    and the seq of its signed training entry."""
    from governance.ground.vocabulary import Subject
    from governance.log.ledger import Ledger

    with Ledger.open(workspace) as ledger:
        trained = next(e for e in ledger.entries(action=Action.MODEL_TRAINED)
                       if e.payload.get("mlflow_run_id") == run_id)  # fmt: skip
        ledger.append(Action.MODEL_REGISTERED, actor="dana", role="developer",
                      subject=Subject.model(name, version),
                      payload={"model_name": name, "version": version, "mlflow_run_id": run_id,
                               "status": "candidate", "trained_seq": trained.seq})  # fmt: skip


def _findings(ledger):
    from governance.findings.register import load_register

    return {(r.model_name, r.check, r.about, r.status.value) for r in load_register(ledger).records
            if r.origin == "dependency"}  # fmt: skip


def test_a_solver_version_change_raises_a_finding_on_each_dependent_model(workspace, champions):
    from governance.decisions.dependencies import flag_dependency_changes
    from governance.log.ledger import Ledger

    with Ledger.open(workspace) as ledger:
        assert flag_dependency_changes(ledger, champions) == []  # the same environment
        upgraded = copy.deepcopy(champions)
        upgraded["packages"]["cvxpy"] = "99.0.0"  # the simulated solver upgrade
        raised = flag_dependency_changes(ledger, upgraded)
        assert sorted((r.model_name, r.about) for r in raised) == [
            ("dep-a", "cvxpy"), ("dep-b", "cvxpy"),
        ]  # fmt: skip
        assert all(r.severity.value == "warning" and "99.0.0" in r.message for r in raised)
        # once while it stands: the next rebalance in the same environment records nothing
        head = ledger.head()[0]
        assert flag_dependency_changes(ledger, upgraded) == [] and ledger.head()[0] == head
        assert _findings(ledger) == {
            ("dep-a", "dependency_changed", "cvxpy", "open"),
            ("dep-b", "dependency_changed", "cvxpy", "open"),
        }
        entry = ledger.entries(action=Action.FINDING_RAISED)[-1]
        assert entry.payload["origin"] == "dependency"
        assert entry.payload["components_now"]["packages"]["cvxpy"] == "99.0.0"

        # another price vendor, seen by one strategy's rebalance: only that strategy
        moved = {**champions, "price_vendor": "file"}
        raised = flag_dependency_changes(ledger, moved, strategies=("dep-b",))
        assert [(r.model_name, r.about) for r in raised] == [("dep-b", "price_vendor")]


def test_the_components_are_signed_in_the_training_entry(workspace, champions):
    """A forger who rewrites the recorded versions in an unsigned copy changes nothing: the
    reader takes the entry only when it holds as the developer's signed act."""
    from governance.log.ledger import Ledger
    from governance.registry.change_control import trained_entry_of

    with Ledger.open(workspace) as ledger:
        entry = trained_entry_of(ledger, ModelRef("dep-a", 1))
        assert entry.payload["signed"]["components"] == champions
