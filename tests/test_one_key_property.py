"""Property: whatever CLI commands one person issues with their own key, whatever name they
claim, no version that the adopted policy fails becomes champion, no version is promoted
without a second person, and a tripped kill switch is never re-armed.

One workspace per attacker role (developer, validator, risk officer, admin), real MLflow
(tiny LightGBM versions: v1 failed validation, v2 passed it), the SQL ledger; hypothesis
draws sequences of commands. The attacker holds exactly one key: the keyring is unset.
"""

from __future__ import annotations

import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.cli import main
from governance.decisions import killswitch
from governance.ground.vocabulary import Action
from governance.ground.workspace import Workspace
from governance.identity.keys import new_key_file
from governance.log.ledger import Ledger
from governance.registry.recorder import mlflow_client
from governance.registry.versions import champion_version
from tests.helpers_identity import POLICY, enrol_cast, keyring_signer, tiny_version

NAMES = ["dana", "vera", "val", "rita", "omar", "ada", "mallory"]
MODEL = "prop"


@pytest.fixture(scope="module", params=["dana", "vera", "rita", "ada"])
def arena(request, tmp_path_factory):
    """``(attacker, key path, config, shopped policy)`` in a prepared workspace."""
    tmp = tmp_path_factory.mktemp(f"prop-{request.param}")
    mp = pytest.MonkeyPatch()
    home = tmp / "home"
    mp.setenv("ALPHAGATE_HOME", str(home))
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
    mp.delenv("ALPHAGATE_LEDGER_URL", raising=False)
    mp.delenv("ALPHAGATE_USER", raising=False)
    mp.delenv("ALPHAGATE_KEY", raising=False)
    ws = Workspace(home).ensure()
    keys = enrol_cast(ws)
    tiny_version(ws, MODEL, verdict="fail")
    tiny_version(ws, MODEL, verdict="pass")
    with Ledger.open(ws) as ledger:  # omar trips the switch; the attacker is never omar
        killswitch.trip(ledger, keyring_signer(ws, "omar", "risk_officer"), "incident")
    mp.delenv("ALPHAGATE_KEYRING", raising=False)
    shutil.copy(POLICY, tmp / "policy.yaml")
    shopped = tmp / "shopped.yaml"
    shopped.write_text(POLICY.read_text().replace("min_dsr: 0.95", "min_dsr: 0.0") + "\n#x\n")
    cfg = tmp / "run.yaml"
    cfg.write_text(f"model: {{name: {MODEL}}}\npolicy: {{file: policy.yaml, tier: high}}\n")
    fresh = tmp / "fresh.key"
    new_key_file(fresh)
    yield request.param, keys[request.param], cfg, shopped, fresh, ws
    mp.undo()


def _argv(cmd, arena) -> list[str]:
    _attacker, key, cfg, shopped, fresh, _ws = arena
    op, claim, version, role, name = cmd
    who = ["--as", claim] if claim else []
    who += ["--key", str(key)]
    c = ["--config", str(cfg)]
    return {
        "approve": ["approve", *c, "--model-version", version, "--reason", "r", *who],
        "sign-only": ["approve", *c, "--model-version", version, "--sign-only", *who],
        "reject": ["reject", *c, "--model-version", version, "--reason", "r", *who],
        "trip": ["killswitch", "trip", "--reason", "r", *who],
        "reset": ["killswitch", "reset", *c, "--reason", "r", "--incident", "I", *who],
        "enrol-own-key": ["users", "add", name, "--role", role, "--public-key",
                          f"{key}.pub", *who],
        "enrol-fresh": ["users", "add", name, "--role", role, "--public-key",
                        f"{fresh}.pub", *who],
        "revoke": ["users", "revoke", name, *who],
        "role": ["users", "role", name, "--role", role, *who],
        "adopt-shopped": ["policy", "adopt", str(shopped), *who],
        "approve-shopped": ["approve", "--config", str(shopped.with_name("shop.yaml")),
                            "--model-version", version, *who],
    }[op]  # fmt: skip


COMMANDS = st.tuples(
    st.sampled_from(
        [
            "approve",
            "sign-only",
            "reject",
            "trip",
            "reset",
            "enrol-own-key",
            "enrol-fresh",
            "revoke",
            "role",
            "adopt-shopped",
            "approve-shopped",
        ]
    ),
    st.sampled_from([None, *NAMES]),
    st.sampled_from(["1", "2"]),
    st.sampled_from(["developer", "validator", "risk_officer", "admin"]),
    st.sampled_from(["mallory", "eve", "rita", "vera"]),
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(cmds=st.lists(COMMANDS, min_size=1, max_size=5))
def test_one_key_never_promotes_nor_re_arms(arena, cmds, capsys):
    *_, shopped, _fresh, ws = arena
    shopped.with_name("shop.yaml").write_text(
        f"model: {{name: {MODEL}}}\npolicy: {{file: {shopped.name}, tier: high}}\n"
    )
    for cmd in cmds:
        try:
            code = main(_argv(cmd, arena))
        except SystemExit as usage:  # argparse: a required --as missing is exit 2
            code = usage.code
        assert code in (0, 2, 3, 4), cmd  # never a bug
        capsys.readouterr()
    assert champion_version(mlflow_client(ws), MODEL) is None
    with Ledger.open(ws) as ledger:
        assert killswitch.status(ledger).tripped
        assert not ledger.entries(action=Action.MODEL_PROMOTED)
