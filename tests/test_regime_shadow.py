"""A validated regime ensemble is scored in shadow inside a rebalance (issue 26 item 6).

Through the real CLI and flows, on the sandbox small market (tests/data/small-sandbox.yaml):
``run`` trains and validates v1, two officers promote it; ``run`` again with the regime gate
(``features.names`` plus ``mkt_high_vol``, ``lightgbm.regime_gate``) trains v2, a regime
ensemble of the same strategy, which the run's validator validates; then ``rebalance``
publishes v1's book and records v2's scores of the day beside it (``challengers.scored``,
column ``regime_ensemble_v2``). The recorded column is v2's own prediction: the test
scores v2 again from the registry on the same day's features and compares to round-off.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import yaml

from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action, Subject
from governance.ground.workspace import Workspace
from tests.helpers_e2e import DATA, cli_json, cli_out
from tests.helpers_identity import adopt_policy, enrol_cast

NAME = "regime-shadow"


@pytest.fixture(scope="module")
def home_and_configs(tmp_path_factory, prefect_server):
    from governance.log.ledger import Ledger

    root = tmp_path_factory.mktemp("regime-shadow")
    home = root / "home"
    policy = yaml.safe_load((DATA / "policy-sandbox.yaml").read_text())
    policy["version"] = "regime-shadow-1"
    policy["strategies"] = {NAME: "sandbox"}
    (root / "policy.yaml").write_text(yaml.safe_dump(policy))
    config = yaml.safe_load((DATA / "small-sandbox.yaml").read_text())
    config["model"]["name"] = NAME
    config["policy"] = {"file": str(root / "policy.yaml"), "tier": "sandbox"}
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALPHAGATE_HOME", str(home))
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
        mp.setenv("ALPHAGATE_CONFIG", str(root / "config.yaml"))
        mp.setenv("ALPHAGATE_WITNESS", str(root / "witness"))
        mp.delenv("ALPHAGATE_LEDGER_URL", raising=False)
        enrol_cast(Workspace(home), monkeypatch=mp)
        with Ledger.open(Workspace(home)) as ledger:
            adopt_policy(Workspace(home), ledger, root / "policy.yaml")
        yield home, root, config


def test_the_validated_ensemble_is_scored_in_shadow_by_the_rebalance(home_and_configs, capsys):
    from governance.log.ledger import Ledger
    from tasks.data.market import load_long, to_panel
    from tasks.model.features import compute_features
    from tasks.model.scoring import latest_scores, load_scoring_model

    home, root, config = home_and_configs
    base = str(root / "config.yaml")
    code, run = cli_json(capsys, "run", "--config", base, "--as", "dana")
    assert (run.get("validation") or {}).get("verdict") == "pass", run
    v1 = int(run["model_version"])
    for user in ("vera", "rita"):
        code, _, err = cli_out(capsys, "approve", "--model-version", str(v1), "--as", user,
                               "--reason", "ok", "--config", base)  # fmt: skip
        assert code == 0, err
    with Ledger.open(Workspace(home)) as ledger:
        features = ledger.last(Action.MODEL_TRAINED, Subject.strategy(NAME)).payload["features"]
    gated = {**config, "features": {"names": [*features, "mkt_high_vol"]},
             "model": {**config["model"], "lightgbm": {**config["model"]["lightgbm"],
                                                       "regime_gate": "mkt_high_vol"}}}  # fmt: skip
    (root / "gated.yaml").write_text(yaml.safe_dump(gated))
    code, run2 = cli_json(capsys, "run", "--config", str(root / "gated.yaml"), "--as", "dana")
    v2 = int(run2["model_version"])
    assert v2 == v1 + 1 and (run2.get("validation") or {}).get("verdict"), run2

    code, reb = cli_json(capsys, "rebalance", "--config", base, "--as", "dana")
    assert (reb["portfolio"]["source"], int(reb["portfolio"]["model_version"])) == ("model", v1)
    signal = f"regime_ensemble_v{v2}"
    assert reb["stages"]["challengers"]["signals"] == ["champion", signal, "momentum_12_1"], reb
    assert reb["stages"]["challengers"]["errors"] == []
    with Ledger.open(Workspace(home)) as ledger:
        entry = ledger.last(Action.CHALLENGERS_SCORED, Subject.book(NAME))
        scores = pd.read_parquet(
            io.BytesIO(ledger.store.read_bytes(entry.artifacts["scores.parquet"]))
        )
    assert {"signal": signal, "kind": "regime_ensemble", "version": v2} in entry.payload["signals"]
    # v2's own prediction of the day, scored again from the registry
    from flows.config import load_config

    cfg = load_config(root / "config.yaml")
    panel = to_panel(load_long(cfg.data, cfg.base_dir, None))
    model = load_scoring_model(Workspace(home), ModelRef.parse(NAME, v2))
    again = latest_scores(model, compute_features(panel, model.features_config(cfg.features)))
    got = scores.set_index("asset")[signal]
    assert got.notna().all() and len(got) == panel.close.shape[1]
    np.testing.assert_allclose(got.to_numpy(), again.reindex(got.index).to_numpy(), rtol=1e-12)
