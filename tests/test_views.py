"""What risk officers see: MLflow's registry through its REST API, and the HTML pages in
headless Chromium, after the governance path has been walked the way people walk it.

One workspace (module fixture), the real stack: ``alphagate run`` on the small market under
the high tier (validation FAIL), a signed rejection of that version; the same market under
the sandbox tier (PASS), four-eyes approval and promotion, a kill-switch trip, and a rerun
of the sandbox pipeline. Then ``mlflow server --workers 1`` serves the workspace's store and
the tests read tags, descriptions and artifact listings over HTTP, as the UI does.
"""

from __future__ import annotations

import contextlib
import io
import json
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

import pytest

from flows.cli import main
from flows.view_refresh import wait_for_views
from governance.ground.vocabulary import Action
from governance.ground.workspace import Workspace
from tests.helpers_browser import Browser, mlflow_server, page_url
from tests.helpers_e2e import DATA, SMALL
from tests.helpers_identity import enrol_cast

SANDBOX = str(DATA / "small-sandbox.yaml")


@pytest.fixture(scope="module")
def walked(tmp_path_factory, prefect_server):
    """The workspace after a failed validation, a rejection, a promotion and a trip."""
    home = tmp_path_factory.mktemp("views") / "home"
    out = {"home": home}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALPHAGATE_HOME", str(home))
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
        mp.delenv("ALPHAGATE_LEDGER_URL", raising=False)
        # A sandbox workspace: the walk names two policies (high tier, then the sandbox's).
        enrol_cast(Workspace(home), sandbox=True, monkeypatch=mp)
        capsys = _Quiet()
        code, run = capsys.cli("run", "--config", SMALL, "--as", "dana")
        assert (code, run["validation"]["verdict"]) == (3, "fail")
        _views(home)
        out["failed"] = _snapshot(home, "small-e2e", "1")
        assert main(["reject", "--config", SMALL, "--model-version", "1", "--as", "rita",
                     "--reason", "DSR far below the bar"]) == 0  # fmt: skip
        _views(home)
        code, run = capsys.cli("run", "--config", SANDBOX, "--as", "dana")
        assert run["validation"]["verdict"] == "pass"
        for user in ("vera", "rita"):
            assert main(["approve", "--config", SANDBOX, "--model-version", "1", "--as", user,
                         "--reason", "four eyes: evidence reviewed"]) == 0  # fmt: skip
            _views(home)
        # the strategy's own switch (issue 29: it was invisible on every view)
        assert main(["killswitch", "trip", "--strategy", "small-gov", "--as", "rita",
                     "--reason", "drill"]) == 0  # fmt: skip
        _views(home)
        code, run = capsys.cli("run", "--config", SANDBOX, "--as", "dana")  # a rerun
        assert run["model_version"] == 1
        zip_path = home.parent / "evidence.zip"
        assert main(["evidence", "export", "--model", "small-gov", "--model-version", "1",
                     "--out", str(zip_path)]) == 0  # fmt: skip
        _views(home)
        with zipfile.ZipFile(zip_path) as z:
            z.extractall(home.parent / "evidence")
        out["evidence"] = home.parent / "evidence" / "index.html"
        yield out


def _views(home: Path) -> None:
    """Wait for the views the commands' detached refreshers derive (flows/view_refresh.py),
    and check that they derived them all (nothing left for this process)."""
    assert wait_for_views(Workspace(home)) == []


class _Quiet:
    """``cli_json`` without pytest's capsys (module-scoped fixtures cannot take it)."""

    def cli(self, *argv: str):
        import contextlib
        import io

        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            code = main([*argv, "--json"])
        return code, json.loads(buf.getvalue().strip().splitlines()[-1])


def _snapshot(home: Path, name: str, version: str) -> dict:
    """The version's governance tags right now (read in-process; the server comes later)."""
    from mlflow import MlflowClient

    # The workspace's store by name: this runs in a module fixture, before the autouse fixture
    # that clears MLflow's process-wide URIs an earlier test module may have left behind.
    uri = f"sqlite:///{home / 'mlflow.db'}"
    mv = MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version(name, version)
    return {"tags": dict(mv.tags), "description": mv.description}


@pytest.fixture(scope="module")
def rest(walked):
    """``mlflow server --workers 1`` on the workspace store; yields a GET helper."""
    home = walked["home"]
    with mlflow_server(f"sqlite:///{home / 'mlflow.db'}", timeout=120) as base:

        def get(endpoint: str, **params) -> dict:
            url = f"{base}/api/2.0/mlflow/{endpoint}?{urllib.parse.urlencode(params)}"
            with urllib.request.urlopen(url, timeout=30) as resp:
                return json.load(resp)

        yield get


def _tags(obj: dict) -> dict:
    return {t["key"]: t["value"] for t in obj.get("tags", [])}


# -- MLflow, through its REST API -------------------------------------------------------------


