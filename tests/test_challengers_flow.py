"""Live challengers end to end (issue 24 item 4): the real flows over revealed days.

A planted-signal market (tests/data/small-sandbox.yaml: 40 assets, 900 days, IC 0.08) is
trained on its first part and its version promoted by two officers; then the later days are
revealed one rebalance at a time through ``alphagate rebalance`` (the real Prefect flow):
each publishes the champion's book and scores its challengers in shadow (12-1 momentum; the
previous champion and versions in paper when there are any), recorded as
``challengers.scored``. ``alphagate monitor`` on the whole file, once every rebalance's
21-day horizon has passed, realises their outcomes side by side.

The test recomputes every figure independently of the monitor's code: the momentum
column from the prices (``close[t-21] / close[t-252] - 1``), each rebalance's realised
21-day forward return from the prices, the rank IC with ``scipy.stats.spearmanr``, the
top-minus-bottom quintile return with ``scipy.stats.rankdata`` percentiles, the means
over rebalances and the champion's paired margin with numpy. The monitor's numbers must
equal them to floating-point round-off (1e-9): they are the same arithmetic on the same
recorded scores and prices, so any tolerance wider than round-off would hide a wrong
horizon, a shifted day or a mis-paired rebalance (each moves a rank IC by about its
sampling sd, 1/sqrt(40) = 0.16, far above 1e-9). Then ``monitor --json`` (``challengers``),
the monitoring entry's metrics (``challenger.<signal>.<part>``) and ``status`` show them.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from governance.ground.vocabulary import Action, Subject
from governance.ground.workspace import Workspace
from tests.helpers_e2e import DATA, cli_json, cli_out
from tests.helpers_identity import adopt_policy, enrol_cast

NAME = "shadowed"
HORIZON = 21  # the features' default horizon (small-sandbox.yaml sets none)
#: Trading days before the file's last date of each revealed rebalance: all >= HORIZON, so
#: every rebalance is realised by the monitor's run on the whole file.
OFFSETS = (70, 61, 52, 43, 34, 25)
ROUND_OFF = 1e-9


@pytest.fixture(scope="module")
def shadowed(tmp_path_factory, prefect_server):
    """A sandbox workspace and ``(config, market file)`` of each step: the training part
    before the first rebalance, each revealed rebalance, the whole file."""
    from flows.config import load_config
    from governance.log.ledger import Ledger
    from tasks.data.market import load_long

    root = tmp_path_factory.mktemp("shadow")
    home = root / "home"
    policy = yaml.safe_load((DATA / "policy-sandbox.yaml").read_text())
    policy["version"] = "challengers-flow-1"
    policy["strategies"] = {NAME: "sandbox"}
    (root / "policy.yaml").write_text(yaml.safe_dump(policy))
    config = yaml.safe_load((DATA / "small-sandbox.yaml").read_text())
    config["model"]["name"] = NAME
    config["policy"] = {"file": str(root / "policy.yaml"), "tier": "sandbox"}
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    cfg = load_config(root / "config.yaml")
    long = load_long(cfg.data, cfg.base_dir, None)
    dates = sorted(long["date"].unique())
    cuts = [dates[-1 - OFFSETS[0] - 5], *(dates[-1 - k] for k in OFFSETS), dates[-1]]
    files = []  # (config, market file) of each step: the data as of its last day
    for k, cut in enumerate(cuts):
        path = root / f"market-{k}.parquet"
        long[long["date"] <= cut].to_parquet(path, index=False)
        step = {**config, "data": {**config["data"], "as_of": str(pd.Timestamp(cut).date())}}
        (root / f"config-{k}.yaml").write_text(yaml.safe_dump(step))
        files.append((str(root / f"config-{k}.yaml"), str(path)))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALPHAGATE_HOME", str(home))
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
        mp.setenv("ALPHAGATE_CONFIG", str(root / "config.yaml"))
        mp.setenv("ALPHAGATE_WITNESS", str(root / "witness"))
        mp.delenv("ALPHAGATE_LEDGER_URL", raising=False)
        enrol_cast(Workspace(home), monkeypatch=mp)
        with Ledger.open(Workspace(home)) as ledger:
            adopt_policy(Workspace(home), ledger, root / "policy.yaml")
        yield home, str(root / "config.yaml"), files, long


def _shadow_scorings(home) -> list[tuple[pd.Timestamp, pd.DataFrame, dict]]:
    """Every ``challengers.scored`` entry of the strategy: its day, its scores, its payload."""
    from governance.log.ledger import Ledger

    with Ledger.open(Workspace(home)) as ledger:
        out = []
        for e in ledger.entries(action=Action.CHALLENGERS_SCORED, subject=Subject.book(NAME)):
            raw = ledger.store.read_bytes(e.artifacts["scores.parquet"])
            out.append((pd.Timestamp(e.payload["asof"]), pd.read_parquet(io.BytesIO(raw)),
                        e.payload))  # fmt: skip
        return out


def _independent(close: pd.DataFrame, scorings) -> dict[str, dict]:
    """Each signal's mean rank IC and top-minus-bottom quintile return over the rebalances,
    and the champion's paired rank-IC margin over it: scipy and numpy only."""
    per: dict[str, dict[pd.Timestamp, tuple[float, float]]] = {}
    days = list(close.index)
    for day, scores, _ in scorings:
        i = days.index(day)
        fwd = close.iloc[i + HORIZON] / close.iloc[i] - 1.0
        realised = fwd.reindex(scores["asset"]).to_numpy(dtype=float)
        for signal in (c for c in scores.columns if c != "asset"):
            x = scores[signal].to_numpy(dtype=float)
            ok = np.isfinite(x) & np.isfinite(realised)
            xs, ys = x[ok], realised[ok]
            ic = stats.spearmanr(xs, ys).statistic
            pct = stats.rankdata(xs, method="average") / len(xs)
            ls = ys[pct > 0.8].mean() - ys[pct <= 0.2].mean()
            per.setdefault(signal, {})[day] = (float(ic), float(ls))
    out = {}
    champ = per["champion"]
    for signal, rows in per.items():
        ics = np.array([v[0] for v in rows.values()])
        lss = np.array([v[1] for v in rows.values()])
        row = {"rebalances": len(rows), "rank_ic": ics.mean(), "long_short": lss.mean()}
        if signal != "champion":
            d = np.array([champ[t][0] - rows[t][0] for t in rows if t in champ])
            row["margin"] = d.mean()
            row["margin_se"] = d.std(ddof=1) / math.sqrt(len(d))
        out[signal] = row
    return out


