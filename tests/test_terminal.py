"""The terminal: --version, help on every option, usage errors, the one-screen summary."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from flows.cli import WORKFLOW, build_parser, main
from flows.summary import WIDTH, RunSummary, capped, render

REPO = Path(__file__).resolve().parents[1]


def _actions(parser: argparse.ArgumentParser, path=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _actions(sub, (*path, name))
        elif not isinstance(action, argparse._HelpAction | argparse._VersionAction):
            yield " ".join(path), action


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("alphagate ")


def test_every_option_has_help():
    missing = [f"{cmd} {a.option_strings or a.dest}" for cmd, a in _actions(build_parser())
               if not a.help]  # fmt: skip
    assert missing == []


def test_commands_are_listed_in_workflow_order():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    listed = [a.dest for a in sub._choices_actions]
    known = [c for c in listed if c in WORKFLOW]
    assert known == sorted(known, key=WORKFLOW.index)
    assert listed.index("run") < listed.index("approve") < listed.index("rebalance")


@pytest.mark.parametrize(
    "argv",
    [
        ["approve", "--model-version", "1"],
        ["reject", "--model-version", "1", "--reason", "x"],
        ["killswitch", "trip", "--reason", "x"],
    ],
    ids=["approve", "reject", "trip"],
)
def test_a_missing_actor_is_a_usage_error(workspace, monkeypatch, capsys, argv):
    monkeypatch.delenv("ALPHAGATE_USER", raising=False)
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2 and "--as" in capsys.readouterr().err


def test_config_check_knows_a_policy_file_and_checks_the_policy_a_config_names(workspace, capsys):
    assert main(["config", "check", str(REPO / "configs" / "policy.yaml")]) == 0
    assert "a policy file (tiers high" in capsys.readouterr().out
    assert main(["config", "check", str(REPO / "configs" / "demo.yaml")]) == 0
    out = capsys.readouterr().out
    assert "a run config" in out and "policy policy.yaml: ok, tier high" in out


def test_summary_fits_100_columns_and_never_cuts_silently():
    s = RunSummary(kind="pipeline", flow_run_id="f" * 36)
    s.halt("validation", [f"reason {i} " + "word " * 40 for i in range(8)])
    lines = [f"[warning] shap_sign: feature f{i}: " + "long explanation " * 12 for i in range(9)]
    s.note("validation", headline="REVIEW " + "x" * 150, details=capped(lines, 6, "the report"))
    text = render(s)
    assert max(len(line) for line in text.splitlines()) <= WIDTH
    assert "+3 more — see the report" in text
    assert "+3 more — see `alphagate ledger show`" in text


def test_the_published_weights_and_trades_paths_print_whole(tmp_path):
    """A path longer than the 100 columns is printed on one line, unbroken, so it can be
    pasted; the rest of the summary still wraps."""
    folder = tmp_path / ("strategy-" + "x" * 90) / "2022-12-28-model"
    s = RunSummary(kind="rebalance", flow_run_id="f" * 36)
    s.portfolio = {"weights_path": str(folder / "weights.csv"),
                   "trades_path": str(folder / "trades.csv")}  # fmt: skip
    lines = [line.split() for line in render(s).splitlines()]
    assert ["weights", str(folder / "weights.csv")] in lines
    assert ["trades", str(folder / "trades.csv")] in lines


def test_a_printed_command_is_never_wrapped():
    """A command the summary suggests (``alphagate validate ... --config FILE``) is one line
    however long, so that it runs as printed (issue 29, item 2); prose around it wraps."""
    cmd = ("alphagate validate --model team-walkthrough --model-version 1 --config "
           + "configs/" + "x" * 60 + ".yaml --as <validator> --key <their key>")  # fmt: skip
    s = RunSummary(kind="pipeline", flow_run_id="f" * 36)
    s.note("validation", headline="not run: " + "word " * 30, details=[cmd])
    lines = render(s).splitlines()
    assert [line.strip() for line in lines if "alphagate validate" in line] == [cmd]
    assert max(len(line) for line in lines if "alphagate validate" not in line) <= WIDTH
