"""The findings register (governance/findings/register.py): ids, the state machine, acceptance rules.

Findings reach the ledger as ``validation.completed`` payloads, built here the way
validation/run.py builds them (``with_ids`` over the register, then ``to_jsonable``);
acceptances go through the production writer, ``findings_accept.accept``.
"""

from __future__ import annotations

import datetime as dt

import pytest

from governance.audit.integrity import verify_workspace
from governance.findings.accept import accept
from governance.findings.register import Status, fold, load_register, today
from governance.ground.canonical import to_jsonable
from governance.ground.errors import Forbidden, InputError
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from governance.ground.workspace import Workspace
from governance.identity.signing import append_signed
from governance.log.ledger import Ledger
from governance.policy.schema import Policy, Severity, Tier
from tests.helpers_forge import forge
from tests.helpers_identity import enrol_cast, signer
from validation.findings import Finding, verdict_of, with_ids

MODEL = "m"
DAY = dt.date(2026, 1, 5)
SHAP = Finding("shap_sign", Severity.WARNING, "feature x: sign -1", 0.4, None, "x")
DSR = Finding("dsr_below_min", Severity.CRITICAL, "DSR 0.2 < 0.95", 0.2, 0.95)
MARGIN = Finding("margin_below_min", Severity.WARNING, "margin -0.01 < 0", -0.01, 0.0, "random")


def _tier(**acceptance) -> Tier:
    return Tier.model_validate({"validation": {"acceptance": acceptance}})


def _validate(ledger: Ledger, findings, version: int = 1, verdict: str | None = None, **extra):
    """A ``validation.completed`` entry shaped as validation/run.py records it (signed)."""
    ref = ModelRef(MODEL, version)
    fs = with_ids(findings, load_register(ledger).of_version(ref), ref)
    ws = Workspace.from_env()
    return append_signed(
        ledger,
        signer(ws, "vera", ledger),
        Action.VALIDATION_COMPLETED,
        subject=f"model:{MODEL}/v{version}",
        payload={
            "model_name": MODEL,
            "model_version": version,
            "verdict": verdict or verdict_of(findings).value,
            "findings": to_jsonable(list(fs)),
            "validator": "vera",
            "developer": "dana",
            "policy_tier": "high",  # the shipped policy's default tier
            **extra,
        },
        artifacts={"report.json": ledger.store.put_json({"findings": to_jsonable(list(fs))})},
    )


@pytest.fixture
def ledger(workspace, monkeypatch):
    enrol_cast(workspace, monkeypatch=monkeypatch)
    with Ledger.open(workspace) as led:
        yield led


def _accept(ws, ledger, fid, user="rita", until="2026-03-01", tier=None, **kw):
    return accept(
        ws, ledger, fid, signer(ws, user, ledger), "priors are wrong for this regime", until,
        kw.pop("control", "monthly SHAP review"), tier=tier or _tier(), tier_name="high",
        policy_hash="p", day=kw.pop("day", DAY),
    )  # fmt: skip


def test_open_accepted_expired(workspace, ledger):
    _validate(ledger, [SHAP, DSR])
    reg = load_register(ledger, as_of=DAY)
    assert [(r.id, r.status) for r in reg.records] == [
        ("F-m-v1-1", Status.OPEN),
        ("F-m-v1-2", Status.OPEN),
    ]
    entry, record = _accept(workspace, ledger, "F-m-v1-1")
    assert entry.action == Action.FINDING_ACCEPTED and record.status is Status.ACCEPTED
    assert entry.payload["signed"]["finding_digest"] == record.digest
    assert load_register(ledger, as_of=dt.date(2026, 3, 1)).get("F-m-v1-1").status == "accepted"
    assert load_register(ledger, as_of=dt.date(2026, 3, 2)).get("F-m-v1-1").status == "expired"
    # recorded expiry holds whatever the clock
    ledger.append(Action.FINDING_EXPIRED, actor="alphagate", subject="model:m/v1",
                  payload={"finding_id": "F-m-v1-1"})  # fmt: skip
    assert fold(ledger.entries()).get("F-m-v1-1").status is Status.EXPIRED


def test_revalidation_remediates_and_keeps_ids(workspace, ledger):
    _validate(ledger, [SHAP, DSR])
    _validate(ledger, [DSR, MARGIN])
    reg = load_register(ledger, as_of=DAY)
    by_id = {r.id: r for r in reg.records}
    assert by_id["F-m-v1-1"].status is Status.REMEDIATED
    assert (by_id["F-m-v1-2"].check, by_id["F-m-v1-2"].status) == ("dsr_below_min", "open")
    assert by_id["F-m-v1-3"].check == "margin_below_min"
    # raised again later: open again, same id
    _validate(ledger, [SHAP])
    assert load_register(ledger, as_of=DAY).get("F-m-v1-1").status is Status.OPEN


