"""Feature sources through `alphagate run` (issue 26, items 1-4): the real stack end to end.

The small synthetic market of tests/data/small.yaml plus one source (an ODCS contract and a
CSV written as a vendor would deliver them). A clean source is read, gated, recorded with its
lineage, joined as of publication into the features, declared in ``features.json`` from its
contract, and covered by the dataset fingerprint; a source that breaks one rule halts the run
at the data-quality gate (exit 3) with one line naming the source, column and rule, before
any model is trained.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from flows.cli import main
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from governance.ground.workspace import Workspace
from tasks.data.synthetic import SyntheticSpec, generate_market
from tests.helpers_e2e import SMALL
from tests.helpers_identity import POLICY, enrol_cast
from tests.helpers_sources import lagged_signal, write_contract, write_source

REPO = Path(__file__).resolve().parents[1]


def _config(tmp: Path, *, break_range: bool) -> Path:
    cfg = yaml.safe_load(Path(SMALL).read_text(encoding="utf-8"))
    cfg["policy"]["file"] = str(POLICY)
    long = generate_market(SyntheticSpec(n_assets=40, n_days=900, ic=0.08, seed=3, n_sectors=4))
    close = long.pivot(index="date", columns="asset", values="close")
    source = lagged_signal(close, 21, 30, noise=1.0, seed=5).dropna()
    if break_range:
        source.loc[source.index[10], "score"] = 99.0
    write_source(tmp / "sentiment.csv", source)
    write_contract(tmp / "sentiment.odcs.yaml", minimum=-10.0, maximum=10.0, null_percent=1.0)
    cfg["sources"] = [
        {"name": "sentiment", "path": "sentiment.csv", "contract": "sentiment.odcs.yaml"}
    ]
    path = tmp / "run.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def _run(tmp_path_factory, name: str, break_range: bool):
    tmp = tmp_path_factory.mktemp(name)
    home = tmp / "home"
    mp = pytest.MonkeyPatch()
    mp.setenv("ALPHAGATE_HOME", str(home))
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
    mp.delenv("ALPHAGATE_LEDGER_URL", raising=False)
    enrol_cast(Workspace(home), monkeypatch=mp)
    return mp, home, _config(tmp, break_range=break_range)


@pytest.fixture(scope="module")
def clean(tmp_path_factory, prefect_server):
    import contextlib
    import io

    mp, home, cfg = _run(tmp_path_factory, "clean-source", break_range=False)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["run", "--config", str(cfg), "--as", "dana", "--json"])
    yield home, code, json.loads(out.getvalue().strip().splitlines()[-1])
    mp.undo()


def test_a_source_breaking_a_rule_halts_the_run_at_data_quality(
    tmp_path_factory, prefect_server, capsys
):
    from governance.log.ledger import Ledger

    mp, home, cfg = _run(tmp_path_factory, "broken-source", break_range=True)
    try:
        code = main(["run", "--config", str(cfg), "--as", "dana", "--json"])
        out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert code == 3 and out["status"] == "halted" and out["stage"] == "data_quality"
        (reason,) = out["reasons"]
        assert reason.startswith("source sentiment: column score: rule range: 1 of ")
        with Ledger.open(Workspace(home)) as ledger:
            assert ledger.last(action=Action.MODEL_TRAINED) is None
            gate = ledger.last(action=Action.GATE_DATA_QUALITY)
            assert gate.payload["decision"] == "halt"
            (src,) = gate.payload["evidence"]["sources"]
            assert (src["owner"], src["contract_version"]) == ("olga", "1.0.0")
    finally:
        mp.undo()


def test_a_clean_source_is_recorded_joined_and_declared(clean):
    from governance.log.ledger import Ledger
    from governance.registry.recorder import mlflow_client

    home, _code, out = clean
    assert out["stage"] != "data_quality", out["reasons"]
    with Ledger.open(Workspace(home)) as ledger:
        ingested = [e.payload for e in ledger.entries(action=Action.DATA_INGESTED)]
        trained = ledger.last(action=Action.MODEL_TRAINED).payload
    (src,) = [p for p in ingested if p.get("source") == "sentiment"]
    assert (src["owner"], src["version"], src["ok"]) == ("olga", "1.0.0", True)
    assert "sentiment_score" in trained["features"]
    (lineage,) = trained["sources"]
    assert lineage["fingerprint"] == src["fingerprint"] and lineage["version"] == "1.0.0"
    client = mlflow_client(Workspace(home))
    mv = client.get_model_version("small-e2e", str(out["model_version"]))
    assert mv.tags["data_fingerprint"] not in {p["fingerprint"] for p in ingested}  # covers all
    path = client.download_artifacts(mv.run_id, "features.json", str(home / "dl"))
    declared = {d["name"]: d for d in json.loads(Path(path).read_text())}
    assert declared["sentiment_score"]["expected_sign"] == 1
    assert declared["sentiment_score"]["owner"] == "olga"
    card = Path(client.download_artifacts(mv.run_id, "model_card.md", str(home / "dl")))
    assert "## Feature sources" in card.read_text() and "| sentiment | olga | 1.0.0 |" in (
        card.read_text()
    )
    from governance.ground.artifacts import ArtifactStore

    with Ledger.open(Workspace(home)) as ledger:
        validated = ledger.last(action=Action.VALIDATION_COMPLETED)
    report = json.loads(
        ArtifactStore.of(Workspace(home)).read_bytes(validated.artifacts["report.json"])
    )
    (named,) = report["model"]["sources"]
    assert (named["source"], named["owner"], named["version"]) == ("sentiment", "olga", "1.0.0")


def test_the_evidence_pack_and_the_inventory_name_the_source_its_contract_and_owner(
    clean, tmp_path, capsys
):
    """The version's pack carries the contract it was trained on (its SHA-256 is the
    lineage's ``contract_sha256``) and the inventory in it lists the source, contract
    version and owner among the model's dependencies; ``models --json`` says the same."""
    import hashlib
    import zipfile

    _home, _code, out = clean
    version = str(out["model_version"])
    pack = tmp_path / "pack.zip"
    capsys.readouterr()
    argv = ["evidence", "export", "--model", "small-e2e", "--model-version", version]
    assert main([*argv, "--out", str(pack)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    with zipfile.ZipFile(pack) as z:
        names = z.namelist()
        contracts = [n for n in names if n.endswith("data.ingested/contract.yaml")]
        assert contracts, "no source contract in the pack"
        body = z.read(contracts[0])
        entries = json.loads(z.read("ledger/entries.json"))
        inventory = json.loads(z.read("inventory/models.json"))
    trained = next(e for e in entries if e["action"] == Action.MODEL_TRAINED)
    (lineage,) = trained["payload"]["sources"]
    assert hashlib.sha256(body).hexdigest() == lineage["contract_sha256"]
    assert yaml.safe_load(body)["version"] == lineage["version"] == "1.0.0"
    text = json.dumps(inventory)
    assert '"source": "sentiment"' in text and '"owner": "olga"' in text
    assert main(["evidence", "verify", str(pack)]) == 0
    capsys.readouterr()


@pytest.fixture(scope="module")
def champion_on_source(tmp_path_factory, prefect_server):
    """A sandbox workspace whose champion was trained on the source's contract 1.0.0."""
    from governance.log.ledger import Ledger

    tmp = tmp_path_factory.mktemp("source-champion")
    home = tmp / "home"
    mp = pytest.MonkeyPatch()
    mp.setenv("ALPHAGATE_HOME", str(home))
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
    mp.delenv("ALPHAGATE_LEDGER_URL", raising=False)
    enrol_cast(Workspace(home), sandbox=True, monkeypatch=mp)
    cfg = _config(tmp, break_range=False)
    doc = yaml.safe_load(cfg.read_text())
    sandbox = yaml.safe_load((REPO / "tests" / "data" / "small-sandbox.yaml").read_text())
    doc.update(model=sandbox["model"], policy={**sandbox["policy"],
               "file": str(REPO / "tests" / "data" / "policy-sandbox.yaml")})  # fmt: skip
    cfg.write_text(yaml.safe_dump(doc))
    mp.setenv("ALPHAGATE_CONFIG", str(cfg))
    assert main(["run", "--config", str(cfg), "--as", "dana"]) == 3  # awaits approvals
    with Ledger.open(Workspace(home)) as ledger:
        version = ledger.last(action=Action.MODEL_REGISTERED).payload["version"]
    for who in ("vera", "rita"):
        assert (
            main(["approve", "--model-version", str(version), "--as", who, "--reason", "ok"]) == 0
        )
    yield home, tmp, cfg, version
    mp.undo()


def test_the_champion_scores_with_its_source_and_a_new_contract_version_is_a_finding(
    champion_on_source, capsys
):
    from governance.findings.register import load_register
    from governance.log.ledger import Ledger
    from tests.helpers_e2e import cli_json

    home, tmp, cfg, version = champion_on_source
    # the champion scores with its source's features, joined as of publication
    code, reb = cli_json(capsys, "rebalance", "--config", str(cfg), "--as", "dana")
    assert (code, reb["portfolio"]["source"]) == (0, "model"), reb["reasons"]
    with Ledger.open(Workspace(home)) as ledger:  # the source is inside the validated domain
        before = load_register(ledger).of_version(ModelRef.parse("small-gov", version))
    assert not [r for r in before if r.about == "source:sentiment"]
    # and monitoring scores it the same way (the source read, joined as of publication)
    code, mon = cli_json(capsys, "monitor", "--config", str(cfg))
    assert code in (0, 3) and mon["status"] in ("ok", "breach"), mon
    write_contract(tmp / "sentiment.odcs.yaml", version="1.1.0", minimum=-10.0, maximum=10.0,
                   null_percent=1.0)  # fmt: skip
    main(["rebalance", "--config", str(cfg), "--as", "dana"])
    capsys.readouterr()
    with Ledger.open(Workspace(home)) as ledger:
        records = load_register(ledger).of_version(ModelRef.parse("small-gov", version))
    (f,) = [r for r in records if r.check == "source_contract_changed"]
    assert f.about == "sentiment" and f.status == "open"
    assert "1.0.0 -> 1.1.0" in f.message and "owner olga" in f.message
    # the operating boundary includes the source: the new contract version is outside it
    (b,) = [r for r in records if r.check == "operating_boundary" and r.about == "source:sentiment"]
    assert "contract sentiment 1.0.0 -> sentiment 1.1.0" in b.message
    # monitoring holds the source to the same boundary (validation/boundaries.py, one check)
    assert "source:sentiment: contract sentiment 1.0.0 -> sentiment 1.1.0" in _boundary(capsys, cfg)
    # the contract put back, a value known before the cut-off restated in place: outside too
    write_contract(tmp / "sentiment.odcs.yaml", minimum=-10.0, maximum=10.0, null_percent=1.0)
    assert "source:sentiment" not in _boundary(capsys, cfg)
    rows = pd.read_csv(tmp / "sentiment.csv")
    rows.loc[rows.index[40], "score"] += 0.5
    rows.to_csv(tmp / "sentiment.csv", index=False)
    assert "source:sentiment: its history known by" in _boundary(capsys, cfg)


def _boundary(capsys, cfg) -> str:
    """The detail of ``monitor``'s operating-boundary check."""
    from tests.helpers_e2e import cli_json

    code, mon = cli_json(capsys, "monitor", "--config", str(cfg))
    assert code in (0, 3), mon
    (check,) = [c for c in mon["checks"] if c["check"] == "operating_boundary"]
    return check["detail"] or ""
