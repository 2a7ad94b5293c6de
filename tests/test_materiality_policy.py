"""The materiality score's breakpoints are the adopted policy's (issue 27, item 1).

Defaults equal the constants the inventory used before (outputs unchanged); a bad value is
exit 2 naming the field; a policy with other breakpoints changes the proposed tier once it
is adopted, and an unadopted edit of the file changes nothing (the command refuses the file,
the evidence pack's inventory keeps the adopted breakpoints).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.helpers_e2e import cli_out
from tests.helpers_identity import POLICY, adopt_policy, enrol_cast, tiny_version

NAME = "scored"
DATA = Path(__file__).resolve().parent / "data"
# six features and 150 distinct trials: one point each under the default breakpoints
TRAINED = {"features": [f"f{i}" for i in range(6)], "trials_total": 150}


@pytest.mark.parametrize(
    ("book", "accounts", "features", "sources", "trials", "score", "tier"),
    [
        (None, None, 0, 0, None, 0, "low"),
        (9.99e6, 9, 4, 0, 100, 0, "low"),  # just below every breakpoint
        (1e7, 10, 5, 1, 101, 5, "high"),  # just at each
        (5e8, 12, 6, 0, 0, 4, "medium"),
        (2e9, 150, 25, 2, 500, 9, "high"),
        (None, None, 6, 1, 150, 3, "medium"),
    ],
)
def test_default_breakpoints_score_as_the_constants_did(
    book, accounts, features, sources, trials, score, tier
):
    from governance.evidence.inventory_record import materiality_score

    drivers = {"book_value": book, "accounts": accounts}
    complexity = {"features": features, "sources": sources, "trials_total": trials}
    assert materiality_score(drivers, complexity) == (score, tier)


def _policy(tmp_path: Path, materiality: dict, name: str = "policy.yaml") -> Path:
    doc = yaml.safe_load(POLICY.read_text())
    doc["materiality"] = materiality
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize(
    ("materiality", "field"),
    [
        ({"book_value": [1e8, 1e7]}, "materiality.book_value"),
        ({"accounts": [0, 10]}, "materiality.accounts"),
        ({"high": 3, "medium": 3}, "materiality"),
        ({"high": 99}, "materiality"),
        ({"features": "many"}, "materiality.features"),
        ({"trials": 0}, "materiality.trials"),
        ({"breakpoints": [1]}, "materiality.breakpoints"),
    ],
)
def test_a_bad_breakpoint_is_exit_2_naming_the_field(workspace, tmp_path, capsys, materiality,
                                                     field):  # fmt: skip
    path = _policy(tmp_path, materiality)
    code, _, err = cli_out(capsys, "config", "check", str(path))
    assert code == 2, err
    assert err.strip().count("\n") == 0 and f"{path}: {field}" in err, err


def _models(capsys, config: Path):
    code, out, err = cli_out(capsys, "models", "--config", str(config), "--json")
    return code, ({m["name"]: m for m in out["models"]} if out else None), err


def _registered(workspace, version, run_id):
    """``model.registered`` as training records it (tasks/model/register.py): the version
    and the seq of its signed training entry (what the inventory reads complexity from)."""
    from governance.ground.vocabulary import Action, Subject
    from governance.log.ledger import Ledger

    with Ledger.open(workspace) as ledger:
        trained = next(e for e in ledger.entries(action=Action.MODEL_TRAINED)
                       if e.payload.get("mlflow_run_id") == run_id)  # fmt: skip
        ledger.append(Action.MODEL_REGISTERED, actor="dana", role="developer",
                      subject=Subject.model(NAME, version),
                      payload={"model_name": NAME, "version": version, "mlflow_run_id": run_id,
                               "status": "candidate", "trained_seq": trained.seq})  # fmt: skip


def test_the_adopted_breakpoints_propose_the_tier(workspace, monkeypatch, capsys, tmp_path):
    from governance.evidence.inventory import inventory_member
    from governance.log.ledger import Ledger

    enrol_cast(workspace, monkeypatch=monkeypatch)  # the live test policy: default breakpoints
    version, run_id = tiny_version(workspace, NAME, trained=TRAINED)
    _registered(workspace, version, run_id)
    config = tmp_path / "small.yaml"
    config.write_text((DATA / "small.yaml").read_text())
    (tmp_path / "policy-live.yaml").write_text(POLICY.read_text())
    code, rows, err = _models(capsys, config)
    assert code == 0, err
    assert (rows[NAME]["materiality"]["score"], rows[NAME]["materiality"]["proposed_tier"]) == (
        2,
        "low",
    )

    # Two officers adopt a policy whose breakpoints read 2 points as high.
    strict = _policy(tmp_path, {"medium": 1, "high": 2}, "strict.yaml")
    with Ledger.open(workspace) as ledger:
        adopt_policy(workspace, ledger, strict)
    (tmp_path / "policy-live.yaml").write_text(strict.read_text())
    code, rows, err = _models(capsys, config)
    assert code == 0, err
    assert rows[NAME]["materiality"]["proposed_tier"] == "high"

    # An unadopted edit back to lenient breakpoints: the command refuses the file (exit 4)...
    lenient = _policy(tmp_path, {"medium": 4, "high": 6}, "policy-live.yaml")
    code, rows, err = _models(capsys, config)
    assert code == 4, err
    assert "a config may not choose its policy" in err, err
    # ... and the evidence pack's inventory, given that file, keeps the adopted breakpoints.
    with Ledger.open(workspace) as ledger:
        member = inventory_member(workspace, ledger, lenient)
    (row,) = [m for m in member["models"] if m["name"] == NAME]
    assert row["materiality"]["proposed_tier"] == "high"
