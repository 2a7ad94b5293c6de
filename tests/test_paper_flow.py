"""Acceptance (issue 24): a planted-signal market through the real flows — train and
validate on its first part, approve for paper, reveal the later days one rebalance at a
time (each rebalance books and marks the paper book through the optimiser, the pre-trade
and stress gates and the cost model, never publishing it), graduate, approve for live; the
rebalance is driven by the model only after the second approval.
"""

from __future__ import annotations

import pytest
import yaml

from governance.ground.vocabulary import Action
from governance.ground.workspace import Workspace
from tests.helpers_e2e import DATA, cli_json, cli_out
from tests.helpers_identity import adopt_policy, enrol_cast

NAME = "paperflow"
MIN_DAYS = 3
REVEALED = 5  # days held back from training, revealed one rebalance at a time


@pytest.fixture(scope="module")
def paper_home(tmp_path_factory, prefect_server):
    """A workspace whose adopted policy puts ``NAME`` in a tier with a paper stage, and
    the market's files: the training part and one file per revealed day."""
    from flows.config import load_config
    from governance.log.ledger import Ledger
    from tasks.data.market import load_long

    root = tmp_path_factory.mktemp("paper")
    home = root / "home"
    policy = yaml.safe_load((DATA / "policy-sandbox.yaml").read_text())
    policy["version"] = "paper-flow-1"
    policy["strategies"] = {NAME: "sandbox"}
    # Over MIN_DAYS periods the tracking error's estimate has 2 degrees of freedom: its 95 %
    # upper range is sqrt(3.0) = 1.73 times the true value, and the first period (the paper
    # book starts from cash one close after the backtest would) dominates it: the limit here
    # only guards against a broken book; tests/test_paper_record.py checks 63 days at 10 %.
    policy["tiers"]["sandbox"]["paper"] = {"min_days": MIN_DAYS, "max_tracking_error": 1.0}
    (root / "policy.yaml").write_text(yaml.safe_dump(policy))
    config = yaml.safe_load((DATA / "small-sandbox.yaml").read_text())
    config["model"]["name"] = NAME
    config["policy"] = {"file": str(root / "policy.yaml"), "tier": "sandbox"}
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    cfg = load_config(root / "config.yaml")
    long = load_long(cfg.data, cfg.base_dir, None)
    dates = sorted(long["date"].unique())
    files = []
    for k in range(REVEALED + 1):
        cut = dates[len(dates) - REVEALED - 1 + k]
        path = root / f"market-{k}.parquet"
        long[long["date"] <= cut].to_parquet(path, index=False)
        files.append(str(path))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALPHAGATE_HOME", str(home))
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
        mp.setenv("ALPHAGATE_CONFIG", str(root / "config.yaml"))
        mp.setenv("ALPHAGATE_WITNESS", str(root / "witness"))
        mp.delenv("ALPHAGATE_LEDGER_URL", raising=False)
        enrol_cast(Workspace(home), monkeypatch=mp)
        with Ledger.open(Workspace(home)) as ledger:
            adopt_policy(Workspace(home), ledger, root / "policy.yaml")
        yield home, str(root / "config.yaml"), files


def _approve(capsys, config, version, user, *stage):
    """``(exit code, JSON or None, stderr)`` of ``approve``."""
    return cli_out(capsys, "approve", *stage, "--model-version", version, "--as", user,
                   "--reason", "ok", "--config", config, "--json")  # fmt: skip


def test_paper_graduate_live(paper_home, capsys):
    from governance.log.ledger import Ledger

    home, config, files = paper_home
    code, run = cli_json(capsys, "run", "--config", config, "--data", files[0], "--as", "dana")
    assert run["validation"]["verdict"] == "pass", run
    version = str(run["model_version"])
    for user in ("vera", "rita"):
        assert _approve(capsys, config, version, user, "--stage", "paper")[0] == 0
    for k, data in enumerate(files[1 : MIN_DAYS + 2], start=1):  # MIN_DAYS + 1 closes
        code, reb = cli_json(capsys, "rebalance", "--config", config, "--data", data,
                             "--as", "dana")  # fmt: skip
        assert reb["portfolio"]["source"] == "fallback", reb  # paper never drives
        if k == 1:  # live before min_days: refused, recorded
            code, _, err = _approve(capsys, config, version, "val")
            assert code == 4 and f"0 of {MIN_DAYS} paper days" in err, err
    with Ledger.open(Workspace(home)) as ledger:
        booked = ledger.entries(action=Action.PAPER_BOOKED)
        marked = ledger.entries(action=Action.PAPER_MARKED)
        published = ledger.entries(action=Action.PORTFOLIO_PUBLISHED)
        # the paper book went through the optimiser and both gates under its own subject,
        # as the list of one account ``main`` (tasks/portfolio/rebalance.py)
        gates = [e.subject for e in ledger.entries(action=Action.GATE_PRETRADE)]
        stress = [e.subject for e in ledger.entries(action=Action.GATE_STRESS)]
    assert len(booked) == MIN_DAYS + 1 and len(marked) == MIN_DAYS
    assert all(b.payload["source"] == "model" for b in booked), [b.payload for b in booked]
    assert all(e.payload.get("model_version") is None for e in published)  # none was paper's
    assert sum(s.endswith(f":paper-v{version}:main") for s in gates) == MIN_DAYS + 1
    assert sum(s.endswith(f":paper-v{version}:main") for s in stress) == MIN_DAYS + 1
    # graduation passes; two live approvals (not the paper ones) promote
    code, out, err = _approve(capsys, config, version, "val")
    assert code == 0 and not out["promoted"], err
    code, out, err = _approve(capsys, config, version, "omar")
    assert code == 0 and out["promoted"], err
    code, reb = cli_json(capsys, "rebalance", "--config", config, "--data", files[-1],
                         "--as", "dana")  # fmt: skip
    assert (reb["portfolio"]["source"], str(reb["portfolio"]["model_version"])) == (
        "model", version)  # fmt: skip
    with Ledger.open(Workspace(home)) as ledger:
        assert len(ledger.entries(action=Action.PAPER_BOOKED)) == MIN_DAYS + 1  # live now
        assert ledger.verify().ok
