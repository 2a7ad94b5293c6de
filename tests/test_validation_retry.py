"""A Prefect retry of the validation stage reuses the validation its first attempt recorded.

``validation.completed`` is keyed by the run (``RunContext.idempotency_key``): a retry of
the ``independent-validation`` task (``service_stage``: two retries on an unexpected error)
that validated again would record a different payload (a new MLflow run) under the same
key, an ``IdempotencyConflict`` that ended the run (bench/bench_validation.py hit the same
conflict by validating twice in one run context). Here the validation gate's recording
fails once after the validation is recorded, as a database hiccup would: the retry finds
this run's validation and the run ends as it would have, with one validation.
"""

from __future__ import annotations

import contextlib
import io
import json

from flows.cli import main
from governance.ground.vocabulary import Action
from governance.ground.workspace import Workspace
from governance.log.ledger import Ledger
from tests.helpers_e2e import SMALL
from tests.helpers_identity import enrol_cast


def test_a_retried_validation_stage_reuses_this_runs_validation(
    workspace, prefect_server, monkeypatch
):
    import governance.decisions.gates as gates

    original, failed = gates.decide_gate, []

    def hiccup(ctx, decision, subject, **kw):
        if decision.gate == "validation" and not failed:
            failed.append(subject)
            raise ConnectionError("database connection reset (once)")
        return original(ctx, decision, subject, **kw)

    monkeypatch.setattr(gates, "decide_gate", hiccup)
    enrol_cast(Workspace(workspace.home), monkeypatch=monkeypatch)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["run", "--config", SMALL, "--as", "dana", "--json"])
    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    assert failed  # the first attempt failed after recording its validation
    assert summary["validation"] is not None and summary["stage"] != "independent-validation"
    with Ledger.open(workspace) as ledger:
        validations = ledger.entries(action=Action.VALIDATION_COMPLETED)
        gate = ledger.entries(action=Action.GATE_VALIDATION)
    assert len(validations) == 1 and len(gate) == 1
    assert code in (0, 3)
