"""A sandbox workspace labels every output (issue 10, item 4); a normal one labels none.

The same chain runs twice, once per module parameter: in a workspace initialised with
``--sandbox``, and in a normal one whose adopted policy is the very same file
(tests/data/policy-sandbox.yaml, whose tier is *named* ``sandbox``: a tier's name labels
nothing, only the workspace's genesis does). dana runs the pipeline (vera validates in
it), vera and rita approve, dana rebalances, val validates again; then ``status``,
``models`` and an evidence pack. Each test asserts the label where it must be, and its
absence in the normal workspace, so each can fail both ways.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import zipfile
from functools import partial
from pathlib import Path

import pytest

from flows.cli import main
from flows.summary import RunSummary, render
from flows.view_refresh import wait_for_views
from governance.ground.vocabulary import Action
from governance.ground.workspace import Workspace
from governance.identity.sandbox import BANNER, NOT_FOR_PRODUCTION, TAG
from governance.log.ledger import Ledger
from governance.registry.recorder import mlflow_client
from tests.helpers_e2e import DATA
from tests.helpers_identity import enrol_cast

NAME = "small-gov"
BANNER_HTML = 'id="banner"'


def _cli(*argv: str) -> dict:
    """``alphagate ARGV``: exit code, stdout lines, the last line's JSON, stderr; once the
    views its detached refresher derives are written (flows/view_refresh.py)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    assert wait_for_views(Workspace.from_env()) == []  # the refresher derived them all
    lines = out.getvalue().strip().splitlines()
    last = lines[-1] if lines else ""
    doc = json.loads(last) if last.startswith("{") else None
    return {"code": code, "lines": lines, "json": doc, "err": err.getvalue()}


@pytest.fixture(scope="module", params=["sandbox", "normal"])
def chain(request, tmp_path_factory, prefect_server):
    """Every output of the chain in one workspace of the parameter's kind."""
    sandbox = request.param == "sandbox"
    root = tmp_path_factory.mktemp(request.param)
    home = root / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALPHAGATE_HOME", str(home))
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
        mp.setenv("ALPHAGATE_WITNESS", str(root / "witness"))
        mp.delenv("ALPHAGATE_LEDGER_URL", raising=False)
        ws = Workspace(home)
        policy = root / "policy.yaml"  # the sandbox policy, assigning the strategy its tier
        policy.write_text((DATA / "policy-sandbox.yaml").read_text()
                          + f"\nstrategies:\n  {NAME}: sandbox\n")  # fmt: skip
        config = root / "small-sandbox.yaml"  # the same run, naming that policy
        text = (DATA / "small-sandbox.yaml").read_text()
        config.write_text(text.replace("file: policy-sandbox.yaml", f"file: {policy}"))
        mp.setenv("ALPHAGATE_CONFIG", str(config))
        enrol_cast(ws, sandbox=sandbox, monkeypatch=mp, policy=policy)
        out = {"sandbox": sandbox, "ws": ws, "root": root}
        out["run"] = _cli("run", "--config", str(config), "--as", "dana", "--json")
        version = str(out["run"]["json"]["model_version"])
        for who in ("vera", "rita"):
            out[f"approve-{who}"] = _cli("approve", "--model-version", version, "--as", who,
                                         "--reason", "ok", "--json")  # fmt: skip
        out["rebalance"] = _cli("rebalance", "--config", str(config), "--as", "dana", "--json")
        out["validate"] = _cli("validate", "--model-version", version, "--as", "val", "--json")
        out["status"] = _cli("status", "--model-version", version, "--json")
        out["models"] = _cli("models", "--json")
        pack = root / "pack.zip"
        out["export"] = _cli("evidence", "export", "--model-version", version, "--out", str(pack))
        out["verify"] = _cli("evidence", "verify", str(pack), "--json")
        out["pack"], out["version"] = pack, version
        out["inventory"] = _cli("models", "--html", str(root / "inventory.html"))
        out["monitor"] = _cli("monitor", "--config", str(config), "--json")  # last: it may trip
        yield out


def test_the_json_of_every_deciding_command_says_whether_it_is_a_sandbox(chain):
    for command in ("run", "approve-vera", "approve-rita", "rebalance", "validate", "status",
                    "models", "verify"):  # fmt: skip
        doc = chain[command]["json"]
        assert doc is not None, (command, chain[command])
        assert doc["sandbox"] is chain["sandbox"], command
    assert chain["rebalance"]["json"]["portfolio"]["source"] == "model"  # the chain ran through


def test_the_text_output_says_sandbox_on_its_first_line(chain):
    for command in ("approve-vera", "approve-rita", "validate", "status", "models"):
        first = chain[command]["lines"][0]
        assert (first == BANNER) is chain["sandbox"], (command, first)
        assert ("SANDBOX" in first) is chain["sandbox"], (command, first)
    for command in ("run", "rebalance"):  # the text form of the same summary
        first = render(RunSummary.from_json(chain[command]["json"])).splitlines()[0]
        assert ("SANDBOX" in first) is chain["sandbox"], (command, first)
    first = chain["verify"]["lines"][0]
    assert first.startswith("SANDBOX: this pack is from a sandbox workspace") is chain["sandbox"]