def test_a_failed_validation_shows_on_the_version(walked):
    tags = walked["failed"]["tags"]
    # the one view model's word (issue 29): "failed", as `models` says, not "rejected" before
    # anyone rejected it
    assert tags["governance.status"] == "failed"
    assert tags["governance.verdict"] == "fail"
    assert tags["governance.tier"] == "high"
    # the policy hash, labelled: the workspace is a sandbox (its genesis), whatever the tier
    assert len(tags["governance.policy"].split()[0]) == 64
    assert tags["governance.policy"].endswith(" sandbox") and tags["governance.sandbox"] == "true"
    assert tags["findings.open"].startswith("F-small-e2e-v1-")
    desc = walked["failed"]["description"]
    assert desc.startswith("**FAILED** — validation verdict **FAIL** by vera")
    assert "validation/report.html" in desc and "governance/model_card.html" in desc


def test_a_signed_rejection_is_a_tag_with_who_role_when_reason_and_digest(rest):
    mv = rest("model-versions/get", name="small-e2e", version="1")["model_version"]
    tags = _tags(mv)
    decisions = [v for k, v in tags.items() if k.startswith("governance.decision.")]
    assert len(decisions) == 1
    (rejection,) = decisions
    assert rejection.startswith("rejected by rita (risk_officer) at 20")
    assert "DSR far below the bar" in rejection and "signature sha256:" in rejection
    assert tags["governance.status"] == "rejected"
    assert "rejected by rita" in mv["description"]


def test_four_eyes_promotion_shows_approvals_tier_and_champion(rest):
    mv = rest("model-versions/get", name="small-gov", version="1")["model_version"]
    tags = _tags(mv)
    assert tags["governance.status"] == "champion"
    assert tags["governance.tier"].startswith("sandbox")
    assert tags["governance.policy"].endswith(" sandbox")
    approvals = sorted(v for k, v in tags.items() if k.startswith("governance.decision."))
    assert [a.split(" at ")[0] for a in approvals] == [
        "approved by rita (risk_officer)", "approved by vera (validator)",
    ]  # fmt: skip
    assert all("four eyes: evidence reviewed" in a and "signature sha256:" in a for a in approvals)
    assert tags["governance.champion_since"].startswith("20")
    desc = mv["description"]
    assert desc.startswith("**CHAMPION**") and "Champion since" in desc and "sandbox" in desc
    assert "](#/experiments/" in desc  # one click to the report and the current card


def test_the_kill_switch_and_champion_show_on_the_registered_model(rest):
    rm = rest("registered-models/get", name="small-gov")["registered_model"]
    tags = _tags(rm)
    assert tags["governance.champion"] == "v1"
    assert tags["governance.killswitch"].startswith("tripped (strategy) by rita at ")
    assert tags["governance.killswitch"].endswith(": drill")
    assert "Kill switch: **tripped" in rm["description"]
    # the champion's own page says it is halted, and the other strategy's does not
    mv = rest("model-versions/get", name="small-gov", version="1")["model_version"]
    assert _tags(mv)["governance.killswitch"] == tags["governance.killswitch"]
    assert "**HALTED** — kill switch tripped (strategy) by rita" in mv["description"]
    other = rest("registered-models/get", name="small-e2e")["registered_model"]
    assert _tags(other)["governance.killswitch"] == "armed"


def test_the_models_list_and_inventory_say_the_strategy_is_halted(walked, tmp_path):
    html = tmp_path / "inventory.html"
    code, inv = _Quiet().cli("models", "--html", str(html))
    rows = {m["name"]: m for m in inv["models"]}
    assert code == 0 and inv["halted"] == ["small-gov"]
    assert rows["small-gov"]["halted"] and rows["small-gov"]["killswitch"].endswith(": drill")
    assert not rows["small-e2e"]["halted"] and rows["small-e2e"]["killswitch"] == "armed"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["models"]) == 0
    line = next(x for x in out.getvalue().splitlines() if x.strip().startswith("small-gov"))
    assert "HALTED: kill switch tripped (strategy) by rita" in line
    with Browser() as browser:  # the inventory page, rendered: no green OK
        loaded = browser.open(page_url(html))
        verdict = loaded.evaluate("document.getElementById('verdict').textContent")
        body = loaded.evaluate("document.body.innerText")
    assert verdict.strip() == "HALTED" and "Halted by a tripped kill switch: small-gov" in body


def test_artifacts_have_readable_names_and_one_summary_per_run(rest):
    mv = rest("model-versions/get", name="small-gov", version="1")["model_version"]
    run_id = mv["run_id"]
    listing = rest("artifacts/list", run_id=run_id, path="backtest").get("files", [])
    names = [Path(f["path"]).name for f in listing]
    assert names.count("summary.json") == 1  # after a rerun too
    assert {"cumulative_return.png", "drawdown.png", "weights.png"} <= set(names)
    assert all("." in n for n in names), names
    top = {f["path"] for f in rest("artifacts/list", run_id=run_id).get("files", [])}
    assert {"model_card.html", "governance", "data_quality"} <= top
    dq = rest("artifacts/list", run_id=run_id, path="data_quality")["files"]
    assert [Path(f["path"]).suffix for f in dq] == [".html"]
    card = rest("artifacts/list", run_id=run_id, path="governance")["files"]
    assert [f["path"] for f in card] == ["governance/model_card.html"]


