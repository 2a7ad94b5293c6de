"""The review path end to end under the ``high`` tier (issue 14).

A planted-signal market (tests/data/review.yaml) whose model earns ``review``: one SHAP
sign warning. A risk officer accepts it (signed, time-limited, with a control); then a
validator and a risk officer approve, the approval documents and the promotion entry name
the accepted finding, and the champion drives the rebalance. An acceptance dated in the
past, and a revalidation that falls due, stop it driving per the tier's policy.
"""

from __future__ import annotations

import datetime as dt
import zipfile

import pytest

from flows.cli import main
from governance.findings.register import today
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from governance.ground.workspace import Workspace
from tests.helpers_e2e import DATA, cli_json, governed_home
from tests.helpers_identity import signer

CONFIG = str(DATA / "review.yaml")
MODEL = "review-e2e"


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory, prefect_server):
    home = tmp_path_factory.mktemp("review") / "home"
    with governed_home(home, CONFIG):
        yield home


def _ledger():
    from governance.log.ledger import Ledger

    ws = Workspace.from_env()
    return ws, Ledger.open(ws)


def _tier():
    from flows.config import load_config
    from governance.policy.config import load_policy_for

    return load_policy_for(load_config(CONFIG))


def test_review_accept_approve_drive(reviewed, capsys):
    code, run = cli_json(capsys, "run", "--config", CONFIG, "--as", "dana")
    assert (code, run["stage"], run["validation"]["verdict"]) == (3, "validation", "review")
    version = str(run["model_version"])
    code, listed = cli_json(capsys, "findings", "list", "--model-version", version)
    assert [(f["check"], f["severity"], f["status"]) for f in listed["findings"]] == [
        ("shap_sign", "warning", "open")
    ]
    fid = listed["findings"][0]["id"]
    assert fid == f"F-{MODEL}-v{version}-1"
    assert run["validation"]["findings"][0].startswith(f"[warning] {fid} shap_sign:")
    # the demo guide shows what is still open and the exact commands
    from flows.demo import guide
    from flows.summary import RunSummary

    text = guide(RunSummary.from_json(run), CONFIG)
    assert f"alphagate findings accept {fid} --as rita" in text

    # the status command names what is still open and the exact commands
    code, status = cli_json(capsys, "status", "--model-version", version)
    assert status["open_findings"] == [fid]
    assert any(c.startswith(f"alphagate findings accept {fid} --as rita") for c in status["next"])

    # nobody may approve while the warning stands; the developer may not accept it
    approve = ["approve", "--model-version", version, "--reason", "ok"]
    assert main([*approve, "--as", "vera"]) == 4
    until = (today() + dt.timedelta(days=90)).isoformat()
    accept = ["findings", "accept", fid, "--reason", "prior too strict for short momentum",
              "--until", until, "--control", "monthly SHAP sign review"]  # fmt: skip
    assert main([*accept, "--as", "dana"]) == 4
    far = (today() + dt.timedelta(days=400)).isoformat()
    assert main([*accept[:-4], "--until", far, "--control", "x", "--as", "rita"]) == 4
    assert main([*accept[:-2], "--as", "rita"]) == 2  # high tier requires a control

    # an acceptance dated in the past (through the production writer) covers nothing now
    ws, ledger = _ledger()
    with ledger:
        from governance.findings.accept import accept as accept_finding

        _policy, tier, digest = _tier()
        past = today() - dt.timedelta(days=60)
        accept_finding(
            ws, ledger, fid, signer(ws, "rita", ledger), "stale", (past + dt.timedelta(days=30)).isoformat(),
            "none", tier=tier, tier_name="high", policy_hash=digest, day=past,
        )  # fmt: skip
    code, shown = cli_json(capsys, "findings", "show", fid)
    assert shown["status"] == "expired"
    assert main([*approve, "--as", "vera"]) == 4

    # accepted now by a risk officer, then four eyes promote
    assert main([*accept, "--as", "rita"]) == 0
    assert main([*approve, "--as", "vera"]) == 0
    assert main([*approve, "--as", "omar"]) == 0
    ws, ledger = _ledger()
    with ledger:
        promoted = ledger.last(action=Action.MODEL_PROMOTED)
        grants = ledger.entries(action=Action.APPROVAL_GRANTED)
    _code, shown = cli_json(capsys, "findings", "show", fid)
    accepted = [{"id": fid, "digest": shown["digest"], "until": until}]
    assert promoted.payload["accepted_findings"] == accepted
    assert [g.payload["signed"]["accepted_findings"] for g in grants] == [accepted, accepted]

    # MLflow shows the accepted finding on the version, linked to the report
    from flows.view_refresh import wait_for_views
    from governance.registry.recorder import mlflow_client

    assert wait_for_views(ws) == []  # derived by the acts' detached refreshers
    mv = mlflow_client(ws).get_model_version(MODEL, version)
    assert (mv.tags["findings.open"], mv.tags["findings.accepted"]) == ("none", f"{fid}@{until}")
    assert f"accepted {fid} until {until}" in mv.description
    assert "/artifacts/validation/report.html)" in mv.description
    code, status = cli_json(capsys, "status")
    assert (status["open_findings"], status["accepted_findings"]) == ([], [fid])
    assert status["may_drive"] == {"allowed": True, "reasons": [], "champion": version}

    code, reb = cli_json(capsys, "rebalance", "--config", CONFIG, "--as", "dana")
    assert (code, reb["portfolio"]["source"], reb["portfolio"]["model_version"]) == (
        0,
        "model",
        version,
    )
    assert main(["ledger", "verify"]) == 0


