"""The compliance report (issue 27, item 7): ``alphagate compliance report`` maps every PRA
SS1/23 principle and SR 26-2 / OCC 2026-13 area to this workspace's evidence, names the gaps,
and every link it writes resolves. One workspace (module fixture), the real stack:
``alphagate run`` on the review market (verdict REVIEW), rita's signed acceptance of the
warning and vera's approval, as the committee pack's test builds it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from flows.cli import main
from governance.ground.vocabulary import Action, Subject
from governance.ground.workspace import Workspace
from governance.log.ledger import Ledger
from tests.helpers_browser import Browser
from tests.helpers_e2e import (
    DATA,
    cli_json,
    cli_out,
    compliance_links_resolve,
    compliance_renders,
    governed_home,
    review_to_first_approval,
)
from tests.helpers_forge import forge

CONFIG = str(DATA / "review.yaml")
MODEL = "review-e2e"
SS1_23 = [f"Principle {i}" for i in range(1, 6)]
SR26_2 = ["Risk-based approach", "Development and use", "Validation and monitoring",
          "Governance and controls", "Vendor and third-party"]  # fmt: skip


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, prefect_server):
    home = tmp_path_factory.mktemp("compliance") / "home"
    with governed_home(home, CONFIG):
        review_to_first_approval(CONFIG, MODEL)
        yield home


@pytest.fixture(scope="module")
def report(workspace, tmp_path_factory):
    import contextlib
    import io
    import json

    out = tmp_path_factory.mktemp("report") / "compliance.html"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["compliance", "report", "--out", str(out), "--as", "rita", "--json"])
    assert code == 0
    return out, json.loads(buf.getvalue().strip().splitlines()[-1])


def _rows(doc, framework):
    return {r["ref"]: r for r in doc["expectations"] if r["framework"] == framework}


def test_every_principle_and_area_with_its_evidence_and_gaps(workspace, report):
    out, doc = report
    ss1, sr = _rows(doc, "ss1-23"), _rows(doc, "sr26-2")
    assert list(ss1) == SS1_23 and list(sr) == SR26_2
    # independent validation: the signed validation is cited with its report
    validation = ss1["Principle 4"]["evidence"][0]
    with Ledger.open(Workspace(workspace)) as ledger:
        val = ledger.last(action=Action.VALIDATION_COMPLETED)
        export = ledger.last(action=Action.EVIDENCE_EXPORTED)
    assert validation["count"] == 1 and validation["cited"][0]["seq"] == val.seq
    names = {f["name"] for f in validation["cited"][0]["files"]}
    assert {"report.html", "report.json"} <= names
    # gaps, honestly: no kill-switch trip happened here, and the standing gaps of the product
    # (nobody set an owner, signed an overlay or tripped the switch here)
    mitigants = ss1["Principle 5"]
    assert "No kill switch trips and resets recorded in this workspace." in mitigants["gaps"]
    assert any(g.startswith("No overlays and restrictions") for g in mitigants["gaps"])
    assert mitigants["status"] == "partial"  # findings and their acceptance are there
    assert any("senior managers" in g for g in ss1["Principle 1"]["gaps"])
    assert any("vendor model itself" in g for g in sr["Vendor and third-party"]["gaps"])
    assert doc["gaps"] == sum(len(r["gaps"]) for r in doc["expectations"]) > 0
    # per model: v1 with its validation's verdict and vera's approval
    (model,) = doc["models"]
    assert (model["model"], model["version"], model["verdict"]) == (MODEL, 1, "review")
    assert len(model["decisions"]) == 1
    # each principle and area broken down per model version: its own evidence and gaps
    for row in doc["expectations"]:
        (mine,) = row["models"]
        assert (mine["model"], mine["version"]) == (MODEL, 1), row["ref"]
        assert all(not g.startswith("No policy") for g in mine["gaps"])  # workspace-wide
    (v1,) = ss1["Principle 4"]["models"]
    assert v1["evidence"][0]["cited"][0]["seq"] == val.seq
    (v1,) = ss1["Principle 5"]["models"]
    # one model here: every finding entry (rita's signed acceptance) is about v1
    mine = next(k for k in v1["evidence"] if k["label"].startswith("findings"))
    every = next(k for k in ss1["Principle 5"]["evidence"] if k["label"] == mine["label"])
    assert mine["count"] == every["count"] >= 1
    assert f"No kill switch trips and resets for {MODEL} v1." in v1["gaps"]
    assert v1["status"] == "partial"
    # recorded as the identity the key proved, naming the bytes written
    assert (export.actor, export.role, export.subject) == (
        "rita",
        "risk_officer",
        Subject.WORKSPACE,
    )
    assert export.payload["kind"] == "compliance"
    assert export.artifacts["compliance.html"] == hashlib.sha256(out.read_bytes()).hexdigest()


def test_every_link_resolves_and_every_file_is_the_one_the_ledger_names(report):
    compliance_links_resolve(*report)


@pytest.mark.parametrize("width", [1280, 1000])
def test_the_page_renders_offline_and_its_links_open(report, width):
    out, _ = report
    links = compliance_renders(out, width)
    report_link = next(h for h in links if h.endswith("-report.html"))
    assert Path(unquote(urlparse(report_link).path)).is_file()
    with Browser(width=width, height=800) as browser:
        title = browser.open(report_link).evaluate("document.title")
    assert title == f"{MODEL} version 1"


def test_one_framework_and_bad_input(workspace, tmp_path, capsys):
    code, doc = cli_json(capsys, "compliance", "report", "--framework", "ss1-23",
                         "--out", str(tmp_path / "ss1.html"))  # fmt: skip
    assert code == 0 and [r["ref"] for r in doc["expectations"]] == SS1_23
    for argv, said in (
        (["--out", str(tmp_path / "r.pdf")], "must end in .html"),
        (["--out", str(tmp_path / "no" / "r.html")], "does not exist"),
    ):
        code, _json, err = cli_out(capsys, "compliance", "report", *argv)
        assert code == 2 and said in err and "Traceback" not in err, err
        assert len(err.strip().splitlines()) == 1


def test_a_tampered_report_stops_the_compliance_report(workspace, tmp_path, capsys):
    """An edited validation report in the store: the copy is re-hashed, exit 3."""
    with Ledger.open(Workspace(workspace)) as ledger:
        entry = next(e for e in ledger.entries(action=Action.VALIDATION_COMPLETED)
                     if e.subject == Subject.model(MODEL, 1))  # fmt: skip
        path = ledger.store.path(entry.artifacts["report.html"])
    original = path.read_bytes()
    os.chmod(path, 0o644)
    try:
        path.write_bytes(original.replace(b"REVIEW", b"PASS"))
        out = tmp_path / "tampered.html"
        code, _json, err = cli_out(capsys, "compliance", "report", "--out", str(out))
        assert code == 3 and not out.exists(), err
    finally:
        path.write_bytes(original)
        os.chmod(path, 0o444)


def test_a_forged_unsigned_validation_is_not_evidence(workspace, tmp_path, capsys):
    """Last in this module: it leaves the workspace failing verification.

    The attack: an insider with shell appends an unsigned ``validation.completed`` for a
    version nobody validated, to show the principle covered. The report reads a verified
    workspace only: exit 3, nothing written."""
    with Ledger.open(Workspace(workspace)) as ledger:
        forge(ledger, Action.VALIDATION_COMPLETED, actor="vera", role="validator",
                      subject=Subject.model(MODEL, 9),
                      payload={"model_name": MODEL, "model_version": 9, "verdict": "pass"})  # fmt: skip
    out = tmp_path / "forged.html"
    code, _json, err = cli_out(capsys, "compliance", "report", "--out", str(out))
    assert code == 3 and "verification" in err and not out.exists(), err
