"""One view model, every view (issue 29): after each act of a scripted timeline, ``status``,
``models`` (JSON and its HTML inventory), the MLflow version page (tags, description, the
re-rendered model card) and the Prefect standing artifact all say what
:func:`governance.decisions.standing.standing` says, and that is what the acts make.

A governed workspace under the live test policy (``high`` tier). The timeline: train, validate
and approve v1; train and validate v2, reject it; promote v1; sign an overlay (every version
lists it), move the clock past its ``until`` and back; trip and reset the strategy's switch;
retire v1. The expected stages are written here, not read from the code under test; the
MLflow page, the inventory and the card are rendered in headless Chromium. An insider's
shortcut, moving MLflow's ``champion`` alias and its views by hand, changes no view.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from flows.cli import main
from flows.view_refresh import start, wait_for_views
from flows.views import standing_key
from governance.findings.register import today
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from governance.log.ledger import Ledger
from tests.helpers_browser import Browser, mlflow_server, page_url, seen_text
from tests.helpers_e2e import cli_out
from tests.helpers_identity import enrol_cast, make_key, sign_validation, signer

NAME = "one-view"
# Issue 24's live test policy (the shipped one puts high versions through paper first).
CONFIG = str(Path(__file__).resolve().parent / "data" / "small.yaml")
#: the detached refresher, as outside the tests (conftest makes views inline)
pytestmark = pytest.mark.usefixtures("detached_views")


def _train(ws, seed: int) -> tuple[str, str]:
    """dana's signed training of a tiny real LightGBM version, with a model card document
    (what the pipeline's training logs); no validation. Returns (version, run id)."""
    import lightgbm as lgb
    import mlflow
    import numpy as np

    from governance.ground.html import Page, page_to_json
    from governance.identity.signing import append_signed
    from governance.registry.recorder import mlflow_experiment

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(120, 3))
    booster = lgb.train({"verbose": -1, "num_leaves": 4}, lgb.Dataset(X, X[:, 0]), 3)
    mlflow.set_tracking_uri(ws.tracking_uri)
    with mlflow.start_run(experiment_id=mlflow_experiment(NAME, ws)) as run:
        info = mlflow.lightgbm.log_model(booster, name="model", pip_requirements=["lightgbm"])
        card = Page(title=f"{NAME} model card", kind="alphagate model card", verdict="candidate")
        mlflow.log_text(json.dumps(page_to_json(card)), "model_card.json")
    tags = {"developer": "dana", "status": "candidate", "data_fingerprint": "d" * 64,
            "features": "f0,f1,f2", "strategy": NAME}  # fmt: skip
    mv = mlflow.register_model(info.model_uri, NAME, tags=tags)
    with Ledger.open(ws) as ledger:
        append_signed(ledger, signer(ws, "dana", ledger), Action.MODEL_TRAINED,
                      subject=f"strategy:{NAME}", payload={"mlflow_run_id": run.info.run_id,
                                                           "tier": "high"})  # fmt: skip
    return str(mv.version), run.info.run_id


def _derived(ws, act):
    """Run ``act`` (a ledger write outside the command line), then start the detached
    refresher of its views as the command line does after each act (flows/view_refresh.py)."""
    out = act()
    start(ws)
    return out


def _views(ws) -> None:
    """Wait for the detached refreshers, and check that they derived every view (nothing
    left for the waiting process to derive)."""
    assert wait_for_views(ws) == []


def _run_hint(hint: str, ws, tmp: Path) -> int:
    """A printed command run as printed in a shell; only its placeholders filled: ``FILE``
    after ``--key`` with the named person's key, ``FILE.zip`` with a path."""
    who = re.search(r"--as (\S+)", hint)
    cmd = hint.replace("--key FILE", f"--key {make_key(ws, who.group(1))}" if who else "")
    cmd = cmd.replace("FILE.zip", str(tmp / "pack.zip")).replace("alphagate ", "", 1)
    # The team's shell names its run config once (ALPHAGATE_CONFIG), as a team would; the
    # hints name the model, never the config.
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
           "ALPHAGATE_CONFIG": CONFIG}  # fmt: skip
    argv = [sys.executable, "-m", "flows.cli", *shlex.split(cmd)]
    return subprocess.run(argv, env=env, capture_output=True, timeout=300).returncode