def test_an_acceptance_covers_only_the_finding_it_signed(workspace, ledger):
    _validate(ledger, [SHAP])
    _accept(workspace, ledger, "F-m-v1-1")
    _validate(ledger, [SHAP])  # same finding, same digest: still accepted
    assert load_register(ledger, as_of=DAY).get("F-m-v1-1").status is Status.ACCEPTED
    worse = Finding("shap_sign", Severity.WARNING, "feature x: sign -1", 0.9, None, "x")
    _validate(ledger, [worse])
    assert load_register(ledger, as_of=DAY).get("F-m-v1-1").status is Status.OPEN


def test_a_critical_finding_cannot_be_accepted_and_the_refusal_is_recorded(workspace, ledger):
    _validate(ledger, [DSR])
    with pytest.raises(Forbidden, match="accepts only warning"):
        _accept(workspace, ledger, "F-m-v1-1")
    refused = ledger.last(action=Action.FINDING_ACCEPTANCE_REFUSED)
    assert refused.payload["finding_id"] == "F-m-v1-1" and refused.actor == "rita"
    assert load_register(ledger, as_of=DAY).get("F-m-v1-1").status is Status.OPEN


@pytest.mark.parametrize(
    ("user", "kw", "match"),
    [
        ("dana", {}, "has role developer"),  # role: only risk officers accept
        ("vera", {}, "has role validator"),
        ("rita", {"until": "2026-12-31"}, "at most 180"),  # longest expiry
    ],
)
def test_tier_rules_refuse_with_exit_4(workspace, ledger, user, kw, match):
    _validate(ledger, [SHAP])
    with pytest.raises(Forbidden, match=match) as exc:
        _accept(workspace, ledger, "F-m-v1-1", user=user, **kw)
    assert exc.value.exit_code == 4
    assert ledger.last(action=Action.FINDING_ACCEPTANCE_REFUSED).payload["refusal"] == str(
        exc.value
    )


def test_the_developer_may_not_accept_even_as_a_risk_officer(workspace, ledger):
    """dev-ro trained the model as a developer, then became a risk officer: the training
    signature (role judged at its time) still makes dev-ro its developer."""
    from governance.identity.enrolment import change_role

    enrol_cast(workspace, (("dev-ro", "developer"),))
    dev = signer(workspace, "dev-ro", ledger)
    append_signed(ledger, dev, Action.MODEL_TRAINED, subject=f"strategy:{MODEL}",
                  payload={"mlflow_run_id": "run-m1"})  # fmt: skip
    change_role(workspace, ledger, signer(workspace, "ada", ledger), "dev-ro", "risk_officer")
    _validate(ledger, [SHAP], model_run_id="run-m1")
    with pytest.raises(Forbidden, match="separation of duties"):
        _accept(workspace, ledger, "F-m-v1-1", user="dev-ro")


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"until": "2026-13-01"}, "expected a date"),
        ({"until": "2025-12-31"}, "in the past"),
        ({"control": ""}, "--control"),
    ],
)
def test_bad_input_is_exit_2(workspace, ledger, kw, match):
    _validate(ledger, [SHAP])
    with pytest.raises(InputError, match=match):
        _accept(workspace, ledger, "F-m-v1-1", tier=_tier(require_control=True), **kw)
    with pytest.raises(InputError, match="no such finding"):
        _accept(workspace, ledger, "F-m-v1-9")


def test_two_distinct_signatures_when_the_tier_asks(workspace, ledger):
    _validate(ledger, [SHAP])
    tier = _tier(signatures=2)
    entry, record = _accept(workspace, ledger, "F-m-v1-1", tier=tier)
    assert entry.action == Action.FINDING_ACCEPTANCE_PENDING and record.status is Status.OPEN
    with pytest.raises(Forbidden, match="already signed"):
        _accept(workspace, ledger, "F-m-v1-1", tier=tier)
    entry, record = _accept(workspace, ledger, "F-m-v1-1", user="omar", tier=tier)
    assert entry.action == Action.FINDING_ACCEPTED and record.status is Status.ACCEPTED
    assert record.acceptance.signers == ("rita", "omar")


def test_critical_acceptance_is_refused_by_a_high_or_medium_policy():
    tiers = {"high": {"validation": {"acceptance": {"severities": ["warning", "critical"]}}}}
    with pytest.raises(ValueError, match="may not be accepted in a high"):
        Policy.model_validate({"version": "1", "tiers": tiers})
    assert Policy.model_validate({"version": "1", "tiers": {"low": tiers["high"]}})