def _run_tags(run_id: str) -> dict:
    return mlflow_client(Workspace.from_env()).get_run(run_id).data.tags


def test_mlflow_runs_versions_and_the_model_carry_the_label(chain):
    sandbox = chain["sandbox"]
    client = mlflow_client(chain["ws"])
    expected = "true" if sandbox else "false"
    for run_id in (
        chain["run"]["json"]["mlflow_run_id"],
        chain["validate"]["json"]["mlflow_run_id"],
    ):
        tags = _run_tags(run_id)
        assert tags[TAG] == expected
        assert tags["governance.policy"].endswith(" sandbox") is sandbox
        assert len(tags["governance.policy"].split()[0]) == 64
    mv = client.get_model_version(NAME, chain["version"])
    assert mv.tags[TAG] == expected
    assert mv.tags["governance.policy"].endswith(" sandbox") is sandbox
    assert mv.tags["governance.tier"] == "sandbox"  # the tier's name, labelling nothing
    assert (NOT_FOR_PRODUCTION in mv.description) is sandbox
    model = client.get_registered_model(NAME)
    assert model.tags[TAG] == expected
    assert ("SANDBOX" in (model.description or "")) is sandbox
    with tempfile.TemporaryDirectory() as tmp:
        card = client.download_artifacts(mv.run_id, "governance/model_card.html", tmp)
        assert (BANNER_HTML in Path(card).read_text()) is sandbox


def test_the_validation_report_and_its_json_twin_carry_the_label(chain):
    client = mlflow_client(chain["ws"])
    run_id = chain["validate"]["json"]["mlflow_run_id"]
    with tempfile.TemporaryDirectory() as tmp:
        report = json.loads(
            Path(client.download_artifacts(run_id, "validation/report.json", tmp)).read_text()
        )
        html = Path(client.download_artifacts(run_id, "validation/report.html", tmp)).read_text()
    assert report["sandbox"] is chain["sandbox"]
    assert (BANNER_HTML in html and BANNER in html) is chain["sandbox"]


def test_the_evidence_pack_carries_the_label(chain):
    assert chain["export"]["code"] == 0 and chain["verify"]["code"] == 0, chain["verify"]
    with zipfile.ZipFile(chain["pack"]) as z:
        manifest = json.loads(z.read("manifest.json"))
        index = z.read("index.html").decode()
    assert manifest["sandbox"] is chain["sandbox"]
    assert (BANNER_HTML in index) is chain["sandbox"]
    assert ("SANDBOX (" in index) is chain["sandbox"]


def test_ledger_entries_of_a_run_carry_the_label(chain):
    with Ledger.open(chain["ws"]) as ledger:
        published = ledger.last(action=Action.PORTFOLIO_PUBLISHED)
        validated = ledger.last(action=Action.VALIDATION_COMPLETED)
    for entry in (published, validated):
        assert (entry.payload.get("sandbox") is True) is chain["sandbox"], entry.action


def test_an_exporter_that_hides_the_sandbox_is_caught(chain, tmp_path):
    """A pack written with ``sandbox: false`` from a sandbox workspace (sealed as exported,
    so every other check holds): ``evidence verify`` refuses it (exit 3, one line)."""
    if not chain["sandbox"]:
        pytest.skip("only a sandbox workspace has something to hide")
    from governance.evidence.pack import PackSubject, collect, write_pack
    from governance.evidence.proof import seal

    with Ledger.open(chain["ws"]) as ledger:
        files, summary = collect(chain["ws"], ledger, PackSubject(NAME, int(chain["version"])))
        forged = write_pack(files, {**summary, "sandbox": False}, tmp_path / "forged.zip",
                            partial(seal, ledger))  # fmt: skip
    out = _cli("evidence", "verify", str(forged))
    assert out["code"] == 3 and "says not a sandbox" in out["err"]
    assert out["err"].count("\n") == 1 and "Traceback" not in out["err"]


def test_the_quality_monitoring_and_inventory_pages_carry_the_banner(chain):
    """The other reports of the chain: the data-quality gate's (readable copy and stored
    artifact), the monitoring report (HTML and its JSON twin) and the model inventory."""
    sandbox, home = chain["sandbox"], chain["ws"].home
    pages = sorted((home / "reports" / "data-quality").glob("*.html"))
    assert pages
    with Ledger.open(chain["ws"]) as ledger:
        gate = ledger.last(action=Action.GATE_DATA_QUALITY)
        stored = ledger.store.read_bytes(gate.artifacts["quality_html"]).decode()
        done = ledger.last(action=Action.MONITORING_COMPLETED)
        assert done is not None, chain["monitor"]
        monitoring = ledger.store.read_bytes(done.artifacts["report.html"]).decode()
        twin = ledger.store.read_json(done.artifacts["report.json"])
    assert twin["sandbox"] is sandbox
    inventory = (chain["root"] / "inventory.html").read_text()
    for html in (*(p.read_text() for p in pages), stored, monitoring, inventory):
        assert (BANNER_HTML in html and BANNER in html) is sandbox