def test_challengers_realised_through_the_real_flows(shadowed, capsys):
    from governance.log.ledger import Ledger

    home, config, files, long = shadowed
    code, run = cli_json(capsys, "run", "--config", files[0][0], "--data", files[0][1],
                         "--as", "dana")  # fmt: skip
    assert (run.get("validation") or {}).get("verdict") == "pass", run
    version = str(run["model_version"])
    for user in ("vera", "rita"):
        code, _, err = cli_out(capsys, "approve", "--model-version", version, "--as", user,
                               "--reason", "ok", "--config", config)  # fmt: skip
        assert code == 0, err
    for step, data in files[1:-1]:  # each revealed day: a rebalance by the real flow
        code, reb = cli_json(capsys, "rebalance", "--config", step, "--data", data,
                             "--as", "dana")  # fmt: skip
        assert (reb["portfolio"]["source"], str(reb["portfolio"]["model_version"])) == (
            "model", version), reb  # fmt: skip
        assert reb["stages"]["challengers"]["signals"] == ["champion", "momentum_12_1"], reb
    scorings = _shadow_scorings(home)
    close = long.pivot(index="date", columns="asset", values="close").sort_index()
    close.columns = close.columns.astype(str)
    days = list(close.index)
    assert [d for d, _, _ in scorings] == [days[-1 - k] for k in OFFSETS]
    assert all(p["champion_version"] == int(version) and not p["errors"] for *_, p in scorings)
    # the momentum column is 12-1 momentum of the day's prices, recomputed here
    for day, scores, _ in scorings:
        i = days.index(day)
        mom = (close.iloc[i - 21] / close.iloc[i - 252] - 1.0).reindex(scores["asset"])
        np.testing.assert_allclose(scores["momentum_12_1"], mom.to_numpy(), rtol=ROUND_OFF)

    code, mon = cli_json(capsys, "monitor", "--config", files[-1][0], "--data", files[-1][1])
    assert code in (0, 3), mon  # a breach of another check may trip: not this test's subject
    want = _independent(close, scorings)
    got = mon["challengers"]
    assert set(got) == set(want) == {"champion", "momentum_12_1"}, got
    for signal, row in want.items():
        assert got[signal]["rebalances"] == row["rebalances"] == len(OFFSETS)
        for part in ("rank_ic", "long_short", "margin", "margin_se"):
            if part in row:
                assert math.isclose(got[signal][part], row[part], abs_tol=ROUND_OFF), (
                    signal, part, got[signal][part], row[part])  # fmt: skip
    assert got["champion"]["margin"] is None
    # recorded: the monitoring entry's metrics carry the same figures (the series' source)
    with Ledger.open(Workspace(home)) as ledger:
        entry = ledger.last(action=Action.MONITORING_COMPLETED)
    metrics = entry.payload["metrics"]
    for signal, row in want.items():
        assert math.isclose(metrics[f"challenger.{signal}.rank_ic"], row["rank_ic"],
                            abs_tol=ROUND_OFF)  # fmt: skip
    assert math.isclose(metrics["challenger.momentum_12_1.margin"],
                        want["momentum_12_1"]["margin"], abs_tol=ROUND_OFF)  # fmt: skip
    # shown: status prints them side by side
    code, st, _ = cli_out(capsys, "status", "--model-version", version, "--config", config,
                          "--json")  # fmt: skip
    assert math.isclose(st["challengers"]["momentum_12_1"]["margin"],
                        want["momentum_12_1"]["margin"], abs_tol=ROUND_OFF)  # fmt: skip
