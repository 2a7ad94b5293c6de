"""The rebalance attacks' champion (tests/test_rebalance_attacks.py, test_overlays.py).

One module fixture (``snapshots``, a pytest plugin of tests/conftest.py, built once per module
that asks for it) trains a champion the legitimate way (dana runs the pipeline, vera validates
in it, vera and rita approve) in a normal (not sandbox) workspace whose adopted policy is
tests/data/policy-sandbox.yaml assigning the strategy its ``sandbox`` tier (it blocks on no
statistic, so the small model is promoted honestly). Two snapshots are kept, the validated
candidate and the champion; ``candidate`` and ``champion`` restore one into the same paths
(MLflow records absolute artifact paths). Below them, the readers those tests assert with.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action, Subject
from governance.ground.workspace import Workspace
from governance.log.ledger import Ledger
from tests.helpers_e2e import DATA, cli_out, live_env
from tests.helpers_identity import enrol_cast

STRATEGY = "small-gov"


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory, prefect_server):
    """``{"candidate": dir, "champion": dir, "live": dir}``: trained once per module."""
    from flows.cli import main
    from governance.decisions.promotion import latest_validation

    root = tmp_path_factory.mktemp("attacks")
    live = root / "live"
    live.mkdir()
    # the sandbox policy, assigning this strategy its tier (governance/policy/tiers.py)
    policy = (DATA / "policy-sandbox.yaml").read_text()
    (live / "policy.yaml").write_text(f"{policy}\nstrategies:\n  {STRATEGY}: sandbox\n")
    config = (
        (DATA / "small-sandbox.yaml")
        .read_text()
        .replace("file: policy-sandbox.yaml", "file: policy.yaml")
    )
    (live / "run.yaml").write_text(config)
    cfg = str(live / "run.yaml")
    with pytest.MonkeyPatch.context() as mp:
        live_env(mp, live)
        ws = Workspace(live / "home")
        enrol_cast(ws, policy=live / "policy.yaml")
        assert main(["run", "--config", cfg, "--as", "dana"]) == 3  # awaiting approvals
        with Ledger.open(ws) as ledger:
            version = str(ledger.last(action=Action.MODEL_REGISTERED).payload["version"])
            assert latest_validation(ledger, ModelRef.parse(STRATEGY, version)).verdict == "pass"
        shutil.copytree(live, root / "candidate", symlinks=True)
        for who in ("vera", "rita"):
            approve = ["approve", "--config", cfg, "--model-version", version, "--as", who]
            assert main([*approve, "--reason", "ok"]) == 0
        shutil.copytree(live, root / "champion", symlinks=True)
    return {"root": root, "live": live, "version": version}


def restore(snapshots, which: str, monkeypatch) -> Path:
    live = snapshots["live"]
    shutil.rmtree(live)
    shutil.copytree(snapshots["root"] / which, live, symlinks=True)
    live_env(monkeypatch, live)
    return live


@pytest.fixture
def champion(snapshots, monkeypatch):
    """The champion's workspace, restored; returns ``(ws, config path, version)``."""
    live = restore(snapshots, "champion", monkeypatch)
    return Workspace(live / "home"), str(live / "run.yaml"), snapshots["version"]


@pytest.fixture
def candidate(snapshots, monkeypatch):
    """The validated, unapproved candidate's workspace, restored."""
    live = restore(snapshots, "candidate", monkeypatch)
    return Workspace(live / "home"), str(live / "run.yaml"), snapshots["version"]


def publications(ws: Workspace) -> list:
    with Ledger.open(ws) as ledger:
        return ledger.entries(action=Action.PORTFOLIO_PUBLISHED, subject=Subject.book(STRATEGY))


def book_source(ws: Workspace) -> str | None:
    """The strategy's book through the production reader."""
    from tasks.portfolio.book import latest_book

    with Ledger.open(ws) as ledger:
        book = latest_book(ledger, ledger.store, STRATEGY)
    return None if book is None else book.source


def rebalance(capsys, cfg: str):
    """``alphagate rebalance --json`` as dana: (exit code, JSON or None, stderr)."""
    return cli_out(capsys, "rebalance", "--config", cfg, "--as", "dana", "--json")


def one_line(err: str) -> bool:
    return err.count("\n") == 1 and "Traceback" not in err


def fell_back(ws, capsys, cfg, *why: str) -> dict:
    """Exit 3, one line, the fallback in the JSON, in the book and in the ledger with the
    reasons ``why``; returns the JSON."""
    before = len(publications(ws))
    code, reb, err = rebalance(capsys, cfg)
    assert code == 3 and reb["status"] == "halted", (code, reb, err)
    assert one_line(err), err
    assert reb["portfolio"]["source"] == "fallback"
    published = publications(ws)
    assert len(published) == before + 1  # the fallback, and only it
    assert published[-1].payload["source"] == "fallback"
    text = " ".join(published[-1].payload["reasons"])
    for w in why:
        assert w in text, text
    assert book_source(ws) == "fallback"
    return reb