# -- what each view says -------------------------------------------------------------------


def _status(capsys, version) -> dict:
    code, out, err = cli_out(capsys, "status", "--config", CONFIG, "--model", NAME,
                             "--model-version", version, "--json")  # fmt: skip
    assert code == 0, err
    return out


def _said_by_status(report: dict) -> dict:
    return {
        "stage": report["stage"],
        "halted": report["halted"],
        "killswitch": report["killswitch"],
        "approved_by": [a["user"] for a in report["approvals"]],
        "rejected_by": [r["user"] for r in report["rejections"]],
        "missing": report["promotion"]["missing"] if report["stage"] in _OPEN else [],
        "overlays": [o["line"] for o in report["overlays"]],
    }


_OPEN = ("not_validated", "in_review", "awaiting_approval", "failed")


def _said_by_mlflow(client, version) -> dict:
    mv = client.get_model_version(NAME, version)
    tags = mv.tags
    decisions = [v for k, v in sorted(tags.items()) if k.startswith("governance.decision.")]
    missing = tags["governance.approvals_missing"]
    return {
        "stage": tags["governance.status"],
        "halted": "**HALTED**" in (mv.description or ""),
        "killswitch": tags["governance.killswitch"],
        "approved_by": [d.split()[2] for d in decisions if d.startswith("approved by")],
        "rejected_by": [d.split()[2] for d in decisions if d.startswith("rejected by")],
        "missing": [] if missing == "-" else missing.split(", "),
        "overlays": [] if tags["governance.overlays"] == "-" else
                    tags["governance.overlays"].split("; "),
    }  # fmt: skip


def _card(client, run_id: str, tmp: Path) -> str:
    """The model card MLflow holds now (re-rendered after each act)."""
    folder = Path(tempfile.mkdtemp(dir=tmp))
    return Path(client.download_artifacts(run_id, "governance/model_card.html", str(folder)))


def _said_by_inventory(row: dict) -> dict:
    return {
        "stage": row["status"],
        "halted": row["halted"],
        "killswitch": row["killswitch"],
        "approved_by": row["approved_by"],
        "rejected_by": row["rejected_by"],
        "missing": row["missing_approvals"],
        "overlays": row["overlays"],
    }


def _said_by_prefect(version) -> dict:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[standing_key(ModelRef.parse(NAME, version))])
            )
        )
    latest = max(found, key=lambda a: a.created)
    text = latest.data
    stage = re.search(r"\*\*([A-Z_]+)( — HALTED)?\*\*", text)
    rows = dict(re.findall(r"^\| (kill switch|approvals missing) \| (.*) \|$", text, re.M))
    missing = rows["approvals missing"]
    return {
        "stage": stage.group(1).lower(),
        "halted": bool(stage.group(2)),
        "killswitch": rows["kill switch"],
        "approved_by": re.findall(r"^\| approved by \| (\S+)", text, re.M),
        "rejected_by": re.findall(r"^\| REJECTED by \| (\S+)", text, re.M),
        "missing": [] if missing == "—" else missing.split(", "),
        "overlays": re.findall(r"^\| in force \| (.*?): [^|]* \|$", text, re.M),
    }


# -- the browser ----------------------------------------------------------------------------


@pytest.fixture
def mlflow_ui(workspace):
    """``mlflow server --workers 1`` on the workspace's store; yields its base URL."""
    with mlflow_server(workspace.tracking_uri) as base:
        yield base


# -- the timeline ---------------------------------------------------------------------------