def test_expiry_and_cadence_stop_the_champion_per_policy(reviewed, capsys):
    from governance.decisions.killswitch import Trigger, auto_trip
    from governance.decisions.model_use import model_may_drive
    from governance.decisions.promotion import latest_validation
    from governance.findings.review import use_checks
    from governance.policy.schema import BreachAction

    _policy, tier, _digest = _tier()
    ws, ledger = _ledger()
    with ledger:
        allowed, reasons, version = model_may_drive(ws, ledger, MODEL, tier)
        assert (allowed, reasons) == (True, [])
        validation = latest_validation(ledger, ModelRef.parse(MODEL, version))
        until = dt.date.fromisoformat(ledger.last(action=Action.FINDING_ACCEPTED).payload["until"])
        later = use_checks(
            ledger,
            ModelRef.parse(MODEL, version),
            validation,
            tier,
            day=until + dt.timedelta(days=1),
        )
        assert [b.split(" expired")[0] for b in later.blockers] == [
            f"acceptance of F-{MODEL}-v{version}-1"
        ]
        warn = tier.model_copy(
            update={"monitoring": tier.monitoring.model_copy(
                update={"on_acceptance_expired": BreachAction.WARN})}
        )  # fmt: skip
        assert use_checks(
            ledger, ModelRef.parse(MODEL, version), validation, warn, day=until + dt.timedelta(1)
        ).warnings
        year = use_checks(
            ledger,
            ModelRef.parse(MODEL, version),
            validation,
            tier,
            day=today() + dt.timedelta(400),
        )
        assert any(b.startswith(f"revalidation of v{version} was due") for b in year.blockers)
        # trigger-based: a monitoring breach makes revalidation due at once (high tier)
        # as monitoring trips it: the strategy's own switch
        auto_trip(ledger, tier, Trigger.MONITORING_BREACH, "drill", {}, strategy=MODEL)
    for who in ("rita", "omar"):
        reset = ["killswitch", "reset", "--reason", "drill over", "--incident", "INC-7",
                 "--strategy", MODEL]  # fmt: skip
        assert main([*reset, "--as", who]) == 0
    code, reb = cli_json(capsys, "rebalance", "--config", CONFIG, "--as", "dana")
    assert (code, reb["portfolio"]["source"]) == (3, "fallback")
    assert any("revalidation" in r for r in reb["portfolio"]["reasons"])
    # the validator revalidates: same finding, same digest, the acceptance still covers it
    code, out = cli_json(capsys, "validate", "--model-version", version, "--as", "vera")
    assert out["validation"]["verdict"] == "review"
    code, reb = cli_json(capsys, "rebalance", "--config", CONFIG, "--as", "dana")
    assert (code, reb["portfolio"]["source"]) == (0, "model"), reb["portfolio"]["reasons"]
    # the weekly pipeline again: same version, its findings accepted, no validation halt
    code, again = cli_json(capsys, "run", "--config", CONFIG, "--as", "dana")
    assert (code, again["status"], str(again["model_version"])) == (0, "completed", version)
    assert again["portfolio"]["source"] == "model"


def test_findings_and_acceptances_travel_in_the_evidence_pack(reviewed, tmp_path, capsys):
    pack = tmp_path / "evidence.zip"
    assert main(["evidence", "export", "--model-version", "1", "--out", str(pack)]) == 0
    assert main(["evidence", "verify", str(pack)]) == 0
    with zipfile.ZipFile(pack) as z:
        names = z.namelist()
    assert any(
        Action.FINDING_ACCEPTED in n or "accept" in n for n in names if n.startswith("approvals/")
    )
    assert "inventory/models.json" in names
