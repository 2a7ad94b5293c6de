"""Identities for tests: personal keys outside the workspace, a genesis, an enrolled cast.

::

    from tests.helpers_identity import enrol_cast, signer
    keys = enrol_cast(workspace, monkeypatch=monkeypatch)   # {name: key path}
    main(["approve", "--model-version", "1", "--as", "rita", "--key", str(keys["rita"])])

Keys are written to a keyring folder *beside* the workspace (never inside it). With
``monkeypatch`` the keyring is exported as ``ALPHAGATE_KEYRING``, so ``--as NAME`` finds
NAME's key there: one test process deliberately holds every member's key, exactly the
situation four eyes cannot protect against (docs/governance.md). Attack tests leave the
keyring unset and hold only the attacker's key.
"""

from __future__ import annotations

from pathlib import Path

from governance.audit.door import prove_identity
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from governance.ground.workspace import Workspace
from governance.identity.enrolment import add_user, initialise
from governance.identity.keys import KEYRING_ENV, load_private_key, new_key_file
from governance.identity.users import load_registry
from governance.log.ledger import Ledger

ADMIN = "ada"
#: The shipped policy without its ``high`` paper stage (tests/data/policy-live.yaml): adopted
#: by rita and omar in every non-sandbox test workspace, so a ``high`` version goes live on
#: its two approvals. Tests of the paper stage add one (tests/test_paper_stage.py).
POLICY = Path(__file__).resolve().parent / "data" / "policy-live.yaml"
#: The demo cast plus a second validator and the training tests' developer.
CAST = (
    ("dana", "developer"),
    ("dev-alice", "developer"),
    ("vera", "validator"),
    ("val", "validator"),
    ("rita", "risk_officer"),
    ("omar", "risk_officer"),
)


def new_workspace(ws: Workspace) -> Workspace:
    """``ws`` created, its MLflow database a copy of the migrated template as the CLI starts
    a new workspace (flows/cli.py, flows/db_templates.py): MLflow migrating a new database
    itself costs a test about 2.5 s of CPU, the copy 0.1 s. Returns ``ws``."""
    from flows.db_templates import seed_mlflow

    ws.ensure()
    seed_mlflow(ws.tracking_uri)
    return ws


def keyring_dir(ws: Workspace) -> Path:
    """``<workspace>-keyring`` beside the workspace folder."""
    return ws.home.parent / f"{ws.home.name}-keyring"


def make_key(ws: Workspace, name: str) -> Path:
    """``name``'s key in the keyring (made once)."""
    path = keyring_dir(ws) / f"{name}.key"
    if not path.exists():
        new_key_file(path)
    return path


def enrol_cast(
    ws: Workspace,
    cast=CAST,
    *,
    sandbox: bool = False,
    monkeypatch=None,
    admin: str = ADMIN,
    policy: Path | None = POLICY,
) -> dict[str, Path]:
    """Genesis (admin ``ada``), enrolment of ``cast`` and, outside a sandbox, adoption of
    ``policy`` by rita and omar; idempotent. Returns key paths."""
    new_workspace(ws)
    if policy is not None and not sandbox:  # the two officers who adopt it
        cast = (*cast, *((n, "risk_officer") for n in ("rita", "omar") if n not in dict(cast)))
    keys = {admin: make_key(ws, admin)}
    keys.update({name: make_key(ws, name) for name, _ in cast})
    with Ledger.open(ws) as ledger:
        reg = load_registry(ledger)
        if reg.genesis_seq is None:
            initialise(ws, ledger, admin, load_private_key(keys[admin]), sandbox=sandbox)
            reg = load_registry(ledger)
        ada = prove_identity(ws, ledger, admin, str(keys[admin]), "users add")
        for name, role in cast:
            if reg.at(name) is None:
                pub = new_public(keys[name])
                add_user(ws, ledger, ada, name, role, pub)
        if policy is not None and not reg.sandbox:
            adopt_policy(ws, ledger, policy)
    if monkeypatch is not None:
        monkeypatch.setenv(KEYRING_ENV, str(keyring_dir(ws)))
        monkeypatch.delenv("ALPHAGATE_KEY", raising=False)
    return keys


def new_public(key_path: Path) -> str:
    from governance.identity.keys import public_hex

    return public_hex(load_private_key(key_path))


def in_force_hash(ledger: Ledger) -> str | None:
    """The hash of the policy in force (what a genuine validation records)."""
    from governance.policy.adoption import policy_in_force

    adoption = policy_in_force(ledger)
    return adoption.policy_hash if adoption else None


def in_force_tier(ledger: Ledger, strategy: str) -> str:
    """The tier the policy in force assigns ``strategy`` (what genuine evidence records)."""
    from governance.policy.tiers import tier_at_use

    return tier_at_use(ledger, strategy).name


def signer(ws: Workspace, name: str, ledger: Ledger | None = None):
    """``name``'s proven :class:`~governance.identity.signing.Signer` (their key from the keyring)."""
    path = str(make_key(ws, name))
    if ledger is not None:
        return prove_identity(ws, ledger, name, path, "test")
    with Ledger.open(ws) as own:
        return prove_identity(ws, own, name, path, "test")