def test_a_forged_acceptance_counts_for_nothing_and_verify_names_it(workspace, ledger):
    """Copy rita's signed acceptance of one finding onto another: the signature no longer
    covers the document, so the register ignores it and ``ledger verify`` names it."""
    _validate(ledger, [SHAP, MARGIN])
    entry, _ = _accept(workspace, ledger, "F-m-v1-1")
    margin = load_register(ledger, as_of=DAY).get("F-m-v1-2")
    ids = {"finding_id": margin.id, "finding_digest": margin.digest}
    forged = {**entry.payload, **ids, "signed": {**entry.payload["signed"], **ids}}
    bad = forge(ledger, Action.FINDING_ACCEPTED, actor="rita", role="risk_officer",
                subject="model:m/v1", payload=forged)  # fmt: skip
    assert load_register(ledger, as_of=DAY).get(margin.id).status is Status.OPEN
    report = verify_workspace(workspace, ledger)
    assert (report.ok, report.first_bad_seq) == (False, bad.seq)
    assert "signature does not verify" in report.reason


def test_an_unsigned_validation_remediates_nothing(workspace, ledger):
    """A shell append of a clean, unsigned ``validation.completed`` (no findings) made the
    fold mark the real findings remediated: status then offered approvals that approve
    refused. Only a validator's signed verdict folds (as for latest_validation)."""
    _validate(ledger, [SHAP, DSR])
    forge(ledger, Action.VALIDATION_COMPLETED, actor="vera", role="validator",
                  subject=f"model:{MODEL}/v1",
                  payload={"model_name": MODEL, "model_version": 1, "verdict": "pass",
                           "findings": []},
                  artifacts={"report.json": ledger.store.put_json({"findings": []})})  # fmt: skip
    reg = load_register(ledger, as_of=DAY)
    assert [r.status for r in reg.records] == [Status.OPEN, Status.OPEN]


def test_list_and_show_commands(workspace, ledger, capsys):
    from flows.cli import main
    from tests.helpers_e2e import SMALL, cli_json

    _validate(ledger, [SHAP, DSR])
    _accept(workspace, ledger, "F-m-v1-1", day=None, until=today().isoformat())
    code, out = cli_json(capsys, "findings", "list", "--model", MODEL, "--status", "open")
    assert code == 0 and [f["id"] for f in out["findings"]] == ["F-m-v1-2"]
    code, out = cli_json(capsys, "findings", "show", "F-m-v1-1")
    assert (code, out["status"], out["acceptance"]["signers"]) == (0, "accepted", ["rita"])
    # a critical finding cannot be accepted under the high tier: exit 4, recorded
    soon = (today() + dt.timedelta(days=10)).isoformat()
    accept_critical = ["findings", "accept", "F-m-v1-2", "--as", "rita", "--reason", "r",
                       "--until", soon, "--control", "c", "--config", SMALL]  # fmt: skip
    assert main(accept_critical) == 4
    assert "accepts only warning" in capsys.readouterr().err
    assert ledger.last(action=Action.FINDING_ACCEPTANCE_REFUSED).payload["finding_id"] == "F-m-v1-2"
    assert main(["findings", "show", "F-m-v1-7"]) == 2
    assert main(["findings", "list", "--status", "closed"]) == 2
    assert "F-m-v1-7" in capsys.readouterr().err


def _approvals_facts(ledger, entry):
    from governance.decisions.promotion import latest_validation

    return latest_validation(ledger, ModelRef.parse(MODEL, entry.payload["model_version"]))


@pytest.mark.parametrize(
    ("action", "blocks"), [("warn", False), ("fallback", True), ("trip", True)]
)
def test_an_expired_acceptance_acts_per_policy(workspace, ledger, action, blocks):
    from governance.findings.review import record_expiries, use_checks

    entry = _validate(ledger, [SHAP])
    _accept(workspace, ledger, "F-m-v1-1")  # until 2026-03-01
    tier = Tier.model_validate({"monitoring": {"on_acceptance_expired": action}})
    validation = _approvals_facts(ledger, entry)
    before = use_checks(ledger, ModelRef(MODEL, 1), validation, tier, day=dt.date(2026, 3, 1))
    assert (before.blockers, before.warnings) == ((), ())
    after = use_checks(ledger, ModelRef(MODEL, 1), validation, tier, day=dt.date(2026, 3, 2))
    line = "acceptance of F-m-v1-1 expired on 2026-03-01"
    assert (after.blockers, after.warnings) == (((line,), ()) if blocks else ((), (line,)))
    first = record_expiries(ledger, after.expired)
    assert record_expiries(ledger, after.expired) == first  # recorded once
    assert fold(ledger.entries()).get("F-m-v1-1").status is Status.EXPIRED


