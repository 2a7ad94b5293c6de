"""Proportional change control (issue 27, item 2), with real LightGBM and MLflow.

A retrain is classified in its signed ``model.trained`` entry as minor (new data only) or
material (anything else), against the strategy's previous registered version
(governance/registry/change_control.py). One module workspace trains ``alpha`` in order:

1. v1 on the first 800 days, features F3, search S1      -> material (first version)
2. v2 on all 900 days, unchanged                          -> minor (new data only)
3. v3 with one feature added (F4)                         -> material, "features added"
4. v4 = v3 plus one search point                          -> material, "search space changed"
5. v5 = v4 unchanged, on the 800 days again               -> minor (against v4)
"""

from __future__ import annotations

import pytest

from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action, Subject
from governance.registry.change_control import (
    ChangeClass,
    classify,
    trained_entry_of,
    version_change,
)
from tasks.data.synthetic import SyntheticSpec
from tests.helpers_identity import signer
from tests.helpers_train import (
    dev_val_workspace,
    older_panel,
    synthetic_panel,
    train_synthetic,
)

DEV, VAL = "dev-alice", "val-bob"
S1 = [{}, {"num_leaves": 3}]
F3 = ("mom_1m", "mom_3m", "vol_1m")
F4 = (*F3, "rev_1w")
SPEC = SyntheticSpec(n_assets=40, n_days=900, ic=0.05, seed=1)


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    yield from dev_val_workspace(
        tmp_path_factory, "change", ((DEV, "developer"), (VAL, "validator"))
    )


@pytest.fixture(scope="module")
def runs(ws):
    full = synthetic_panel(SPEC)
    old = older_panel(full, 800)

    def train(panel, names, search):
        res, _ = train_synthetic(
            ws, model={"name": "alpha", "search": search}, features={"names": names}, panel=panel
        )
        return res

    return [
        train(old, F3, S1),
        train(full, F3, S1),
        train(full, F4, S1),
        train(full, F4, [*S1, {"num_leaves": 15}]),
        train(old, F4, [*S1, {"num_leaves": 15}]),
    ]


def _signed(ws, res) -> dict:
    from governance.log.ledger import Ledger

    with Ledger.open(ws) as ledger:
        (entry,) = ledger.entries_between(res.ledger_seq, res.ledger_seq)
    return entry.payload


def _computed(ws, version):
    from governance.log.ledger import Ledger

    with Ledger.open(ws) as ledger:
        return version_change(ledger, ModelRef.parse("alpha", version))


def test_versions_are_classified_in_their_signed_entries(ws, runs):
    changes = [_signed(ws, r)["change"] for r in runs]
    assert [c["class"] for c in changes] == ["material", "minor", "material", "material", "minor"]
    assert [c["baseline_version"] for c in changes] == [None, "1", "2", "3", "4"]
    assert changes[0]["reasons"] == ["first version: no previous version to compare with"]
    assert changes[1]["reasons"] == [] and changes[4]["reasons"] == []
    assert changes[2]["reasons"] == ["features added: rev_1w"]
    assert changes[3]["reasons"] == ["search space changed: 1 search points added, 0 removed"]
    # readers compute the same class again from the signed entries
    for res, c in zip(runs, changes, strict=True):
        assert _computed(ws, res.version).to_json() == c


def test_the_registry_tags_show_the_class(ws, runs):
    from governance.registry.recorder import mlflow_client

    client = mlflow_client(ws)
    tags = [client.get_model_version("alpha", str(r.version)).tags for r in runs]
    assert [t["change_class"] for t in tags] == [
        "material", "minor", "material", "material", "minor",
    ]  # fmt: skip
    assert [t["change_baseline"] for t in tags] == ["", "1", "2", "3", "4"]


