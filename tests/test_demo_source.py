"""The shipped demo source and ``alphagate data check`` on sources (issue 26).

``configs/demo-sources.yaml`` runs the demo's market with one SYNTHETIC source, monthly
analyst revisions derived offline from the demo prices (tasks/data/sources/demo.py).
``alphagate data check --config`` puts the market and every source through their gates,
recorded, with the exit codes of the command-line contract.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from flows.cli import main
from governance.ground.vocabulary import Action

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("ALPHAGATE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ALPHAGATE_LEDGER_URL", raising=False)
    return tmp_path / "home"


@pytest.fixture()
def copy(tmp_path) -> Path:
    """The demo-sources config with its source, copied to break one thing at a time."""
    root = tmp_path / "cfg"
    shutil.copytree(CONFIGS, root)
    return root


def _check(capsys, *argv) -> tuple[int, dict | None, str]:
    capsys.readouterr()
    code = main(["data", "check", *argv])
    out, err = capsys.readouterr()
    last = out.strip().splitlines()[-1] if out.strip() else ""
    return code, (json.loads(last) if last.startswith("{") else None), err


def _entries(home: Path, action: str) -> list:
    from governance.ground.workspace import Workspace
    from governance.log.ledger import Ledger

    with Ledger.open(Workspace(home)) as ledger:
        return ledger.entries(action=action)


def test_the_shipped_source_is_what_its_generator_makes_and_never_published_early():
    """Reproducible from the demo prices; every row published after the month it describes
    (15 days, restatements 30 days later); both vintages of a restated value kept."""
    from tasks.data.market import load_demo
    from tasks.data.sources.demo import PUBLICATION_LAG_DAYS, demo_revisions

    shipped = pd.read_csv(CONFIGS / "sources" / "revisions.csv", parse_dates=["period",
                                                                              "available_at"])  # fmt: skip
    made = demo_revisions(load_demo()).reset_index(drop=True)
    pd.testing.assert_frame_equal(shipped, made, check_dtype=False)
    lag = (shipped["available_at"] - shipped["period"]).dt.days
    assert set(lag) == {PUBLICATION_LAG_DAYS, PUBLICATION_LAG_DAYS + 30}
    assert shipped.duplicated(["asset", "period"]).sum() == (lag > PUBLICATION_LAG_DAYS).sum() > 0
    assert shipped["asset"].nunique() == 20


def test_data_check_runs_the_market_and_the_source_gates_recorded(home, capsys):
    code, out, err = _check(capsys, "--config", str(CONFIGS / "demo-sources.yaml"), "--json")
    assert code == 0, err
    assert out["ok"] is True and out["critical_failures"] == []
    (src,) = out["sources"]
    assert (src["source"], src["contract_version"], src["owner"], src["ok"]) == (
        "revisions", "1.0.0", "olga", True,
    )  # fmt: skip
    assert out["dataset_fingerprint"] != out["fingerprint"]  # covers the source too
    ingested = _entries(home, Action.DATA_INGESTED)
    assert any(e.payload.get("source") == "revisions" for e in ingested)
    gates = _entries(home, Action.GATE_DATA_QUALITY)
    assert len(gates) == 2  # the market's and the sources'
    assert main(["ledger", "verify"]) == 0


def test_a_value_out_of_the_contract_range_halts_naming_source_column_and_rule(home, copy, capsys):
    path = copy / "sources" / "revisions.csv"
    frame = pd.read_csv(path)
    frame.loc[100, "revision_breadth"] = 9.5  # the contract's range is [-5, 5]
    frame.to_csv(path, index=False)
    code, out, err = _check(capsys, "--config", str(copy / "demo-sources.yaml"), "--json")
    assert code == 3
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == [
        "alphagate: data_quality: source revisions: column revision_breadth: rule range: "
        f"1 of {len(frame)} rows (e.g. [9.5])"
    ]
    assert out["ok"] is False and out["sources"][0]["ok"] is False
    assert "Traceback" not in err


def test_a_value_of_the_wrong_type_is_exit_2_with_nothing_recorded(home, copy, capsys):
    path = copy / "sources" / "revisions.csv"
    text = path.read_text().splitlines()
    cells = text[5].split(",")
    cells[3] = "n/a-ish"
    text[5] = ",".join(cells)
    path.write_text("\n".join(text) + "\n")
    code, _, err = _check(capsys, "--config", str(copy / "demo-sources.yaml"))
    assert code == 2
    (line,) = [x for x in err.splitlines() if x.strip()]
    assert "source revisions" in line and "line 6: column revision_breadth: rule type" in line
    assert not (home / "ledger.db").exists() or _entries(home, Action.GATE_DATA_QUALITY) == []


def test_an_edited_contract_is_read_again_and_a_missing_column_breaks_the_schema_rule(
    home, copy, capsys
):
    """A hostile edit of the source file that drops a declared column cannot slip past:
    the gate's schema rule names it (exit 3)."""
    path = copy / "sources" / "revisions.csv"
    pd.read_csv(path).drop(columns="estimate_dispersion").to_csv(path, index=False)
    code, out, err = _check(capsys, "--config", str(copy / "demo-sources.yaml"), "--json")
    assert code == 3 and out["ok"] is False
    assert "source revisions: column *: rule schema: missing ['estimate_dispersion']" in err