def test_revalidation_falls_due_by_cadence_or_at_once_after_a_listed_trigger(workspace, ledger):
    from governance.decisions.killswitch import Trigger, auto_trip
    from governance.findings.review import revalidation_due, use_checks

    entry = _validate(ledger, [])
    validation = _approvals_facts(ledger, entry)
    tier = Tier.model_validate(
        {
            "monitoring": {
                "revalidation_days": 30,
                "on_revalidation_due": "fallback",
                "revalidate_on": ["monitoring_breach"],
            }
        }
    )
    validated = dt.date.fromisoformat(entry.ts[:10])
    due = revalidation_due(ledger, validation, tier)
    assert (due.date, due.at_once) == (validated + dt.timedelta(days=30), False)
    assert not use_checks(ledger, ModelRef(MODEL, 1), validation, tier, day=due.date).blockers
    late = use_checks(
        ledger, ModelRef(MODEL, 1), validation, tier, day=due.date + dt.timedelta(days=1)
    )
    assert late.blockers[0].startswith("revalidation of v1 was due")
    auto_trip(ledger, Tier(), Trigger.PRETRADE_BREACH, "not listed", {})
    assert not revalidation_due(ledger, validation, tier).at_once
    auto_trip(ledger, Tier(), Trigger.MONITORING_BREACH, "other model", {}, strategy="other")
    assert not revalidation_due(ledger, validation, tier).at_once
    auto_trip(ledger, Tier(), Trigger.MONITORING_BREACH, "this model", {}, strategy=MODEL)
    due = revalidation_due(ledger, validation, tier)
    assert (
        due.at_once
        and use_checks(ledger, ModelRef(MODEL, 1), validation, tier, day=due.date).blockers
    )


def test_a_review_verdict_without_findings_never_promotes(workspace, ledger):
    """Fail closed: a hand-made non-pass entry naming no finding cannot be 'all accepted'."""
    from governance.findings.review import review_blockers

    entry = _validate(ledger, [], verdict="review")
    assert "recorded no finding" in review_blockers(ledger, "1", _approvals_facts(ledger, entry))[0]


@pytest.mark.parametrize(("action", "status"), [("warn", "warning"), ("fallback", "warning"),
                                                ("trip", "breach")])  # fmt: skip
def test_monitoring_checks_follow_the_policy_action(action, status):
    import pandas as pd

    from governance.policy.schema import MonitoringPolicy
    from validation.monitoring_checks import check_acceptances, check_revalidation

    policy = MonitoringPolicy(on_acceptance_expired=action, on_revalidation_due=action)
    now = pd.Timestamp("2026-06-01", tz="UTC")
    assert check_acceptances([], policy).status == "ok"
    assert check_acceptances([("F-m-v1-1", "2026-05-01")], policy).status == status
    fresh = "2026-05-01T00:00:00Z"
    assert check_revalidation(fresh, now, policy).status == "ok"
    due = ("2026-06-01", "kill switch tripped on monitoring_breach", True)
    assert check_revalidation(fresh, now, policy, due).status == status


def test_an_acceptance_signed_with_a_key_nobody_registered_counts_for_nothing(workspace, ledger):
    """The insider's attack: append a finding.accepted 'by rita' signed with a fresh key.
    The signature verifies against the key it carries, but it is not rita's registered key:
    the register ignores it at the moment of use and ``ledger verify`` names it."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from governance.findings.accept import acceptance_document
    from governance.identity.keys import public_hex
    from governance.identity.signing import Signer

    _validate(ledger, [SHAP])
    record = load_register(ledger, as_of=DAY).get("F-m-v1-1")
    key = Ed25519PrivateKey.generate()
    fake = Signer("rita", "risk_officer", public_hex(key), key)
    doc = acceptance_document(
        record, validation_entry_hash=None, reason="ship it", until=dt.date(2026, 3, 1),
        control=None, user="rita", role="risk_officer", policy_hash="p", tier="high",
    )  # fmt: skip
    body = {**doc, "signers": ["rita"], "needed": 1}
    payload = {**body, **fake.signed_payload(Action.FINDING_ACCEPTED, body, subject="model:m/v1")}
    bad = forge(ledger, Action.FINDING_ACCEPTED, actor="rita", role="risk_officer",
                subject="model:m/v1", payload=payload)  # fmt: skip
    assert load_register(ledger, as_of=DAY).get(record.id).status is Status.OPEN
    report = verify_workspace(workspace, ledger)
    assert (report.ok, report.first_bad_seq) == (False, bad.seq)
    assert "registered key" in report.reason
