"""Tier shopping (issue 10): the adopted policy assigns each strategy its tier; a config
cannot choose another, and evidence made under another tier counts for nothing.

Attacks through ``flows.cli.main`` with personal keys (tests/helpers_identity.py), real
MLflow (tiny LightGBM versions, or a real training run on the small synthetic market) and
the SQL ledger. Forged evidence is what an insider with shell access and their own key can
write: a signed act with the wrong tier in it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flows.cli import main
from governance.decisions.model_use import drive_decision
from governance.ground.canonical import sha256_file
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from governance.ground.workspace import Workspace
from governance.identity.signing import append_signed
from governance.log.ledger import Ledger
from governance.registry.recorder import mlflow_client
from governance.registry.versions import champion_version
from tests.helpers_e2e import DATA, cli_json, cli_out
from tests.helpers_identity import POLICY, adopt_policy, enrol_cast, signer, tiny_version

REPO = Path(__file__).resolve().parents[1]
DEMO = "alphagate-demo"


def _policy(folder: Path, name: str, assign: str, base: Path = POLICY) -> Path:
    """``base`` with its ``strategies:``/``default_tier:`` block replaced by ``assign``."""
    text = base.read_text()
    head, rest = text.split("strategies:\n", 1)
    tail = rest.split("default_tier: high\n", 1)[1]
    path = folder / name
    path.write_text(head + assign + tail)
    return path


def _config(folder: Path, name: str, policy: Path, strategy: str, tier: str | None) -> Path:
    """A run config for ``strategy`` naming ``policy`` (copied beside it) and ``tier``."""
    if policy.parent != folder:
        shutil.copy(policy, folder / policy.name)
    tier_field = f", tier: {tier}" if tier else ""
    path = folder / name
    path.write_text(f"model: {{name: {strategy}}}\npolicy: {{file: {policy.name}{tier_field}}}\n")
    return path


def _refusals(ws: Workspace) -> list[dict]:
    with Ledger.open(ws) as ledger:
        return [e.payload for e in ledger.entries(action=Action.POLICY_REFUSED)]


def _one_line(err: str) -> bool:
    return err.count("\n") == 1 and "Traceback" not in err


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def enrolled(request, workspace, monkeypatch):
    """The cast enrolled and the shipped policy adopted, the ledger on SQLite or on a
    scratch PostgreSQL database."""
    from test_ledger_support import backend_url

    with backend_url(request, request.param, workspace, monkeypatch):
        enrol_cast(workspace, monkeypatch=monkeypatch)
        yield workspace


# -- (a) a config naming another tier ------------------------------------------------------


def test_a_config_naming_the_laxer_tier_is_exit_4_everywhere_and_recorded(
    enrolled, tmp_path, capsys, prefect_server
):
    workspace = enrolled  # the shipped policy: alphagate-demo high
    low = _config(tmp_path, "low.yaml", POLICY, DEMO, "low")
    digest = sha256_file(POLICY)
    c = ["--config", str(low)]
    for argv in (
        ["run", *c, "--as", "dana"],
        ["rebalance", *c, "--as", "dana"],
        ["validate", *c, "--model-version", "1", "--as", "vera"],
        ["approve", *c, "--model-version", "1", "--as", "rita", "--reason", "ok"],
        ["findings", "accept", f"F-{DEMO}-v1-1", *c, "--as", "rita", "--reason", "r",
         "--until", "2099-01-01"],
    ):  # fmt: skip
        code, _, err = cli_out(capsys, *argv)
        assert code == 4, (argv, err)
        assert _one_line(err) and DEMO in err and digest in err, err
        assert "'low'" in err and "'high'" in err and "may not choose its tier" in err
    refused = _refusals(workspace)
    assert [(r["strategy"], r["named_tier"], r["assigned_tier"]) for r in refused] == [
        (DEMO, "low", "high")
    ] * 5
    assert all(r["policy_hash"] == digest for r in refused)
    # naming the assigned tier, or none, is not shopping
    for tier in ("high", None):
        cfg = _config(tmp_path, f"{tier}.yaml", POLICY, DEMO, tier)
        capsys.readouterr()
        assert main(["config", "check", str(cfg)]) == 0
        assert f"ok, tier high (assigned to {DEMO};" in capsys.readouterr().out
    assert cli_out(capsys, "ledger", "verify")[0] == 0


def test_in_a_sandbox_the_config_still_chooses(workspace, monkeypatch, tmp_path):
    from flows.config import load_config
    from governance.policy.config import tier_for

    enrol_cast(workspace, monkeypatch=monkeypatch, sandbox=True)
    t = tier_for(load_config(_config(tmp_path, "low.yaml", POLICY, DEMO, "low")))
    assert (t.name, t.force.sandbox, t.tier.pretrade.max_weight) == ("low", True, 0.15)


# -- (c) an unassigned strategy ------------------------------------------------------------


def test_a_strategy_the_policy_does_not_assign_is_exit_4(workspace, monkeypatch, tmp_path, capsys):
    enrol_cast(workspace, monkeypatch=monkeypatch)
    bare = _policy(tmp_path, "bare.yaml", f"strategies:\n  {DEMO}: high\n")  # no default_tier
    with Ledger.open(workspace) as ledger:
        adopt_policy(workspace, ledger, bare)
    version, _ = tiny_version(workspace, DEMO)  # assigned: high
    cfg = _config(tmp_path, "other.yaml", bare, "orphan", None)
    for argv in (
        ["validate", "--config", str(cfg), "--model-version", "1", "--as", "vera"],
        ["approve", "--config", str(cfg), "--model-version", "1", "--as", "rita"],
        ["status", "--config", str(cfg), "--model-version", "1"],
    ):
        code, _, err = cli_out(capsys, *argv)
        assert code == 4 and _one_line(err), (argv, err)
        assert "'orphan' has no tier" in err and "must assign it" in err
    assert [r["strategy"] for r in _refusals(workspace)] == ["orphan"] * 3
    # --model names the strategy too: the demo's is assigned, an orphan's is not
    demo_cfg = _config(tmp_path, "demo.yaml", bare, DEMO, None)
    code, _, err = cli_out(capsys, "approve", "--config", str(demo_cfg), "--model", "orphan",
                           "--model-version", version, "--as", "vera")  # fmt: skip
    assert code == 4 and "'orphan' has no tier" in err
    assert cli_out(capsys, "approve", "--config", str(demo_cfg), "--model-version", version,
                   "--as", "vera", "--reason", "ok")[0] == 0  # fmt: skip


# -- (b) evidence under another tier -------------------------------------------------------


def test_a_validation_signed_under_another_tier_backs_nothing(
    workspace, monkeypatch, tmp_path, capsys
):
    enrol_cast(workspace, monkeypatch=monkeypatch)
    cfg = _config(tmp_path, "run.yaml", POLICY, "forged", None)
    version, _ = tiny_version(workspace, "forged", tier="low")  # vera signs "tier: low"
    code, _, err = cli_out(capsys, "approve", "--config", str(cfg), "--model-version", version,
                           "--as", "vera", "--reason", "ok")  # fmt: skip
    assert code == 4 and _one_line(err)
    assert "made under tier 'low', not 'forged''s tier 'high'" in err
    with Ledger.open(workspace) as ledger:
        assert "tier 'low'" in ledger.last(action=Action.APPROVAL_REFUSED).payload["refusal"]


def test_approvals_signed_under_another_tier_count_for_nothing_at_use(enrolled):
    """A champion promoted by hand on approvals whose documents name tier ``low``."""
    from governance.decisions.approvals import promote, record_signed_decision
    from governance.decisions.promotion import compute_state, facts_for, latest_validation

    workspace = enrolled
    version, _ = tiny_version(workspace, "lax")
    with Ledger.open(workspace) as ledger:
        facts = facts_for(workspace, ledger, ModelRef.parse("lax", version))
        validation = latest_validation(ledger, ModelRef.parse("lax", version))
        for who in ("vera", "rita"):
            record_signed_decision(
                ledger, facts, validation, signer=signer(workspace, who, ledger),
                decision="approve", reason="ok", policy_hash=sha256_file(POLICY),
                tier_name="low",
            )  # fmt: skip
        state = compute_state(workspace, ledger, facts, _tier(ledger, "lax"), validation)
        assert not state.complete
        assert any("approval by rita" in b and "tier 'low'" in b for b in state.blocked)
        promote(ledger, mlflow_client(workspace), facts, state, sha256_file(POLICY))  # forged
        assert champion_version(mlflow_client(workspace), "lax") == version
        decision = drive_decision(workspace, ledger, "lax")
    assert not decision.allowed
    assert any("approval by vera" in r and "counts for nothing" in r for r in decision.reasons)


def _tier(ledger, strategy):
    from governance.policy.tiers import tier_at_use

    return tier_at_use(ledger, strategy).tier


def test_a_finding_accepted_under_another_tier_stays_unaccepted(enrolled, capsys, tmp_path):
    """rita accepts a warning through the writer under ``low`` (no compensating control,
    which ``high`` requires): neither promotion nor use counts the acceptance."""
    import datetime as dt

    from governance.decisions.promotion import latest_validation
    from governance.findings.accept import accept
    from governance.findings.register import load_register
    from governance.findings.review import review_blockers, use_checks
    from governance.ground.canonical import to_jsonable
    from governance.policy.schema import Severity, load_policy
    from validation.findings import Finding, with_ids

    ws = enrolled
    version, run_id = tiny_version(ws, "rev")
    shap = Finding("shap_sign", Severity.WARNING, "feature x: sign -1", 0.4, None, "x")
    with Ledger.open(ws) as ledger:
        ref = ModelRef.parse("rev", version)
        fs = to_jsonable(list(with_ids([shap], load_register(ledger).of_version(ref), ref)))
        append_signed(
            ledger, signer(ws, "vera", ledger), Action.VALIDATION_COMPLETED,
            subject=f"model:rev/v{version}",
            payload={"model_name": "rev", "model_version": int(version), "verdict": "review",
                     "findings": fs, "policy_hash": sha256_file(POLICY), "policy_tier": "high",
                     "model_run_id": run_id},
            artifacts={"report.json": ledger.store.put_json({"findings": fs})},
        )  # fmt: skip
        policy, digest = load_policy(POLICY)
        low = policy.tier("low")
        until = (dt.date.today() + dt.timedelta(days=30)).isoformat()
        fid = f"F-rev-v{version}-1"
        accept(ws, ledger, fid, signer(ws, "rita", ledger), "fine", until, None,
               tier=low, tier_name="low", policy_hash=digest)  # fmt: skip
        validation = latest_validation(ledger, ModelRef.parse("rev", version))
        blockers = review_blockers(ledger, version, validation)
        at_use = use_checks(
            ledger, ModelRef.parse("rev", version), validation, _tier(ledger, "rev")
        ).blockers
    line = f"the acceptance of {fid}"
    assert any(line in b and "tier 'low'" in b for b in blockers)
    assert any(line in b and "counts for nothing" in b for b in at_use)
    cfg = _config(tmp_path, "run.yaml", POLICY, "rev", None)
    code, _, err = cli_out(capsys, "approve", "--config", str(cfg), "--model-version", version,
                           "--as", "vera", "--reason", "ok")  # fmt: skip
    assert code == 4 and line in err and _one_line(err)


def test_a_re_adoption_that_moves_the_strategy_puts_the_champion_under_its_rule(
    workspace, monkeypatch, tmp_path, capsys
):
    """Validated and promoted under ``low``; the next policy assigns ``high``."""
    enrol_cast(workspace, monkeypatch=monkeypatch)
    lax = _policy(tmp_path, "lax.yaml", "strategies:\n  moved: low\ndefault_tier: high\n")
    with Ledger.open(workspace) as ledger:
        adopt_policy(workspace, ledger, lax)
    cfg = _config(tmp_path, "run.yaml", lax, "moved", None)
    version, _ = tiny_version(workspace, "moved")  # under low, as the policy then said
    for who in ("vera", "rita"):
        code, _, err = cli_out(capsys, "approve", "--config", str(cfg), "--model-version",
                               version, "--as", who, "--reason", "ok")  # fmt: skip
        assert code == 0, err
    with Ledger.open(workspace) as ledger:
        assert drive_decision(workspace, ledger, "moved").allowed
        adopt_policy(workspace, ledger, POLICY)  # moved: high (default); rule: fall back now
        decision = drive_decision(workspace, ledger, "moved")
        assert not decision.allowed
        assert any("fall back now" in r and "revalidate" in r for r in decision.reasons)
        grace = _policy(tmp_path, "grace.yaml", "strategies: {}\ndefault_tier: high\n")
        adopt_policy(workspace, ledger, grace, rule={"rule": "until", "date": "2999-01-01"})
        later = drive_decision(workspace, ledger, "moved")
    assert later.allowed, later.reasons  # the adoption's grace, as for any new policy


# -- (b, d) full runs on the small synthetic market ----------------------------------------


@pytest.fixture(scope="module")
def lenient(tmp_path_factory, prefect_server):
    """A non-sandbox workspace whose adopted policy assigns ``small-e2e`` the tier ``high``,
    defined leniently (tests/data/policy-sandbox.yaml's thresholds), so that the small model
    is promoted honestly; ``low`` is the same. Yields (workspace, config)."""
    import yaml

    root = tmp_path_factory.mktemp("tier")
    doc = yaml.safe_load((DATA / "policy-sandbox.yaml").read_text())
    (lenient_tier,) = doc["tiers"].values()
    doc["tiers"] = {"high": lenient_tier, "low": lenient_tier}
    doc["strategies"] = {"small-e2e": "high"}
    policy = root / "policy.yaml"
    policy.write_text(yaml.safe_dump(doc))
    cfg = yaml.safe_load((DATA / "small.yaml").read_text())
    cfg["policy"] = {"file": "policy.yaml"}  # the tier is the policy's to say
    path = root / "small.yaml"
    path.write_text(yaml.safe_dump(cfg))
    home = root / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALPHAGATE_HOME", str(home))
        mp.setenv("ALPHAGATE_WITNESS", str(root / "witness"))
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
        mp.setenv("ALPHAGATE_CONFIG", str(path))
        mp.delenv("ALPHAGATE_LEDGER_URL", raising=False)
        ws = Workspace(home)
        enrol_cast(ws, monkeypatch=mp, policy=policy)
        yield ws, path


def test_the_assigned_tier_runs_end_to_end_and_is_signed_into_the_evidence(lenient, capsys):
    ws, cfg = lenient
    code, run = cli_json(capsys, "run", "--config", str(cfg), "--as", "dana")
    assert (code, run["stage"], run["validation"]["verdict"]) == (3, "approval", "pass")
    version = str(run["model_version"])
    for who in ("vera", "rita"):
        assert cli_out(capsys, "approve", "--model-version", version, "--as", who,
                       "--reason", "ok")[0] == 0  # fmt: skip
    code, reb = cli_json(capsys, "rebalance", "--config", str(cfg), "--as", "dana")
    assert (code, reb["status"], reb["portfolio"]["source"]) == (0, "completed", "model")
    with Ledger.open(ws) as ledger:
        trained = ledger.last(action=Action.MODEL_TRAINED).payload
        validated = ledger.last(action=Action.VALIDATION_COMPLETED).payload
        approvals = ledger.entries(action=Action.APPROVAL_GRANTED)
    assert (trained["tier"], validated["policy_tier"]) == ("high", "high")
    assert {e.payload["signed"]["tier"] for e in approvals} == {"high"}


def test_a_champion_revalidated_under_the_laxer_tier_falls_back(lenient, capsys):
    """vera signs a fresh validation of the champion naming tier ``low`` (copying the
    genuine report): the full rebalance falls back, exit 3, and says why."""
    ws, cfg = lenient
    with Ledger.open(ws) as ledger:
        genuine = ledger.last(action=Action.VALIDATION_COMPLETED)
        payload = {**genuine.payload, "policy_tier": "low", "run_key": "forged"}
        append_signed(
            ledger, signer(ws, "vera", ledger), Action.VALIDATION_COMPLETED,
            subject=genuine.subject, payload=payload, artifacts=genuine.artifacts,
        )  # fmt: skip
    code, reb = cli_json(capsys, "rebalance", "--config", str(cfg), "--as", "dana")
    assert (code, reb["status"], reb["portfolio"]["source"]) == (3, "halted", "fallback")
    why = [r for r in reb["reasons"] if "tier 'low'" in r]
    assert why and "counts for nothing" in why[0]
    with Ledger.open(ws) as ledger:
        published = ledger.last(action=Action.PORTFOLIO_PUBLISHED).payload
    assert published["source"] == "fallback" and "tier 'low'" in str(published)
