"""The review flow (flows/review.py) end to end against a real Prefect server (issue 29 item 5).

A team reviews v1 of a tiny real LightGBM model under the ``high`` tier of
tests/data/policy-live.yaml: a validator and a risk officer must approve, neither the
developer. The flow runs in a thread, as a worker runs it; the test plays the team from the
main thread. For each pause it reads what the run waits for, both as its terminal line and
as the form's description in Prefect. It runs the printed ``--sign-only`` command as a
subprocess with the approver's own key, and resumes the run with Prefect's
``resume_flow_run(id, run_input={"signature": line})``.

Attacks: a line signed by the model's developer, a line signed for another version, and
vera's accepted line replayed. Each is refused and recorded, and the run waits again for
the same role. Every wait has a timeout  and fails with what the run
printed; it never hangs (tests/helpers_review.py). The ledger is never held across a pause, so the ``--sign-only``
subprocesses run while the flow waits.
"""

from __future__ import annotations

import re

import pytest

from flows.cli import main
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from tests.helpers_e2e import SMALL
from tests.helpers_identity import sign_validation, tiny_version
from tests.helpers_review import Review, printed_command, sign, team_workspace

prefect = pytest.importorskip("prefect")

NAME = "rv"
#: The MLflow server address the links name in the flow tests (their form is checked there;
#: test_the_report_link_opens_... opens one on a live server).
MLFLOW_URL = "http://127.0.0.1:5999"


@pytest.fixture(scope="module")
def team(tmp_path_factory, prefect_server):
    """A governed workspace where dana developed v1 and v2 of ``rv`` and vera validated both
    (pass); v1's latest validation names its MLflow run holding ``validation/report.html``.
    Yields the workspace, the cast's keys and that run's id."""
    from governance.log.ledger import Ledger
    from governance.registry.recorder import log_run

    with team_workspace(tmp_path_factory.mktemp("review"), MLFLOW_URL) as (ws, keys):
        version, run_id = tiny_version(ws, NAME)
        assert (version, tiny_version(ws, NAME)[0]) == ("1", "2")
        report, _ = log_run(
            ws, NAME, tags={"kind": "validation"}, artifact_path="validation",
            files={"report.html": b"<html><body>report</body></html>"},
        )  # fmt: skip
        with Ledger.open(ws) as ledger:  # v1's latest validation names its MLflow run
            sign_validation(ws, ledger, NAME, "1", "pass", run_id, mlflow_run_id=report)
        yield ws, keys, report


def test_a_team_signs_in_turn_and_attacks_are_refused_while_it_waits(team, capsys):
    from governance.log.ledger import Ledger

    workspace, keys, report_run = team
    review = Review(capsys, NAME)

    # 1. it waits for a validator: what, who, the exact command, the report on MLflow
    line, form = review.paused()
    assert "waiting for a validator's signed approval (vera, val)" in line, line
    assert "still missing: validator, risk_officer" in line
    command = printed_command(line)
    assert command == (
        f"alphagate approve --model {NAME} --model-version 1 --as vera --key FILE"
        f' --reason "..." --config {SMALL} --sign-only'
    )
    report = re.search(r"report: (\S+)", line).group(1)
    assert report.startswith(f"{MLFLOW_URL}/#/experiments/"), report
    assert report.endswith(f"/runs/{report_run}/artifacts/validation/report.html")
    assert command in form and report in form and "waits for a validator" in form

    # 2. the developer signs: refused, recorded, the run waits again for a validator
    review.answer(sign(command, keys, **{"as": "dana"}))
    line, form = review.paused()
    assert line.startswith("refused: ") and "role" in line and "developer" in line, line
    assert "waiting for a validator's" in line and form.startswith("**Refused:**")

    # 3. a line signed for another version: refused
    review.answer(sign(command, keys, model_version="2", **{"as": "val"}))
    line, _ = review.paused()
    assert "it signs model_version '2', not '1'" in line and "waiting for a validator's" in line

    # 4. vera signs as printed: counted; the run now waits for a risk officer
    vera = sign(command, keys)
    review.answer(vera)
    line, form = review.paused()
    assert not line.startswith("refused") and "waiting for a risk_officer's" in line, line
    assert "(rita, omar)" in line and "still missing: risk_officer;" in line
    command = printed_command(line)
    assert "--as rita" in command and "--model rv --model-version 1" in command

    # 5. vera's line again (a replay): refused; still waiting for a risk officer
    review.answer(vera)
    line, _ = review.paused()
    assert line.startswith("refused: ") and "waiting for a risk_officer's" in line, line

    # 6. rita signs as printed: four eyes complete, v1 is promoted, the run ends
    review.answer(sign(command, keys))
    state = review.end()
    assert state.is_completed(), state
    here = state.result()
    assert here["stage"] == "champion" and here["missing"] == []
    assert [(a["user"], a["role"]) for a in here["approvals"]] == [
        ("vera", "validator"),
        ("rita", "risk_officer"),
    ]
    assert review.err.strip().splitlines()[-1] == (
        f"review {NAME} v1: champion; approved by vera (validator), rita (risk_officer)"
    )
    with Ledger.open(workspace) as ledger:
        subject = f"model:{NAME}/v1"
        refused = [e.actor for e in ledger.entries(Action.APPROVAL_REFUSED, subject)]
        granted = [e.actor for e in ledger.entries(Action.APPROVAL_GRANTED, subject)]
        promoted = ledger.entries(Action.MODEL_PROMOTED, subject)
    assert (refused, granted, len(promoted)) == (["dana", "val", "vera"], ["vera", "rita"], 1)