def test_status_and_the_inventory_show_the_class(ws, runs, capsys):
    """``status --json`` carries ``change``; ``models --json`` each model's (here v5's)."""
    from tests.helpers_e2e import SMALL, cli_json

    # SMALL names the policy the workspace adopted (tests/data/policy-live.yaml)
    code, report = cli_json(
        capsys, "status", "--model", "alpha", "--model-version", "3", "--config", SMALL
    )
    assert code == 0, report
    assert report["change"] == {
        "class": "material", "baseline_version": "2",
        "baseline_seq": runs[1].ledger_seq, "reasons": ["features added: rev_1w"],
    }  # fmt: skip
    code, inv = cli_json(capsys, "models", "--config", SMALL)
    assert code == 0
    (row,) = inv["models"]
    assert row["version"] == str(runs[4].version)
    assert row["change"]["class"] == "minor" and row["change"]["baseline_version"] == "4"


def test_a_new_source_or_contract_version_is_material(ws, runs):
    """The pure comparison on v2's real payload with a source added, then re-versioned."""
    base = _signed(ws, runs[1])
    src = {"source": "fundamentals", "contract": "fund", "version": 1, "contract_sha256": "a" * 64}
    added = {**base, "sources": [src]}
    assert classify(added, base).reasons == ("source added: fundamentals",)
    bumped = {**base, "sources": [{**src, "version": 2, "contract_sha256": "b" * 64}]}
    got = classify(bumped, added)
    assert got.change_class is ChangeClass.MATERIAL
    assert got.reasons == ("source fundamentals: contract ('fund', 1) -> ('fund', 2)",)
    assert classify({**base, "horizon": 5}, base).reasons == ("label horizon 21 -> 5",)
    assert classify({**base, "trial_keys": []}, base).change_class is ChangeClass.MATERIAL
    assert classify(base, base).change_class is ChangeClass.MINOR
    # malformed fields in a hand-made entry classify, they never raise
    odd = {**base, "trial_keys": [{"k": 1}], "features": "mom_1m"}
    assert classify(odd, base).change_class is ChangeClass.MATERIAL


def test_editing_the_registry_tag_or_the_config_after_training_changes_nothing(ws, runs):
    """A developer re-tags v3 ``minor`` and edits the config back to v2's features: status
    and the inventory still read material from the signed entry (no config is read)."""
    from governance.registry.recorder import mlflow_client

    mlflow_client(ws).set_model_version_tag("alpha", str(runs[2].version), "change_class", "minor")
    got = _computed(ws, runs[2].version)
    assert got.change_class is ChangeClass.MATERIAL
    assert got.reasons == ("features added: rev_1w",)


def test_a_config_edited_back_before_validation_still_validates_a_material_change(
    ws, runs, tmp_path, capsys
):
    """Attack: v3 added a feature (material); before validation the developer edits the run
    config back to v2's features and search, hoping v3 passes as minor. Validation reads
    the class from the signed training entries: its signed report and entry say material."""
    v3 = str(runs[2].version)
    entry, report = _validated(ws, v3, tmp_path, capsys)
    assert entry.payload["change_class"] == "material"
    assert report["change"]["class"] == "material"
    assert report["change"]["reasons"] == ["features added: rev_1w"]
    assert entry.payload["comparison"] is None  # a material change is not compared


def _validated(ws, version: str, tmp_path, capsys):
    """``alphagate validate`` of ``alpha`` v``version`` by val-bob under a run config naming
    v2's features and search; the signed entry and its report."""
    import shutil
    from pathlib import Path

    from flows.cli import main
    from governance.log.ledger import Ledger

    repo = Path(__file__).resolve().parents[1]
    shutil.copy(repo / "tests" / "data" / "policy-live.yaml", tmp_path / "policy.yaml")
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        "model:\n  name: alpha\n  search: [{}, {num_leaves: 3}]\n"
        f"features:\n  names: [{', '.join(F3)}]\n"
        "validation:\n  shap_sample: 300\n  cscv_partitions: 4\n"
        "policy:\n  file: policy.yaml\n  tier: high\n",
        encoding="utf-8",
    )
    argv = ["validate", "--config", str(cfg), "--model-version", version, "--as", VAL, "--json"]
    assert main(argv) in (0, 3), capsys.readouterr().err
    with Ledger.open(ws) as ledger:
        subject = Subject.model("alpha", version)
        entry = ledger.last(action=Action.VALIDATION_COMPLETED, subject=subject)
        return entry, ledger.store.read_json(entry.payload["report_json_sha256"])


