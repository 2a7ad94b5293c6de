"""The policy in force is adopted by two risk officers; a config cannot shop for another.

Through ``flows.cli.main`` with personal keys (tests/helpers_identity.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flows.cli import main
from governance.ground.canonical import sha256_file
from governance.ground.vocabulary import Action
from governance.log.ledger import Ledger
from tests.helpers_e2e import cli_out as _cli
from tests.helpers_identity import enrol_cast

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def files(tmp_path):
    """The shipped policy, a shopped copy (max weight 0.60, no automatic trips), configs."""
    shipped = tmp_path / "policy.yaml"
    shutil.copy(REPO / "configs" / "policy.yaml", shipped)
    shopped = tmp_path / "shopped.yaml"
    text = shipped.read_text()
    shopped.write_text(text.replace("max_weight: 0.10", "max_weight: 0.60", 1) + "\n# shopped\n")
    for name, pol in (("run.yaml", shipped), ("shop.yaml", shopped)):
        (tmp_path / name).write_text(f"policy: {{file: {pol.name}, tier: high}}\n")
    return tmp_path


def test_two_distinct_officers_adopt_and_show_prints_history(workspace, monkeypatch, files, capsys):
    enrol_cast(workspace, monkeypatch=monkeypatch, policy=None)
    shipped = str(files / "policy.yaml")
    assert _cli(capsys, "policy", "show", "--json")[1]["in_force"] is None
    # nothing may be decided before a policy is adopted
    code, _, err = _cli(capsys, "killswitch", "reset", "--config", str(files / "run.yaml"),
                        "--as", "rita", "--reason", "x", "--incident", "I")  # fmt: skip
    assert code == 4 and "no policy is in force" in err
    code, out, _ = _cli(capsys, "policy", "adopt", shipped, "--as", "rita", "--json")
    assert code == 0 and out["in_force"] is None
    # one of two signatures: `policy show` names it and who must sign next (issue 29 item 4)
    code, shown, _ = _cli(capsys, "policy", "show", "--json")
    (waiting,) = shown["pending"]
    assert (waiting["signer"], waiting["policy_hash"]) == ("rita", sha256_file(shipped))
    capsys.readouterr()
    assert main(["policy", "show"]) == 0
    text = capsys.readouterr().out
    assert f"awaiting a second risk officer: policy {waiting['version']}" in text
    assert "signed by rita" in text and "alphagate policy adopt FILE" in text
    code, _, err = _cli(capsys, "policy", "adopt", shipped, "--as", "rita")
    assert code == 4 and "distinct second person" in err  # one officer cannot adopt alone
    assert _cli(capsys, "policy", "adopt", shipped, "--as", "dana")[0] == 4  # a developer
    assert _cli(capsys, "policy", "adopt", shipped, "--as", "ada")[0] == 4  # the admin
    code, out, _ = _cli(capsys, "policy", "adopt", shipped, "--as", "omar", "--json")
    assert code == 0 and out["in_force"]["signers"] == ["rita", "omar"]
    code, shown, _ = _cli(capsys, "policy", "show", "--json")
    assert shown["in_force"]["policy_hash"] == sha256_file(shipped) and not shown["sandbox"]
    assert shown["pending"] == []  # adopted: nothing waits
    with Ledger.open(workspace) as ledger:
        assert len(ledger.entries(action=Action.POLICY_ADOPTION_REFUSED)) == 3
    assert _cli(capsys, "ledger", "verify")[0] == 0


def test_policy_shopping_is_exit_4_naming_both_hashes(workspace, monkeypatch, files, capsys):
    shipped = REPO / "configs" / "policy.yaml"
    enrol_cast(workspace, monkeypatch=monkeypatch, policy=shipped)  # the shipped policy in force
    shop = str(files / "shop.yaml")
    adopted, shopped = (
        sha256_file(shipped),
        sha256_file(files / "shopped.yaml"),
    )
    for argv in (
        ["approve", "--config", shop, "--model-version", "1", "--as", "vera"],
        ["validate", "--config", shop, "--model-version", "1", "--as", "vera"],
        ["killswitch", "reset", "--config", shop, "--as", "rita", "--reason", "r"],
    ):
        code, _, err = _cli(capsys, *argv)
        assert code == 4, argv
        assert adopted in err and shopped in err and err.count("\n") == 1
    # editing the adopted file after the fact is the same attack: its hash changed
    run = files / "run.yaml"
    (files / "policy.yaml").write_text((files / "shopped.yaml").read_text())
    code, _, err = _cli(capsys, "approve", "--config", str(run), "--model-version", "1",
                        "--as", "vera")  # fmt: skip
    assert code == 4 and adopted in err


def test_a_sandbox_workspace_may_name_any_policy_and_says_so(workspace, monkeypatch, files, capsys):
    enrol_cast(workspace, monkeypatch=monkeypatch, sandbox=True)
    code, shown, _ = _cli(capsys, "policy", "show", "--json")
    assert code == 0 and shown["sandbox"] is True
    from flows.config import load_config
    from governance.policy.config import tier_for

    bound = tier_for(load_config(files / "shop.yaml"))
    assert bound.force.sandbox and bound.tier.pretrade.max_weight == 0.60