def test_every_view_says_what_the_acts_make(
    workspace, monkeypatch, capsys, tmp_path, prefect_server, mlflow_ui
):
    from prefect.settings import PREFECT_API_URL

    from governance.decisions.standing import standing
    from governance.registry.recorder import mlflow_client

    monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())
    monkeypatch.setenv("ALPHAGATE_CONFIG", CONFIG)  # every command, printed hints included
    enrol_cast(workspace, monkeypatch=monkeypatch)
    client = mlflow_client(workspace)
    runs: dict[str, str] = {}
    browser = Browser(width=1400, height=1000)

    def check(act: str, expected: dict[str, dict]) -> dict[str, dict]:
        """Every view of every version against the expectation for ``act``."""
        _views(workspace)
        with Ledger.open(workspace) as ledger:
            truth = {v: standing(workspace, ledger, ModelRef.parse(NAME, v)) for v in expected}
        statuses = {v: _status(capsys, v) for v in expected}
        code, inv, err = cli_out(capsys, "models", "--config", CONFIG, "--json",
                                 "--html", str(tmp_path / "inventory.html"))  # fmt: skip
        assert code == 0, err
        (row,) = [m for m in inv["models"] if m["name"] == NAME]
        for v, want in expected.items():
            here = truth[v]
            said = {
                "standing": {
                    "stage": here.stage.value,
                    "halted": here.halted,
                    "killswitch": here.killswitch,
                    "approved_by": [a["user"] for a in here.approvals],
                    "rejected_by": [r["user"] for r in here.rejections],
                    "missing": list(here.missing),
                    "overlays": [o["line"] for o in here.overlays],
                },
                "status": _said_by_status(statuses[v]),
                "mlflow": _said_by_mlflow(client, v),
                "prefect": _said_by_prefect(v),
            }
            if row["version"] == v:
                said["models"] = _said_by_inventory(row)
            for view, facts in said.items():  # every view says what the view model says
                assert facts == said["standing"], f"after {act}: {view} of v{v} disagrees"
                for key, value in want.items():  # ... and that is what the acts make
                    got = facts[key]
                    ok = got.startswith(value) if key == "killswitch" else got == value
                    assert ok, f"after {act}: {view} says {key}={got!r} of v{v}, not {value!r}"
            # what a person sees: the MLflow version page, the model card, the inventory
            page = seen_text(browser, f"{mlflow_ui}/#/models/{NAME}/versions/{v}",
                         "governance.status")  # fmt: skip
            assert here.stage.value in page, f"after {act}: MLflow page of v{v}"
            assert ("HALTED" in page) == here.halted, f"after {act}: MLflow page of v{v}"
            card = seen_text(
                browser, page_url(_card(client, runs[v], tmp_path)), "Governance status"
            )
            assert here.stage.value in card and (("HALTED" in card) == here.halted), act
            assert here.killswitch.split(" by ")[0] in card, act
            for o in here.overlays:  # an overlay in force is seen on the page and the card
                assert o["line"] in page and o["line"] in card, f"after {act}: {o['line']}"
        shown = seen_text(browser, page_url(tmp_path / "inventory.html"), "Registered models")
        verdict = browser.open(page_url(tmp_path / "inventory.html")).evaluate(
            "document.getElementById('verdict').textContent"
        )
        assert row["status"] in shown and (verdict.strip() == "HALTED") == row["halted"], act
        assert all(line in shown for line in row["overlays"]), act
        return statuses

    try:
        armed = "armed"
        # 1. train v1: nothing to approve yet; the next step is a validation naming the model
        v1, runs["1"] = _derived(workspace, lambda: _train(workspace, 1))
        st = check("train", {v1: {"stage": "not_validated", "halted": False, "killswitch": armed,
                                  "approved_by": [], "rejected_by": []}})  # fmt: skip
        assert st[v1]["next"] == [
            f"alphagate validate --model {NAME} --model-version 1 --as vera --key FILE"
        ]
        # 2. validate v1 (vera's signed PASS)
        with Ledger.open(workspace) as ledger:
            sign_validation(workspace, ledger, NAME, v1, "pass", runs["1"])
        start(workspace)
        st = check("validate", {v1: {"stage": "awaiting_approval", "approved_by": [],
                                     "missing": ["validator", "risk_officer"]}})  # fmt: skip
        hints = st[v1]["next"]
        assert all(f"--model {NAME} --model-version 1" in h for h in hints), hints
        # 3. approve: vera runs the hint printed for her, as printed
        (hint,) = [h for h in hints if "--as vera" in h]
        assert _run_hint(hint, workspace, tmp_path) == 0, hint
        st = check("approve", {v1: {"stage": "awaiting_approval", "approved_by": ["vera"],
                                    "missing": ["risk_officer"]}})  # fmt: skip
        # 4. train and validate v2; 5. omar rejects it
        v2, runs["2"] = _derived(workspace, lambda: _train(workspace, 2))
        with Ledger.open(workspace) as ledger:
            sign_validation(workspace, ledger, NAME, v2, "pass", runs["2"])
        start(workspace)
        assert main(["reject", "--config", CONFIG, "--model", NAME, "--model-version", v2,
                     "--as", "omar", "--reason", "challenger weaker than v1"]) == 0  # fmt: skip
        st = check(
            "reject",
            {
                v1: {"stage": "awaiting_approval"},
                v2: {"stage": "rejected", "rejected_by": ["omar"], "missing": []},
            },
        )
        assert st[v2]["next"] == []  # nothing can help a rejected version
        # 6. promote: rita runs the hint printed for her (completes four eyes)
        (hint,) = [h for h in st[v1]["next"] if "approve" in h]
        assert "--as rita" in hint and _run_hint(hint, workspace, tmp_path) == 0, hint
        check("promote", {v1: {"stage": "champion", "approved_by": ["vera", "rita"],
                               "halted": False, "missing": []},
                          v2: {"stage": "rejected"}})  # fmt: skip
        # 6b. rita signs an overlay on the strategy (an asset excluded for five days): every
        # view of every version lists it, as the signed document says
        until = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=5)).isoformat()
        code, signed, err = cli_out(capsys, "overlay", "add", "--strategy", NAME, "--exclude",
                                    "AAA", "--reason", "desk review", "--until", until,
                                    "--config", CONFIG, "--as", "rita", "--json")  # fmt: skip
        assert code == 0, err
        overlay = f"overlay exclude ['AAA'] (seq {signed['entry_seq']}, rita, until {until})"
        check("overlay", {v1: {"stage": "champion", "overlays": [overlay]},
                          v2: {"stage": "rejected", "overlays": [overlay]}})  # fmt: skip
        # 6c. the day after its --until the overlay has lapsed, and no act marks that:
        # `status` and `models` (check runs both first) derive the views again, so every view
        # of every version lists none, the MLflow page and the model card included
        lapsed = dt.date.fromisoformat(until) + dt.timedelta(days=1)
        monkeypatch.setattr("governance.decisions.overlays.today", lambda: lapsed)
        check("overlay lapsed", {v1: {"stage": "champion", "overlays": []},
                                 v2: {"stage": "rejected", "overlays": []}})  # fmt: skip
        for v in (v1, v2):
            assert overlay not in client.get_model_version(NAME, v).description, v
            assert overlay not in Path(_card(client, runs[v], tmp_path)).read_text(), v
        # the clock back to today: it moved in this process only, and the next acts' views
        # are written by detached refreshers (flows/view_refresh.py) on the machine's clock;
        # the overlay is in force again, and the next `status` derives it back everywhere
        monkeypatch.setattr("governance.decisions.overlays.today", today)
        # 7. the strategy's own switch tripped: every view says the champion is halted
        assert main(["killswitch", "trip", "--strategy", NAME, "--as", "rita",
                     "--reason", "drill"]) == 0  # fmt: skip
        check("trip", {v1: {"stage": "champion", "halted": True,
                            "killswitch": "tripped (strategy) by rita"},
                       v2: {"stage": "rejected", "halted": False}})  # fmt: skip
        # 8. reset by two officers: halted until the second
        for who, done in (("rita", True), ("omar", False)):
            assert main(["killswitch", "reset", "--strategy", NAME, "--as", who, "--reason",
                         "drill over", "--incident", "INC-1"]) == 0  # fmt: skip
            check(f"reset by {who}", {v1: {"stage": "champion", "halted": done}})
        # 9. retire v1: no champion any more; the inventory shows the latest version
        assert main(["retire", "--config", CONFIG, "--model", NAME, "--model-version", v1,
                     "--as", "omar", "--reason", "end of life"]) == 0  # fmt: skip
        check("retire", {v1: {"stage": "retired", "halted": False, "missing": []},
                         v2: {"stage": "rejected"}})  # fmt: skip
        # the evidence line on the MLflow page runs as printed
        desc = client.get_model_version(NAME, v1).description
        (line,) = re.findall(r"`(alphagate evidence export [^`]+)`", desc)
        assert f"--model {NAME} --model-version 1" in line
        assert _run_hint(line, workspace, tmp_path) == 0 and (tmp_path / "pack.zip").is_file()
    finally:
        browser.__exit__(None, None, None)


