"""Helpers to train a small registered candidate in a test workspace.

Used by the training tests and available to the validation and monitoring tests::

    from tests.helpers_train import train_synthetic
    result, split = train_synthetic(workspace, SyntheticSpec(n_assets=40, n_days=900))
"""

from __future__ import annotations

import pandas as pd

from governance.ground.refs import ModelRef
from tasks.data.market import MarketPanel
from tasks.data.synthetic import SyntheticSpec, generate_market
from tasks.model.features import FeaturesConfig

# Small and fast: few folds, few trees, two trials. Enough for every contract; not for
# statistics (see tests/test_train_ground_truth.py for those).
FAST_MODEL = {
    "name": "synthetic-test",
    "cv": {"n_folds": 3, "min_train_dates": 252, "embargo": 5},
    "lightgbm": {
        "num_boost_round": 30,
        "early_stopping_rounds": 10,
        "num_leaves": 7,
        "num_threads": 1,
    },
    "search": [{}, {"num_leaves": 3}],
    "reference_rows": 400,
    "sample_rows": 50,
}


def panel_from_long(long: pd.DataFrame, source: str = "test") -> MarketPanel:
    """A MarketPanel from a long ``date, asset, close[, volume][, sector]`` table (the
    production :func:`tasks.data.market.to_panel`)."""
    from tasks.data.market import to_panel

    return to_panel(long, source)


def synthetic_panel(spec: SyntheticSpec) -> MarketPanel:
    return panel_from_long(generate_market(spec), f"synthetic:seed={spec.seed}")


def train_synthetic(
    ws,
    spec: SyntheticSpec | None = None,
    *,
    model: dict | None = None,
    features: dict | None = None,
    developer: str = "dev-alice",
    ctx=None,
    panel: MarketPanel | None = None,
):
    """Build, seal, train and register a candidate on a synthetic market.

    Parameters
    ----------
    ws : Workspace
        A test workspace (the ``workspace`` fixture).
    spec : SyntheticSpec, optional
        Default: 40 assets × 900 days, ic=0.05.
    model, features : dict, optional
        Overrides merged over :data:`FAST_MODEL` and the default features config.
    panel : MarketPanel, optional
        The market to train on instead of ``spec``'s (e.g. a slice of it: older data).

    Returns
    -------
    (TrainingResult, SealedSplit)
    """
    from governance.decisions.context import RunContext
    from governance.ground.canonical import sha256_json
    from tasks.model.dataset import build_frame, split_and_seal
    from tasks.model.register import train_and_register
    from tasks.model.train import ModelConfig

    spec = spec or SyntheticSpec(n_assets=40, n_days=900, ic=0.05, seed=1)
    panel = panel or synthetic_panel(spec)
    fcfg = FeaturesConfig(**(features or {}))
    mcfg = ModelConfig(**{**FAST_MODEL, **(model or {})})
    own = ctx is None
    if own:  # the developer signs the training entry (tests/helpers_identity.py)
        from tests.helpers_identity import enrol_cast, signer

        enrol_cast(ws, ((developer, "developer"),))
        dev = signer(ws, developer)
        ctx = RunContext.open(ws, actor=developer, role="developer", signer=dev)
    try:
        split = split_and_seal(ctx, build_frame(panel, fcfg), mcfg)
        result = train_and_register(
            ctx,
            split,
            fcfg,
            mcfg,
            developer=developer,
            config_hash=sha256_json({"features": fcfg, "model": mcfg}),
            data_fingerprint=panel.fingerprint,
        )
    finally:
        if own:
            ctx.close()
    return result, split


def older_panel(panel: MarketPanel, days: int) -> MarketPanel:
    """The first ``days`` days of ``panel``: the same market seen earlier (a retrain's older
    data), with a fingerprint of its own."""
    from dataclasses import replace

    close = panel.close.iloc[:days]
    volume = None if panel.volume is None else panel.volume.iloc[:days]
    return replace(panel, close=close, volume=volume, fingerprint=f"older-{days}")


def dev_val_workspace(tmp_path_factory, name: str, cast):
    """A module fixture's body: a fresh workspace with MLflow inside it and ``cast``
    enrolled; yields the workspace and undoes its environment after."""
    import pytest

    from governance.ground.workspace import Workspace
    from tests.helpers_identity import enrol_cast

    mp = pytest.MonkeyPatch()
    home = tmp_path_factory.mktemp(name) / "home"
    mp.setenv("ALPHAGATE_HOME", str(home))
    mp.delenv("ALPHAGATE_LEDGER_URL", raising=False)
    workspace = Workspace(home).ensure()
    mp.setenv("MLFLOW_TRACKING_URI", workspace.tracking_uri)
    enrol_cast(workspace, cast, monkeypatch=mp)
    yield workspace
    mp.undo()


def minor_comparison(ws, name: str, version, tier) -> dict | None:
    """The validator's automatic comparison of ``name`` v``version`` with its baseline, made
    by the production code on its sealed holdout (validation/comparison.py), as a validation
    signs it; None for a material change."""
    from governance.log.ledger import Ledger
    from governance.registry.change_control import version_change
    from validation.comparison import compare_with_baseline
    from validation.inputs import load_inputs

    with Ledger.open(ws) as ledger:
        change = version_change(ledger, ModelRef.parse(name, version)).to_json()
        inp = load_inputs(ws, ledger, ledger.store, ModelRef.parse(name, version))
        return compare_with_baseline(ledger, inp, change, tier, 1 / 5)  # the default quintiles