def adopt_policy(ws: Workspace, ledger: Ledger, policy: Path, officers=("rita", "omar"), rule=None):
    """``policy`` in force, signed by two risk officers (unless it already is)."""
    from governance.ground.canonical import sha256_file
    from governance.policy.adoption import adopt, policy_in_force

    current = policy_in_force(ledger)
    if current is not None and current.policy_hash == sha256_file(policy):
        return current
    for name in officers:
        make_key(ws, name)
        _, adoption = adopt(
            ws, ledger, signer(ws, name, ledger), policy, rule or {"rule": "fallback"}
        )
    return adoption


def tiny_version(
    ws: Workspace, name: str, developer: str = "dana", verdict: str = "pass", tier=None,
    trained: dict | None = None,
):  # fmt: skip
    """Register a tiny real LightGBM version whose training ``developer`` signs and whose
    validation vera signs (verdict ``verdict``, under the policy in force and ``tier``,
    default the tier it assigns ``name``). ``trained`` adds fields to the signed
    ``model.trained`` payload. Returns the version (str) and the MLflow run id."""
    import lightgbm as lgb
    import mlflow
    import numpy as np

    from governance.identity.signing import append_signed
    from governance.policy.adoption import policy_in_force
    from governance.registry.recorder import mlflow_experiment

    rng = np.random.default_rng(len(name))
    X = rng.normal(size=(120, 3))
    y = X[:, 0] + 0.1 * rng.normal(size=120)
    booster = lgb.train({"verbose": -1, "num_leaves": 4}, lgb.Dataset(X, y), num_boost_round=3)
    mlflow.set_tracking_uri(ws.tracking_uri)
    with mlflow.start_run(experiment_id=mlflow_experiment(name, ws)) as run:
        # explicit requirements: inferring them spawns a 7 s subprocess
        info = mlflow.lightgbm.log_model(booster, name="model", pip_requirements=["lightgbm"])
    tags = {"developer": developer, "status": "candidate", "data_fingerprint": "d" * 64,
            "features": "f0,f1,f2", "strategy": name}  # fmt: skip
    mv = mlflow.register_model(info.model_uri, name, tags=tags)
    with Ledger.open(ws) as ledger:
        adoption = policy_in_force(ledger)
        if tier is None and adoption is not None:
            from governance.policy.tiers import tier_at_use

            tier = tier_at_use(ledger, name).name
        append_signed(
            ledger, signer(ws, developer, ledger), Action.MODEL_TRAINED,
            subject=f"strategy:{name}",
            payload={"mlflow_run_id": run.info.run_id, "tier": tier, **(trained or {})},
        )  # fmt: skip
        sign_validation(ws, ledger, name, mv.version, verdict, run.info.run_id, tier)
    return str(mv.version), run.info.run_id


def promoted_version(
    ws: Workspace, name: str, tier_name: str = "high", trained: dict | None = None
) -> tuple[str, str]:
    """A tiny version promoted the legitimate way (vera and rita approve under the policy in
    force, the shipped policy's ``tier_name``): (version, run id)."""
    from governance.decisions.approvals import approve
    from governance.policy.adoption import policy_in_force
    from governance.policy.schema import load_policy

    version, run_id = tiny_version(ws, name, trained=trained)
    tier = load_policy(POLICY)[0].tier(tier_name)
    with Ledger.open(ws) as ledger:
        h = policy_in_force(ledger).policy_hash
        for who in ("vera", "rita"):
            approve(ws, ledger, ModelRef.parse(name, version), signer(ws, who, ledger), "ok",
                    tier=tier, tier_name=tier_name, policy_hash=h)  # fmt: skip
    return version, run_id


def sign_validation(
    ws: Workspace, ledger: Ledger, name: str, version, verdict: str, run_id: str, tier=None,
    **more,
):  # fmt: skip
    """vera's signed ``validation.completed`` of ``name`` v``version`` with ``verdict``, under
    the policy in force and ``tier`` (default: the tier it assigns ``name``), with its
    ``report.json`` artifact (a genuine verdict's shape); ``more`` adds payload fields (the
    validation's own ``mlflow_run_id``; a minor change's ``comparison`` with its baseline,
    validation/comparison.py ``compare_with_baseline``)."""
    from governance.identity.signing import append_signed
    from governance.policy.adoption import policy_in_force

    adoption = policy_in_force(ledger)
    if tier is None and adoption is not None:
        from governance.policy.tiers import tier_at_use

        tier = tier_at_use(ledger, name).name
    report = ledger.store.put_json({"model": name, "version": str(version), "v": verdict})
    return append_signed(
        ledger, signer(ws, "vera", ledger), Action.VALIDATION_COMPLETED,
        subject=f"model:{name}/v{version}",
        payload={"model_name": name, "model_version": str(version), "verdict": verdict,
                 "policy_hash": adoption.policy_hash if adoption else None,
                 "policy_tier": tier, "model_run_id": run_id, **more},
        artifacts={"report.json": report},
    )  # fmt: skip


def keyring_signer(ws: Workspace, name: str, role: str):
    """``name``'s Signer straight from the keyring, for test processes racing on a ledger
    (no identity proof: the ledger's fold re-checks every signature anyway)."""
    from governance.identity.keys import public_hex
    from governance.identity.signing import Signer

    key = load_private_key(make_key(ws, name))
    return Signer(name, role, public_hex(key), key)
