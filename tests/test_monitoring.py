"""Monitoring: the realised-IC rule trips after a planted signal flip and not before, never on
a stable market; a breach trips the kill switch with its evidence in the ledger.

A LightGBM model is trained and registered for real (tasks.model.train) on the first
``TRAIN_DAYS`` days of a synthetic market (tasks.data.synthetic) with a planted signal; the same
market is then continued two ways from one seed: with the signal's sign flipped on
``FLIP_DAY`` and without. Markets with the same seed are identical before ``flip_day``.

Stated bound, derived before looking (policy defaults: ``W`` = 126 realised ICs, one-sided
95 %, floor 0; the model's horizon ``h`` = 21; monitoring every ``PERIOD`` = 21 days): a
prediction made on day ``t`` is realised on ``t + h``, so ``h`` days after the flip the
window starts to fill with flipped ICs and ``h + W`` days after it holds nothing else; its
mean is then ``-IC`` and its upper bound ``-IC + z se`` is below 0 whenever the signal is
worth monitoring (``IC > z se``). Monitoring therefore trips within
``ceil((h + W) / PERIOD) + 1`` periods of the flip (the last period absorbs the noise of
one evaluation): :func:`max_periods_after_flip` = 8. It is checked on the trained model,
and on the planted characteristic over four other seeds (tripping 5-7 periods after it;
test_monitoring_checks); the stable twins never trip.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from governance.policy.schema import MonitoringPolicy, Tier
from tasks.data.synthetic import SyntheticSpec, generate_market
from validation.monitoring import assess_monitoring, render_monitoring_html
from validation.monitoring_checks import (
    Check,
)

REPO = Path(__file__).resolve().parents[1]
N_ASSETS, N_DAYS, IC, SEED = 100, 1400, 0.10, 3
TRAIN_DAYS = 700
FLIP_DAY = 900
PERIOD = 21


def max_periods_after_flip(horizon: int, window: int, period: int) -> int:
    """Rebalance periods after a flip by which the realised-IC rule trips (module doc)."""
    return -(-(horizon + window) // period) + 1


FEATURES = ("mom_3m", "mom_1m", "vol_1m")
POLICY = MonitoringPolicy()


def _panel(long: pd.DataFrame):
    from tasks.data.market import to_panel

    return to_panel(long, "synthetic")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Train and register a model on the pre-flip days; score both continuations."""

    from flows.monitoring import ChampionFacts, load_reference, score_panel
    from governance.decisions.context import RunContext
    from governance.ground.canonical import sha256_json
    from governance.ground.workspace import Workspace
    from tasks.model.dataset import build_frame, split_and_seal
    from tasks.model.features import FeaturesConfig
    from tasks.model.register import train_and_register
    from tasks.model.scoring import load_scoring_model
    from tasks.model.train import ModelConfig
    from tests.helpers_train import FAST_MODEL

    ws = Workspace(tmp_path_factory.mktemp("mon") / "home").ensure()
    mp = pytest.MonkeyPatch()
    mp.setenv("ALPHAGATE_HOME", str(ws.home))
    mp.setenv("MLFLOW_TRACKING_URI", ws.tracking_uri)
    mp.delenv("ALPHAGATE_LEDGER_URL", raising=False)
    spec = SyntheticSpec(n_assets=N_ASSETS, n_days=N_DAYS, ic=IC, seed=SEED)
    stable = generate_market(spec)
    flipped = generate_market(replace(spec, flip_day=FLIP_DAY))
    dates = np.sort(stable["date"].unique())
    pre = stable[stable["date"] <= dates[TRAIN_DAYS - 1]]
    assert pre.equals(flipped[flipped["date"] <= dates[TRAIN_DAYS - 1]])

    fcfg = FeaturesConfig(names=FEATURES)
    mcfg = ModelConfig(**FAST_MODEL)
    from tests.helpers_identity import enrol_cast, signer

    enrol_cast(ws)
    dev = signer(ws, "dev-alice")
    ctx = RunContext.open(ws, actor="dev-alice", role="developer", signer=dev)
    try:
        panel = _panel(pre)
        split = split_and_seal(ctx, build_frame(panel, fcfg), mcfg)
        result = train_and_register(
            ctx, split, fcfg, mcfg, developer="dev-alice",
            config_hash=sha256_json({"f": fcfg, "m": mcfg}), data_fingerprint=panel.fingerprint,
        )  # fmt: skip
    finally:
        ctx.close()
    model = load_scoring_model(ws, ModelRef.parse(result.model_name, result.version))
    facts = ChampionFacts(
        result.model_name, result.version, result.mlflow_run_id, model.horizon,
        model.features, None, None, None,
    )  # fmt: skip
    reference = load_reference(ws, result.mlflow_run_id)
    scored = {}
    for name, long in (("stable", stable), ("flipped", flipped)):
        panel = _panel(long)
        scored[name] = (panel, *score_panel(model, panel, fcfg))
    yield {"ws": ws, "facts": facts, "model": model, "reference": reference,
           "scored": scored, "dates": dates, "fcfg": fcfg,
           "long": {"stable": stable, "flipped": flipped}}  # fmt: skip
    mp.undo()
    assert os.environ.get("ALPHAGATE_HOME") != str(ws.home)


