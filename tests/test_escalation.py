"""Escalation (issue 24 item 5): a monitoring warning raises a finding on the version, once
while it stands, not once per run; a critical value trips the switch (tests/test_monitoring_series.py).

The reports are the real ``assess_monitoring`` on a planted market (IC 0.2, no flip) whose
validated IC is stated as 0.6 ± 0.01: the realised IC (about 0.2) is far below the decay
floor 0.5 x 0.6 = 0.3, so IC decay warns on every run (z well below -1.645; the policy does
not trip on decay) and nothing breaches. They are recorded through the monitoring flow's own
recorder into a real ledger; findings are read back through the register's fold.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from governance.findings.register import Status, load_register
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action, Subject
from governance.policy.schema import Tier
from tasks.data.synthetic import SyntheticSpec, generate_market, planted_characteristic
from validation.monitoring import assess_monitoring
from validation.monitoring_checks import Check
from validation.monitoring_checks import Status as CheckStatus

STRATEGY, VERSION = "decayer", 1
DAYS = (500, 521, 542, 563, 584)


@pytest.fixture(scope="module")
def reports():
    long = generate_market(SyntheticSpec(n_assets=60, n_days=700, ic=0.2, seed=3))
    close = long.pivot(index="date", columns="asset", values="close").sort_index()
    scores = planted_characteristic(long)
    empty = pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"), "x": []})
    return [
        assess_monitoring(
            as_of=close.index[d], scores=scores, features=empty, reference=empty[["x"]],
            close=close, horizon=21, feature_names=["x"], policy=Tier().monitoring,
            validated_ic=0.6, validated_se=0.01,
            header={"model": {"name": STRATEGY, "version": VERSION}},
        )
        for d in DAYS
    ]  # fmt: skip


def _record(ws, report, key):
    from flows.monitoring import record_monitoring
    from governance.decisions.context import RunContext

    ctx = RunContext.open(ws, actor="alphagate", role="system", run_key=key)
    try:
        return record_monitoring(ctx, Tier(), report)
    finally:
        ctx.close()


def test_a_warning_raises_one_finding_not_one_per_run(workspace, reports, monkeypatch):
    from governance.findings.accept import accept
    from governance.log.ledger import Ledger
    from tests.helpers_identity import enrol_cast, signer

    enrol_cast(workspace, monkeypatch=monkeypatch)
    for r in reports:
        (warned,) = [c for c in r.checks if c.status is CheckStatus.WARNING]
        assert warned.check is Check.IC_DECAY and not r.breaches
    first = [_record(workspace, r, f"mon-{i}") for i, r in enumerate(reports[:3])]
    fid = f"F-{STRATEGY}-v{VERSION}-1"
    assert [o.findings_raised for o in first] == [(fid,), (), ()]
    assert not any(o.tripped for o in first)

    with Ledger.open(workspace) as ledger:
        (raised,) = ledger.entries(action=Action.FINDING_RAISED)
        assert raised.subject == Subject.model(STRATEGY, VERSION)
        assert raised.payload["monitoring_seq"] == first[0].entry.seq
        record = load_register(ledger).get(fid)
        assert (record.check, record.origin, record.status) == ("ic_decay", "monitoring", "open")
        assert record.severity == "warning" and "realised IC" in record.message
        # a risk officer accepts it for a while: the runs that still warn raise nothing
        day = dt.date.today()
        accept(
            workspace, ledger, fid, signer(workspace, "rita", ledger), "known regime",
            (day + dt.timedelta(days=30)).isoformat(), "weekly IC review", tier=Tier(),
            tier_name="high", policy_hash="p", day=day,
        )  # fmt: skip
    later = [_record(workspace, r, f"mon-{i}") for i, r in enumerate(reports[3:], start=3)]
    assert [o.findings_raised for o in later] == [(), ()]
    with Ledger.open(workspace) as ledger:
        assert len(ledger.entries(action=Action.FINDING_RAISED)) == 1
        assert load_register(ledger).get(fid).status is Status.ACCEPTED
        # once the acceptance has passed its date, the warning stands again: raised again
        after = day + dt.timedelta(days=31)
        assert load_register(ledger, as_of=after).get(fid).status is Status.EXPIRED


def test_a_revalidation_does_not_remediate_a_finding_raised_in_use(workspace, monkeypatch):
    """A validation remediates the findings of earlier validations it does not raise; a
    finding the model's use raised stays until it is accepted."""
    from governance.findings.escalation import finding, raise_once
    from governance.identity.signing import append_signed
    from governance.log.ledger import Ledger
    from tests.helpers_identity import enrol_cast, signer

    enrol_cast(workspace, monkeypatch=monkeypatch)
    with Ledger.open(workspace) as ledger:
        (raised,) = raise_once(
            ledger, ModelRef.parse(STRATEGY, VERSION), [finding("ic_decay", "decayed", value=0.1)],
            origin="monitoring",
        )  # fmt: skip
        again = raise_once(
            ledger, ModelRef.parse(STRATEGY, VERSION), [finding("ic_decay", "decayed more", value=0.05)],
            origin="monitoring",
        )  # fmt: skip
        assert again == []  # it stands: not raised twice
        append_signed(
            ledger, signer(workspace, "vera", ledger), Action.VALIDATION_COMPLETED,
            subject=Subject.model(STRATEGY, VERSION),
            payload={"model_name": STRATEGY, "model_version": VERSION, "verdict": "pass",
                     "findings": [], "validator": "vera", "developer": "dana"},
        )  # fmt: skip
        assert load_register(ledger).get(raised.id).status is Status.OPEN


def test_a_forged_finding_with_no_version_number_is_skipped_not_a_crash(workspace):
    """An insider appends a ``finding.raised`` whose ``model_version`` is no number (the
    system actor's entries are unsigned) to break every reader of the register: the register
    reads the version once and skips the entry (a finding of no version), and the readers
    go on instead of failing (exit 1)."""
    from governance.findings.owners import owners
    from governance.identity.users import SYSTEM_ACTOR
    from governance.log.ledger import Ledger

    forged = {"check": "ic_decay", "about": "", "severity": "warning", "message": "m",
              "value": None, "threshold": None, "id": f"F-{STRATEGY}-v{VERSION}-9"}  # fmt: skip
    with Ledger.open(workspace) as ledger:
        ledger.append(
            Action.FINDING_RAISED, actor=SYSTEM_ACTOR, role="system",
            subject=Subject.model(STRATEGY, VERSION),
            payload={"model_name": STRATEGY, "model_version": "v1; drop", "origin": "monitoring",
                     "findings": [forged]},
        )  # fmt: skip
        register = load_register(ledger)
        assert register.records == () and register.get(forged["id"]) is None
        assert register.of_version(ModelRef.parse(STRATEGY, VERSION)) == []
        assert owners(ledger, register) is not None