def test_experiments_open_mlflows_model_training_views(rest):
    exps = rest("experiments/search", max_results=100)["experiments"]
    ours = [e for e in exps if e["name"] != "Default"]
    assert ours and all(
        _tags(e).get("mlflow.experimentKind") == "custom_model_development" for e in ours
    )


def test_reports_folder_holds_the_data_quality_report(walked):
    copies = list((walked["home"] / "reports" / "data-quality").glob("*.html"))
    assert copies and all(p.read_text().startswith("<!DOCTYPE html>") for p in copies)


# -- the pages, in headless Chromium -----------------------------------------------------------


def _pages(home: Path) -> dict[str, Path]:
    from governance.ground.workspace import Workspace
    from governance.log.ledger import Ledger

    with Ledger.open(Workspace(home)) as ledger:
        store = ledger.store
        validation = ledger.last(action=Action.VALIDATION_COMPLETED)
        trained = ledger.last(action=Action.MODEL_TRAINED)
        quality = ledger.last(action=Action.GATE_DATA_QUALITY)
        return {
            "validation report": store.path(validation.artifacts["report.html"]),
            "model card": store.path(trained.artifacts["model_card.html"]),
            "data-quality report": store.path(quality.artifacts["quality_html"]),
        }


@pytest.fixture(scope="module")
def pages(walked, tmp_path_factory):
    """Each page as an ``.html`` file (the store names files by hash only)."""
    out = {}
    folder = tmp_path_factory.mktemp("pages")
    for name, path in _pages(walked["home"]).items():
        target = folder / f"{name.replace(' ', '-')}.html"
        target.write_bytes(Path(path).read_bytes())
        out[name] = target
    out["evidence index"] = walked["evidence"]
    return out


@pytest.mark.parametrize(
    "page", ["validation report", "model card", "data-quality report", "evidence index"]
)
@pytest.mark.parametrize("width", [1280, 1000])
def test_page_renders_offline_without_overflow_verdict_first(pages, page, width):
    with Browser(width=width, height=800) as browser:
        loaded = browser.open(page_url(pages[page]))
        url = page_url(pages[page])
        others = [r for r in loaded.requests if r != url and not r.startswith("data:")]
        assert others == [], f"{page} requested {others}"
        scroll, client = loaded.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert scroll <= client, f"{page} overflows at {width} px: {scroll} > {client}"
        bottom, height, text = loaded.evaluate(
            "(() => { const v = document.getElementById('verdict');"
            " return [v.getBoundingClientRect().bottom, window.innerHeight, v.textContent]; })()"
        )
        assert 0 < bottom <= height and text.strip(), f"{page}: verdict not on the first screen"


def test_mlflow_runs_name_the_proven_person_not_the_os_account(rest):
    """Issue 29: MLflow showed every run "Created by root" (the OS account)."""
    mv = rest("model-versions/get", name="small-gov", version="1")["model_version"]
    run = rest("runs/get", run_id=mv["run_id"])["run"]
    assert _tags(run["data"])["mlflow.user"] == "dana"
    validation = _tags(mv)["validation.run_id"]
    vrun = rest("runs/get", run_id=validation)["run"]
    assert _tags(vrun["data"])["mlflow.user"] == "vera"
    assert vrun["info"]["user_id"] == "vera"


def test_the_committee_pack_shows_the_sandbox_and_the_strategys_switch(walked, tmp_path):
    """Issue 29: the committee pack of the sandbox champion, its strategy's switch tripped: the
    SANDBOX banner and the halt are on its first screen (tests/test_committee_pack.py: the rest)."""
    from governance.identity.sandbox import BANNER

    out = tmp_path / "committee.html"
    assert main(["evidence", "committee", "--config", SANDBOX, "--model", "small-gov",
                 "--model-version", "1", "--out", str(out)]) == 0  # fmt: skip
    with Browser() as browser:
        loaded = browser.open(page_url(out))
        banner, state, bottom, height = loaded.evaluate(
            "(() => { const b = document.getElementById('banner');"
            " const s = [...document.querySelectorAll('tr')]"
            ".find(r => r.textContent.includes('current state'));"
            " return [b.textContent, s.textContent, s.getBoundingClientRect().bottom,"
            " window.innerHeight]; })()"
        )
    assert banner.strip() == BANNER and 0 < bottom <= height
    assert "champion v1 may NOT drive the portfolio" in state and "kill switch tripped" in state