def _first_breach(trained, market: str):
    """Monitor at every rebalance period after training; first (day index, report) in breach."""
    panel, features, scores = trained["scored"][market]
    facts, dates = trained["facts"], trained["dates"]
    # First evaluation: the realised-IC window is out of sample (TRAIN_DAYS + h + window).
    start = TRAIN_DAYS + facts.horizon + POLICY.ic_window
    evaluated = []
    for day in range(start, N_DAYS, PERIOD):
        report = assess_monitoring(
            as_of=pd.Timestamp(dates[day]), scores=scores, features=features,
            reference=trained["reference"], close=panel.close, horizon=facts.horizon,
            feature_names=facts.features, policy=POLICY,
        )  # fmt: skip
        evaluated.append(day)
        if report.breaches:
            return day, report, evaluated
    return None, None, evaluated


def test_flip_trips_within_stated_periods_and_not_before(trained):
    day, report, evaluated = _first_breach(trained, "flipped")
    assert evaluated[0] < FLIP_DAY  # monitored before the flip too
    assert day is not None, "monitoring never tripped after the signal flipped"
    assert day > FLIP_DAY
    periods = -(-(day - FLIP_DAY) // PERIOD)
    bound = max_periods_after_flip(trained["facts"].horizon, POLICY.ic_window, PERIOD)
    assert bound == 8 and periods <= bound
    assert [c.check for c in report.breaches] == [Check.REALISED_IC]
    ic = next(c for c in report.checks if c.check is Check.REALISED_IC)
    assert ic.value < 0


def test_stable_market_never_trips_over_the_same_span(trained):
    day, report, evaluated = _first_breach(trained, "stable")
    assert evaluated[-1] >= N_DAYS - PERIOD
    assert day is None, f"false trip on day {day}: {report and report.reasons()}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def ledger_backend(request, monkeypatch):
    """The workspace's SQLite ledger, or a scratch PostgreSQL database (ALPHAGATE_LEDGER_URL)."""
    if request.param == "sqlite":
        monkeypatch.delenv("ALPHAGATE_LEDGER_URL", raising=False)
        yield request.param
        return
    from test_ledger_support import scratch_pg_database

    with scratch_pg_database(request.getfixturevalue("pg_url")) as url:
        monkeypatch.setenv("ALPHAGATE_LEDGER_URL", url)
        yield request.param


def test_breach_trips_kill_switch_with_evidence(trained, ledger_backend):
    """The recording path: report stored by hash, ``monitoring.completed``, automatic trip."""
    from flows.monitoring import run_monitoring
    from governance.decisions.context import RunContext
    from governance.log.ledger import Ledger

    ws, facts = trained["ws"], trained["facts"]
    day, _, _ = _first_breach(trained, "flipped")
    tier = Tier()
    outcomes = {}
    for market in ("stable", "flipped"):
        panel = trained["scored"][market][0]
        key = f"mon-{ledger_backend}-{market}"
        ctx = RunContext.open(ws, actor="alphagate", role="system", run_key=key)
        try:
            outcomes[market] = run_monitoring(
                ctx, tier, panel, facts, trained["model"], trained["reference"],
                trained["fcfg"], as_of=pd.Timestamp(trained["dates"][day]),
            )  # fmt: skip
            if market == "flipped":  # a retried task records nothing twice
                again = run_monitoring(
                    ctx, tier, panel, facts, trained["model"], trained["reference"],
                    trained["fcfg"], as_of=pd.Timestamp(trained["dates"][day]),
                )  # fmt: skip
                assert again.entry.seq == outcomes[market].entry.seq
        finally:
            ctx.close()
    stable, flipped = outcomes["stable"], outcomes["flipped"]
    assert not stable.tripped and stable.report.breaches == ()
    assert flipped.tripped and flipped.killswitch.tripped

    with Ledger.open(ws) as ledger:
        trips = ledger.entries(action=Action.KILLSWITCH_TRIPPED)
        assert len(trips) == 1
        trip = trips[0]
        assert trip.actor == "alphagate"
        assert trip.payload["trigger"] == "monitoring_breach"
        ev = trip.payload["evidence"]
        assert ev["monitoring_seq"] == flipped.entry.seq
        assert ev["report_json_sha256"] == flipped.report_json_sha256
        assert any(b.startswith("realised_ic:") for b in ev["breaches"])
        done = ledger.entries(action=Action.MONITORING_COMPLETED)
        assert [e.payload["status"] for e in done] == ["ok", "breach"]
        arts = done[1].artifacts
        assert set(arts) == {"report.json", "report.html", "series.parquet", "trend.png"}
        assert arts["report.json"] == flipped.report_json_sha256
        assert arts["report.html"] == flipped.report_html_sha256
        doc = ledger.store.read_json(flipped.report_json_sha256)
        html = ledger.store.read_bytes(flipped.report_html_sha256).decode()
        trend = ledger.store.read_bytes(arts["trend.png"])
        assert ledger.verify().ok
    assert doc["status"] == "breach" and doc["model"]["version"] == facts.version
    assert html == render_monitoring_html(doc, trend)  # the series' trend chart inside
    assert not re.search(r"<script|<link|https?://", html)  # self-contained


def test_monitoring_flow_on_a_promoted_champion_trips_the_switch(
    trained, prefect_server, monkeypatch, tmp_path, capsys
):
    """The Prefect flow end to end: champion from the ledger, data file, report, trip.

    The champion is promoted through governance's real four-eyes approval; its
    ``validation.completed`` entry stands in for the validator's run (covered by the
    validation tests) and carries the report metrics monitoring reads (validated IC).
    """
    from flows.config import AlphagateConfig
    from flows.monitoring import monitoring_flow
    from governance.decisions.approvals import approve
    from governance.identity.signing import append_signed
    from governance.log.ledger import Ledger
    from governance.policy.schema import load_policy
    from tests.helpers_identity import POLICY, enrol_cast, signer

    ws, facts, dates = trained["ws"], trained["facts"], trained["dates"]
    # A ledger of its own: the other tests of this module tripped the workspace's switch.
    monkeypatch.setenv("ALPHAGATE_LEDGER_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    policy_file = POLICY
    policy, policy_hash = load_policy(policy_file)
    tier = policy.tiers["high"]
    enrol_cast(ws, monkeypatch=monkeypatch)  # this ledger's own genesis; the same keys
    with Ledger.open(ws) as ledger:
        append_signed(  # the training entry, as recorded in the workspace's own ledger
            ledger, signer(ws, "dev-alice", ledger), Action.MODEL_TRAINED,
            subject=f"strategy:{facts.name}", payload={"mlflow_run_id": facts.run_id},
        )  # fmt: skip
        metrics = {"rank_ic_mean": 0.08, "rank_ic_se": 0.02, "rank_ic_tstat": 4.0}
        report = {"metrics": metrics, "verdict": "pass"}
        sha = ledger.store.put_json(report)
        append_signed(
            ledger,
            signer(ws, "vera", ledger),
            Action.VALIDATION_COMPLETED,
            subject=f"model:{facts.name}/v{facts.version}",
            payload={"model_name": facts.name, "model_version": facts.version,
                     "verdict": "pass", "report_json_sha256": sha, "policy_hash": policy_hash,
                     "policy_tier": "high"},
            artifacts={"report.json": sha},
        )  # fmt: skip
        for user in ("vera", "rita"):
            out = approve(
                ws, ledger, facts.ref, signer(ws, user, ledger), "monitoring test",
                tier=tier, tier_name="high", policy_hash=policy_hash,
            )  # fmt: skip
        assert out.promoted is not None

    day, _, _ = _first_breach(trained, "flipped")
    flipped = trained["long"]["flipped"]
    data = tmp_path / "market.parquet"  # the market up to the first breach date
    flipped[flipped["date"] <= dates[day]].to_parquet(data, index=False)
    config = AlphagateConfig(
        data={"source": "file", "path": str(data)},
        model={"name": facts.name},
        features={"names": list(FEATURES)},
        policy={"file": str(policy_file), "tier": "high"},
    )
    from flows.halting import summary_of
    from governance.log.checkpoint import origin_of
    from governance.log.witness import DirectoryWitness
    from governance.policy.witnesses import witness_after

    # A real directory witness, handed the ledger as it stands before the flow. The flow is
    # called as its deployment's worker calls it (no CLI around it to checkpoint after).
    witness_dir = tmp_path / "monitor-witness"
    monkeypatch.setenv("ALPHAGATE_WITNESS", str(witness_dir))
    assert witness_after(ws, None) == (None, False)
    with Ledger.open(ws) as ledger:
        origin, before = origin_of(ledger.url), ledger.head()[0]
    assert DirectoryWitness(str(witness_dir)).latest(origin).note.checkpoint.size == before

    state = monitoring_flow(config, return_state=True)
    with Ledger.open(ws) as ledger:
        appended = ledger.entries(after_seq=before)
    assert {Action.MONITORING_COMPLETED, Action.KILLSWITCH_TRIPPED} <= {e.action for e in appended}
    held = DirectoryWitness(str(witness_dir)).latest(origin).note.checkpoint
    assert held.size == before + len(appended)  # the witness holds the monitoring entries
    assert state.name == "Halted" and state.is_failed()  # a breach is red in Prefect
    summary = summary_of(state)
    assert summary["status"] == "breach"
    assert summary["tripped"] and summary["killswitch"] == "tripped"
    assert summary["as_of"] == str(pd.Timestamp(dates[day]).date())
    with Ledger.open(ws) as ledger:
        done = ledger.entries(action=Action.MONITORING_COMPLETED)
        assert len(done) == 1 and done[0].payload["flow_run_id"]
        # one run of the run framework (flows/run.py), opened as the system actor: its
        # decisions keyed by the flow run, no person's identity claimed, no run.* entries
        assert (done[0].actor, done[0].role) == ("alphagate", "system")
        assert done[0].payload["run_key"] == done[0].payload["flow_run_id"]
        assert not {Action.RUN_STARTED, Action.RUN_COMPLETED} & {e.action for e in appended}
        assert done[0].payload["model_version"] == facts.version
        doc = ledger.store.read_json(done[0].artifacts["report.json"])
        trip = ledger.last(action=Action.KILLSWITCH_TRIPPED)
        assert trip.payload["evidence"]["monitoring_seq"] == done[0].seq
        assert ledger.verify().ok
    decay = next(c for c in doc["checks"] if c["check"] == "ic_decay")
    assert decay["data"]["validated_ic"] == 0.08  # read from the validation report
    assert decay["status"] == "warning"  # decay reports; the floor rule trips

    # `alphagate monitor`: the same flow from the command line; a breach exits 3, and a
    # switch already tripped is not tripped again.
    import json

    import yaml

    from flows.cli import main

    cfg_file = tmp_path / "monitor.yaml"
    cfg_file.write_text(yaml.safe_dump(config.resolved()))
    # main() setdefaults these into os.environ: pin them so the test leaves no trace.
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.setenv("PREFECT_LOGGING_LEVEL", os.environ.get("PREFECT_LOGGING_LEVEL", "INFO"))
    capsys.readouterr()
    assert main(["monitor", "--config", str(cfg_file), "--data", str(data), "--json"]) == 3
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["status"] == "breach" and out["killswitch"] == "tripped" and not out["tripped"]
    # every check's value, threshold and status, in the JSON and on the terminal (issue 29)
    shown = {c["check"]: c for c in out["checks"]}
    assert set(shown) == {c["check"] for c in doc["checks"]}
    assert shown["ic_decay"]["status"] == "warning" and shown["ic_decay"]["value"] is not None
    assert main(["monitor", "--config", str(cfg_file), "--data", str(data)]) == 3
    text = capsys.readouterr().out
    assert all(f"  {name} " in text for name in shown), text
    assert "ic_decay" in text and " warning " in text and " vs " in text
    with Ledger.open(ws) as ledger:
        assert len(ledger.entries(action=Action.KILLSWITCH_TRIPPED)) == 1
        assert len(ledger.entries(action=Action.MONITORING_COMPLETED)) == 3

    # The DBA's edit after a verify (issue 22's attack on a scheduled run): the champion's
    # validation record, rewritten in place with its hashes recomputed, so that monitoring
    # would read another validated IC. The run stops at the read (exit 3, one line naming
    # the row), records no monitoring, and the refusal is recorded as ``integrity.refused``.
    from tests.test_readtime_commands import _verified, edit_in_place

    _verified(ws, capsys)
    with Ledger.open(ws) as ledger:
        validated = ledger.last(action=Action.VALIDATION_COMPLETED)
        edit_in_place(ledger, validated, True, verdict="fail")
        before = ledger.head()[0]
    capsys.readouterr()
    assert main(["monitor", "--config", str(cfg_file), "--data", str(data), "--json"]) == 3
    err = capsys.readouterr().err
    named = f"ledger entry {validated.seq} ({validated.action})"
    assert named in err and err.count("\n") == 1 and "Traceback" not in err, err
    with Ledger.open(ws) as ledger:
        after = ledger.entries(after_seq=before)
    assert Action.MONITORING_COMPLETED not in {e.action for e in after}
    refusals = [e for e in after if e.action == Action.INTEGRITY_REFUSED]
    assert refusals and refusals[-1].payload["action"] == "monitoring", [e.action for e in after]
    assert named in refusals[-1].payload["problem"]