def test_data_check_without_a_file_or_a_config_is_one_line_exit_2(home, capsys):
    code, _, err = _check(capsys)
    assert code == 2
    assert err.strip().splitlines() == [
        "alphagate: data check: name a market FILE or a --config whose data: names one"
    ]


def test_run_on_the_shipped_demo_sources_config(tmp_path, copy, capsys, prefect_server):
    """``alphagate run --config configs/demo-sources.yaml`` through the real CLI and flow, on
    the shipped market and source, shortened to keep the test fast: the copy's market starts
    in 2010 (``data.start``; the holdout still starts 2018-01-02) and the tests' live policy
    stands in for the shipped one, which asks for 126 paper days. Everything else is the
    shipped file. The source is gated and recorded, joined into the features, and named with
    its contract version and owner in the training entry."""
    import yaml

    from governance.ground.workspace import Workspace
    from tests.helpers_e2e import cli_json
    from tests.helpers_identity import POLICY, enrol_cast

    cfg = yaml.safe_load((copy / "demo-sources.yaml").read_text(encoding="utf-8"))
    cfg["data"]["start"] = "2010-01-04"
    cfg["policy"]["file"] = str(POLICY)
    path = copy / "demo-sources.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    home = tmp_path / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALPHAGATE_HOME", str(home))
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
        mp.setenv("ALPHAGATE_CONFIG", str(path))
        mp.delenv("ALPHAGATE_LEDGER_URL", raising=False)
        enrol_cast(Workspace(home), monkeypatch=mp)
        code, run = cli_json(capsys, "run", "--config", str(path), "--as", "dana")
        (ingested,) = [e.payload for e in _entries(home, Action.DATA_INGESTED)
                       if e.payload.get("source") == "revisions"]  # fmt: skip
        (trained,) = [e.payload for e in _entries(home, Action.MODEL_TRAINED)]
    assert (ingested["contract"], ingested["version"], ingested["owner"]) == (
        "revisions", "1.0.0", "olga")  # fmt: skip
    assert [s["source"] for s in trained["sources"]] == ["revisions"]
    assert {"revisions_revision_breadth", "revisions_estimate_dispersion"} <= set(
        trained["features"]
    )
    # The honest outcome on the real prices, as `make demo`'s: the validator fails v1 (the
    # synthetic source adds nothing the holdout rewards), so the fallback book is published.
    assert (code, run["status"], run["stage"]) == (3, "halted", "validation"), run["reasons"]
    assert run["validation"]["verdict"] == "fail" and run["portfolio"]["source"] == "fallback"
    checks = [f.split()[2].rstrip(":") for f in run["validation"]["findings"]]
    assert checks == ["rank_ic_below_min", "ic_tstat_below_min", "dsr_below_min",
                      "margin_below_min", "shap_sign"], run["validation"]  # fmt: skip
