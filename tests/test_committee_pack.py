"""The committee pack (issue 29): ``alphagate evidence committee`` writes one self-contained HTML
page with the decision requested on its first screen, read from the ledger and the store only.

One workspace (module fixture), the real stack: ``alphagate run`` on the review market under
the high tier (verdict REVIEW, one SHAP-sign warning; the run publishes the fallback book, so
risk and stress exist), rita's signed acceptance of the warning and vera's approval: the
committee is asked for the risk officer's approval that promotes v1.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
from pathlib import Path

import pytest

from flows.cli import main
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action, Subject
from governance.ground.workspace import Workspace
from governance.log.ledger import Ledger
from tests.helpers_browser import Browser, page_url
from tests.helpers_e2e import DATA, cli_json, cli_out, governed_home, review_to_first_approval
from tests.helpers_forge import forge

CONFIG = str(DATA / "review.yaml")
MODEL = "review-e2e"
FID = f"F-{MODEL}-v1-1"
SECTIONS = (
    "Findings", "Limitations", "Validation", "Backtest", "Risk and stress",
    "Approvals and signatures",
)  # fmt: skip


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, prefect_server):
    home = tmp_path_factory.mktemp("committee") / "home"
    with governed_home(home, CONFIG):
        until = review_to_first_approval(CONFIG, MODEL)
        yield {"home": home, "until": until}


@pytest.fixture(scope="module")
def pack(workspace, tmp_path_factory):
    """The pack, written by ``--as rita`` (her key from the keyring proves her)."""
    import contextlib
    import io
    import json

    out = tmp_path_factory.mktemp("pack") / "committee.html"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["evidence", "committee", "--model-version", "1", "--out", str(out),
                     "--as", "rita", "--json"])  # fmt: skip
    assert code == 0
    return {"path": out, "json": json.loads(buf.getvalue().strip().splitlines()[-1])}


def _text(path: Path) -> str:
    body = re.sub(r"<style.*?</style>", "", path.read_text(encoding="utf-8"), flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


def _ledger(home: Path) -> Ledger:
    return Ledger.open(Workspace(home))


def test_pack_holds_every_section_the_findings_and_the_signatures(workspace, pack):
    text = _text(pack["path"])
    headings = re.findall(r"<h2[^>]*>(.*?)</h2>", pack["path"].read_text(encoding="utf-8"))
    assert [h for h in headings if h in SECTIONS] == list(SECTIONS)
    decision = "Promotion to champion of v1 (approvals still needed: risk_officer)."
    assert pack["json"]["decision_requested"] == decision
    assert pack["json"]["state"] == "review"
    assert f"decision requested {decision}" in text
    # the finding with its owners: who raised it, who accepted it, until when, under what control
    row = f"{FID} warning accepted"
    assert row in text and f"vera rita {workspace['until']} monthly SHAP sign review" in text
    # limitations: the trial count this validation deflated for, and the model card's own
    assert re.search(r"deflated the Sharpe ratio for \d+ recorded trial", text)
    assert "From the model card:" in text
    # risk and stress of the published (fallback) book; a gain is printed as a gain
    assert "The strategy's latest published book" in text and "source fallback" in text
    assert "Scenarios outside the data, not run:" in text
    with _ledger(workspace["home"]) as ledger:
        grant = ledger.last(action=Action.APPROVAL_GRANTED)
        export = ledger.last(action=Action.EVIDENCE_EXPORTED)
    assert f"{Action.APPROVAL_GRANTED} vera validator holdout evidence reviewed" in text
    assert grant.payload["signed_digest"] in text
    assert f"verified ({grant.payload['signature'][:16]}…)" in text
    # recorded as the identity the key proved, naming the bytes written
    digest = hashlib.sha256(pack["path"].read_bytes()).hexdigest()
    assert (export.actor, export.role) == ("rita", "risk_officer")
    assert export.subject == Subject.model(MODEL, 1)
    assert export.payload["kind"] == "committee" and export.artifacts["committee.html"] == digest
    assert pack["json"]["html_sha256"] == digest
    assert "SANDBOX" not in text


@pytest.mark.parametrize("width", [1280, 1000])
def test_pack_renders_offline_without_overflow_decision_first(pack, width):
    url = page_url(pack["path"])
    with Browser(width=width, height=800) as browser:
        loaded = browser.open(url)
        others = [r for r in loaded.requests if r != url and not r.startswith("data:")]
        assert others == [], f"the pack requested {others}"
        scroll, client = loaded.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert scroll <= client, f"overflows at {width} px: {scroll} > {client}"
        assert loaded.evaluate("document.images.length") >= 3  # figures, inlined
        bottom, height, verdict, decision = loaded.evaluate(
            "(() => { const v = document.getElementById('verdict');"
            " const d = [...document.querySelectorAll('tr')]"
            ".find(r => r.textContent.includes('decision requested'));"
            " return [d.getBoundingClientRect().bottom, window.innerHeight, v.textContent,"
            " d.textContent]; })()"
        )
    assert verdict.strip() == "REVIEW" and "Promotion to champion" in decision
    assert 0 < bottom <= height, "the decision requested is not on the first screen"


def test_bad_input_is_one_line_and_records_nothing(workspace, tmp_path, capsys):
    with _ledger(workspace["home"]) as ledger:
        before = ledger.head()
    cases = [
        (["--model-version", "1", "--out", str(tmp_path / "pack.pdf")], "must end in .html"),
        (["--model-version", "1", "--out", str(tmp_path / "no" / "pack.html")], "does not exist"),
        (["--model-version", "9", "--out", str(tmp_path / "pack.html")], "has no version 9"),
        (["--out", str(tmp_path / "pack.html"), "--pdf", str(tmp_path / "p.txt")], "end in .pdf"),
        (["--model", "nobody", "--out", str(tmp_path / "pack.html")], "nobody"),
    ]
    for argv, said in cases:
        code, _json, err = cli_out(capsys, "evidence", "committee", *argv)
        assert code in (2, 4) and said in err, (argv, code, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not list(tmp_path.rglob("*.html"))
    with _ledger(workspace["home"]) as ledger:
        appended = ledger.entries(after_seq=before[0])
    assert [e for e in appended if e.action == Action.EVIDENCE_EXPORTED] == []


def test_a_tampered_artifact_stops_the_pack(workspace, tmp_path, capsys):
    """The attack: edit the validation report in the store so the pack shows a kinder story.
    The pack re-hashes what it reads: exit 3, and no file is written."""
    with _ledger(workspace["home"]) as ledger:
        entry = ledger.last(action=Action.VALIDATION_COMPLETED)
        path = ledger.store.path(entry.artifacts["report.json"])
    original = path.read_bytes()
    os.chmod(path, 0o644)
    try:
        path.write_bytes(original.replace(b'"review"', b'"pass"'))
        out = tmp_path / "pack.html"
        code, _json, err = cli_out(capsys, "evidence", "committee", "--out", str(out))
        sha = entry.artifacts["report.json"]
        assert code == 3 and sha[:12] in err and not out.exists(), err
    finally:
        path.write_bytes(original)
        os.chmod(path, 0o444)
    code, shown = cli_json(capsys, "evidence", "committee", "--out", str(tmp_path / "ok.html"))
    assert code == 0 and shown["state"] == "review"


def test_a_rejection_asks_for_no_decision(workspace, tmp_path, capsys):
    assert main(["reject", "--model-version", "1", "--as", "omar",
                 "--reason", "tail risk unexplained"]) == 0  # fmt: skip
    out = tmp_path / "pack.html"
    code, shown = cli_json(capsys, "evidence", "committee", "--out", str(out))
    assert (code, shown["state"]) == (0, "rejected")
    assert shown["decision_requested"].startswith("None: v1 was rejected by omar (risk_officer")
    # recorded without a key: as alphagate itself, never as a claimed name
    with _ledger(workspace["home"]) as ledger:
        export = ledger.last(action=Action.EVIDENCE_EXPORTED)
    assert (export.actor, export.role) == ("alphagate", "system")
    assert f"{Action.APPROVAL_REJECTED} omar risk_officer tail risk unexplained" in _text(out)


def test_the_pdf_is_the_same_pack_printed_offline(workspace, tmp_path, capsys):
    """``--pdf``: WeasyPrint prints the page (skip where it is not installed); the PDF is
    stored and recorded beside the HTML, and its fetcher loads nothing but ``data:`` URIs."""
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError) as exc:  # not installed, or no Pango
        pytest.skip(f"WeasyPrint unavailable: {exc}")
    from weasyprint.urls import FatalURLFetchingError

    from governance.ground.pdf import render_pdf

    html, pdf = tmp_path / "pack.html", tmp_path / "pack.pdf"
    code, shown = cli_json(capsys, "evidence", "committee", "--out", str(html), "--pdf", str(pdf))
    data = pdf.read_bytes()
    assert code == 0 and data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    with _ledger(workspace["home"]) as ledger:
        export = ledger.last(action=Action.EVIDENCE_EXPORTED)
    assert export.artifacts["committee.pdf"] == hashlib.sha256(data).hexdigest()
    assert shown["pdf_sha256"] == export.artifacts["committee.pdf"]
    with pytest.raises(FatalURLFetchingError):
        render_pdf('<p>x</p><img src="http://127.0.0.1:9/beacon.png">')


def test_a_forged_kinder_validation_is_not_the_one_shown(workspace, tmp_path, capsys):
    """The attack: append an unsigned ``validation.completed`` whose report says PASS (anyone
    with a shell can append through ``Ledger.append``). The pack's reader holds the validator's
    signed verdict and report, not the latest entry, and the command refuses a workspace that
    fails verification (exit 3, as ``evidence export``). Last in the module: the entry stays."""
    with _ledger(workspace["home"]) as ledger:
        held = ledger.last(action=Action.VALIDATION_COMPLETED)
        report = ledger.store.read_json(held.artifacts["report.json"])
        forged = ledger.store.put_json({**report, "verdict": "pass", "findings": []})
        payload = {k: v for k, v in held.payload.items() if k not in ("signed", "signature")}
        forge(
            ledger, Action.VALIDATION_COMPLETED, actor="vera", role="validator",
            subject=held.subject,
            payload={**payload, "verdict": "pass", "findings": [], "report_json_sha256": forged},
            artifacts={"report.json": forged},
        )  # fmt: skip
    # what the pack reads is the validator's signed validation and report, not the latest entry
    from governance.views.committee_facts import committee_facts

    with _ledger(workspace["home"]) as ledger:
        facts = committee_facts(ledger, ModelRef(MODEL, 1))
    assert facts.validation.entry.seq == held.seq and facts.report["verdict"] == "review"
    # and no pack comes from a workspace that fails verification (the unsigned verdict)
    out = tmp_path / "pack.html"
    code, _json, err = cli_out(capsys, "evidence", "committee", "--out", str(out))
    assert code == 3 and "fails verification" in err and "unsigned" in err and not out.exists()


@pytest.mark.parametrize(
    ("state", "badge", "said"),
    [
        ({"verdict": "pass", "paper_first": True, "promotion": {"missing": ["validator"]}},
         "pass", "Approval for paper trading of v2 (approvals still needed: validator)."),
        ({"verdict": "pass", "promotion": {"missing": []}},
         "pass", "Promotion to champion of v2 (every approval given)."),
        ({"verdict": "review", "open_findings": ["F-m-v2-1"], "promotion": {"missing": []}},
         "review", "Promotion to champion of v2 (findings to accept first: F-m-v2-1)."),
        ({"verdict": "fail", "promotion": {}}, "fail", "None: validation FAIL"),
        ({"verdict": "review", "unacceptable_findings": ["F-m-v2-2"], "promotion": {}},
         "review", "None: validation REVIEW with findings this tier never accepts"),
        ({"verdict": None, "promotion": {}}, "not validated", "None yet"),
        ({"verdict": "pass", "promotion": {"champion": True}}, "champion", "None: v2 is the"),
        ({"verdict": "pass", "promotion": {"champion": True},
          "rejections": [{"user": "rita", "role": "risk_officer", "ts": "2026-12-01T10:00Z"}]},
         "rejected", "None: v2 was rejected by rita (risk_officer, 2026-12-01)"),
    ],
)  # fmt: skip
def test_the_decision_requested_follows_the_state(state, badge, said):
    """The cover's badge and sentence for each state ``alphagate status`` reports."""
    from governance.views.committee import decision_requested

    got_badge, sentence = decision_requested({"version": "2", **state})
    assert got_badge == badge and sentence.startswith(said), sentence