def test_an_alias_moved_by_hand_changes_no_view(workspace, monkeypatch, capsys, tmp_path):
    """The insider's shortcut: set MLflow's ``champion`` alias on an unapproved version, and
    its views by hand (a tag, the registered model's tag, the model card). No view calls it
    champion (the view model reads the signed acts, never the alias), and the next act
    writes every edited view again, though each view writes only what MLflow does not hold."""
    from governance.registry.recorder import mlflow_client

    enrol_cast(workspace, monkeypatch=monkeypatch)
    v1, run_id = _derived(workspace, lambda: _train(workspace, 3))
    with Ledger.open(workspace) as ledger:
        sign_validation(workspace, ledger, NAME, v1, "pass", run_id)
    start(workspace)
    _views(workspace)
    client = mlflow_client(workspace)
    client.set_registered_model_alias(NAME, "champion", v1)
    client.set_model_version_tag(NAME, v1, "governance.status", "champion")
    client.set_registered_model_tag(NAME, "governance.champion", f"v{v1}")
    forged = Path(tempfile.mkdtemp(dir=tmp_path)) / "model_card.html"
    forged.write_text("<html>CHAMPION</html>", encoding="utf-8")
    client.log_artifact(run_id, str(forged), "governance")
    # the next act on the version rewrites its views from the ledger
    assert main(["approve", "--config", CONFIG, "--model", NAME, "--model-version", v1,
                 "--as", "vera", "--reason", "evidence reviewed"]) == 0  # fmt: skip
    _views(workspace)
    assert client.get_model_version(NAME, v1).tags["governance.status"] == "awaiting_approval"
    assert client.get_registered_model(NAME).tags["governance.champion"] == "none"
    card = _card(client, run_id, tmp_path).read_text(encoding="utf-8")
    assert "CHAMPION" not in card and "awaiting_approval" in card
    report = _status(capsys, v1)
    assert (report["stage"], report["halted"], report["standing"]["champion"]) == (
        "awaiting_approval", False, None,
    )  # fmt: skip
    code, inv, _ = cli_out(capsys, "models", "--config", CONFIG, "--json")
    assert code == 0
    (row,) = [m for m in inv["models"] if m["name"] == NAME]
    assert (row["status"], row["champion_version"], row["halted"]) == (
        "awaiting_approval", None, False,
    )  # fmt: skip