def test_alphagate_review_waits_in_the_terminal_and_a_timeout_records_nothing(team, capsys):
    """``alphagate review`` runs the flow in the terminal against the team's server: it
    says what it waits for; a wait that times out fails the run, records nothing, and exits
    3 with the version's standing (v2: nobody has signed it)."""
    import json

    from prefect.settings import PREFECT_API_URL

    from governance.log.ledger import Ledger

    workspace = team[0]
    with Ledger.open(workspace) as ledger:
        head = ledger.head()[0]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PREFECT_API_URL", PREFECT_API_URL.value())  # the test server
        argv = ["review", "--model", NAME, "--model-version", "2", "--config", SMALL]
        code = main([*argv, "--timeout", "2", "--json"])
    out, err = capsys.readouterr()
    assert code == 3, err
    assert "waiting for a validator's signed approval (vera, val)" in err
    assert "no signed approval within 2 s; review rv v2: waiting for a validator's" in err
    assert err.strip().splitlines()[-1].startswith("alphagate: review ended with approvals missing")
    here = json.loads(out.strip().splitlines()[-1])
    assert (here["version"], here["stage"], here["missing"]) == (
        "2",
        "awaiting_approval",
        ["validator", "risk_officer"],
    )
    with Ledger.open(workspace) as ledger:
        assert ledger.head()[0] == head  # a timeout is nobody's decision


def test_review_needs_a_server_the_team_reaches(team, capsys, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    code = main(["review", "--model", NAME, "--model-version", "1", "--config", SMALL])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "alphagate serve" in err[0], err


def test_the_report_link_opens_the_validation_run_on_a_live_mlflow_server(team, monkeypatch):
    """The link a review prints (flows/ui_form.report_url, what every wait's line and form
    carry) against the MLflow server ``alphagate serve`` starts on the workspace's store:
    the page answers 200, and the experiment and run the link names are the validation's,
    whose ``validation/report.html`` the server hands back."""
    import json
    import urllib.request
    from urllib.parse import quote

    from flows.serve import (
        LOOPBACK,
        mlflow_env,
        mlflow_server_service,
        service_env,
        start,
        stop,
        wait_ready,
    )
    from flows.ui_form import REPORT_ROUTE, report_url
    from tests.helpers_witness import free_port

    workspace, _, report_run = team
    port = free_port()
    server = start(
        mlflow_server_service(workspace, LOOPBACK, port), mlflow_env(service_env(workspace))
    )
    try:
        wait_ready(server)
        base = f"http://{LOOPBACK}:{port}"
        monkeypatch.setenv("ALPHAGATE_MLFLOW_URL", base)
        link = report_url(workspace, report_run)
        match = re.fullmatch(
            rf"{re.escape(base)}/#/experiments/(\w+)/runs/(\w+)/artifacts/(.+)", link
        )
        assert match, link
        experiment, run, route = match.groups()
        assert (run, route) == (report_run, REPORT_ROUTE)

        def get(url: str) -> tuple[int, bytes]:
            with urllib.request.urlopen(url, timeout=60) as response:
                return response.status, response.read()

        status, page = get(link)  # the browser asks for the page; the fragment is its route
        assert status == 200 and b"<html" in page.lower()
        status, body = get(f"{base}/api/2.0/mlflow/runs/get?run_id={run}")
        info = json.loads(body)["run"]["info"]
        assert status == 200 and (info["run_id"], info["experiment_id"]) == (run, experiment)
        status, body = get(f"{base}/get-artifact?path={quote(route)}&run_uuid={run}")
        assert status == 200 and body == b"<html><body>report</body></html>"
    finally:
        stop(server)


def test_the_pipeline_hands_a_version_to_its_review_and_never_pauses(team, monkeypatch):
    """The pipeline's approval gate (``governance.ui_approval``) does not pause for a person:
    :func:`flows.review.hand_off` names the ``alphagate review`` command and, once the server
    has deployment ``version-review`` (``serve`` deploys prefect.yaml; here the flow's own
    deployment is applied to the test server), starts the version's review run there and
    names its URL; the run is scheduled for the worker with this version's parameters."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    from flows.review import DEPLOYMENT, hand_off, review_flow

    api = PREFECT_API_URL.value()
    monkeypatch.setenv("PREFECT_API_URL", api)
    command = f"alphagate review --model {NAME} --model-version 2 --config {SMALL}"
    assert hand_off(SMALL, ModelRef(NAME, 2)) == [
        f"review {NAME} v2 in Prefect: {command}",
        f"no deployment {DEPLOYMENT} on {api} (`alphagate serve` deploys it): run the command"
        " above",
    ]
    review_flow.to_deployment(name=DEPLOYMENT.split("/")[1]).apply()
    first, started = hand_off(SMALL, ModelRef(NAME, 2))
    assert first == f"review {NAME} v2 in Prefect: {command}"
    ui = api.removesuffix("/").removesuffix("/api")
    match = re.fullmatch(
        rf"review run started on serve's worker: {re.escape(ui)}/runs/flow-run/(\S+)", started
    )
    assert match, started
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(match.group(1))
    assert run.state.is_scheduled() and run.parent_task_run_id is None
    assert (run.parameters["model"], run.parameters["model_version"]) == (NAME, 2)
    assert run.parameters["config"] == {"file": SMALL}