def test_a_minor_change_is_compared_with_its_baseline_in_its_signed_validation(
    ws, runs, tmp_path, capsys
):
    """v2 (minor against v1): the validator's process scores v2's holdout with v1 too
    (validation/comparison.py); the figures and the breaches of the tier's
    ``change.comparison`` bounds are in the signed entry and in the report."""
    entry, report = _validated(ws, str(runs[1].version), tmp_path, capsys)
    compared = entry.payload["comparison"]
    assert compared == report["change"]["comparison"]
    assert compared["baseline_version"] == str(runs[0].version)
    assert {"ic_change_tstat", "relative_turnover", "importance_rank_corr"} <= set(compared)
    assert compared["bounds"]["max_relative_turnover"] == 0.75  # the default bounds
    assert isinstance(compared["breaches"], list)


def test_a_hand_signed_entry_claiming_minor_counts_as_material(ws, runs):
    """The developer signs, with their own key, a copy of v2's training entry that records
    ``minor`` and registers it as a new version: the class is computed again (material
    against v5, whose features and search differ) and the stricter of the two is kept."""
    from governance.identity.signing import append_signed
    from governance.log.ledger import Ledger

    with Ledger.open(ws) as ledger:
        body = {k: v for k, v in _signed(ws, runs[1]).items() if not _sig(k)}
        body["change"] = {"class": "minor", "baseline_version": "5", "reasons": []}
        body["run_key"] = "forged"
        forged = append_signed(
            ledger, signer(ws, DEV, ledger), Action.MODEL_TRAINED,
            subject=Subject.strategy("alpha"), payload=body,
        )  # fmt: skip
        ledger.append(
            Action.MODEL_REGISTERED, actor="alphagate", role="system",
            subject=Subject.model("alpha", 99),
            payload={"model_name": "alpha", "version": 99, "trained_seq": forged.seq},
        )  # fmt: skip
        assert trained_entry_of(ledger, ModelRef("alpha", 99)).seq == forged.seq
        got = version_change(ledger, ModelRef("alpha", 99))
    assert got.change_class is ChangeClass.MATERIAL
    assert got.baseline_version == "5"
    assert "features removed: rev_1w" in got.reasons


def test_a_training_entry_of_another_strategy_is_no_evidence(ws, runs):
    """A registration pointing at another strategy's signed entry is no training entry."""
    from governance.log.ledger import Ledger

    with Ledger.open(ws) as ledger:
        ledger.append(
            Action.MODEL_REGISTERED, actor="alphagate", role="system",
            subject=Subject.model("beta", 1),
            payload={"model_name": "beta", "version": 1, "trained_seq": runs[1].ledger_seq},
        )  # fmt: skip
        ledger.append(
            Action.MODEL_REGISTERED, actor="alphagate", role="system",
            subject=Subject.model("beta", 2),
            payload={"model_name": "beta", "version": 2, "trained_seq": "not a seq"},
        )  # fmt: skip
        got = version_change(ledger, ModelRef("beta", 1))
        odd = version_change(ledger, ModelRef("beta", 2))
    assert got.change_class is ChangeClass.MATERIAL
    assert got.reasons == ("v1 has no valid signed model.trained entry",)
    assert odd.reasons == ("v2 has no valid signed model.trained entry",)


def _sig(key: str) -> bool:
    from governance.log.bound import SIGNATURE_FIELDS

    return key in SIGNATURE_FIELDS or key in ("signature_scheme", "artifacts")
