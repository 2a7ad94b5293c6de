"""The minor path's automatic comparison with the previous version (issue 27, item 2).

One module workspace trains ``beta`` with real LightGBM, all three retrains on the same
features and search, so each retrain is *minor* (new data only):

1. v1 on the first 800 days of a market with a planted signal  -> material (first version)
2. v2 on all 900 days of the same market                       -> minor, and its comparison
   with v1 on v2's holdout is within the default bounds: one validator promotes it
3. v3 on a market whose signal has the opposite sign           -> minor by class, but its
   comparison with v2 is outside the bounds: escalated to the full path (one validator
   promotes nothing, a risk officer's approval then completes it)

The comparison is made by the production code (validation/comparison.py) on each version's
sealed holdout and signed in vera's validation. The attacks: a run config naming a policy
file with loose bounds (not the adopted policy) changes nothing; a validation that signs
figures outside the bounds with an empty ``breaches`` list still takes the full path (the
figures are judged again under the adopted policy at each approval).
"""

from __future__ import annotations

import json

import pytest
import yaml

from governance.ground.refs import ModelRef
from tasks.data.synthetic import SyntheticSpec
from tests.helpers_identity import CAST, POLICY, adopt_policy, sign_validation, signer
from tests.helpers_train import (
    dev_val_workspace,
    minor_comparison,
    older_panel,
    synthetic_panel,
    train_synthetic,
)

F3 = ("mom_1m", "mom_3m", "vol_1m")
SPEC = SyntheticSpec(n_assets=40, n_days=900, ic=0.05, seed=1)
FLIPPED = SyntheticSpec(n_assets=40, n_days=900, ic=-0.05, seed=1)  # the crafted retrain
LOOSE = {"max_ic_change_tstat": 1000.0, "max_relative_turnover": 1.0,
         "min_importance_rank_corr": -1.0}  # fmt: skip


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    yield from dev_val_workspace(tmp_path_factory, "compare", CAST)


def _policy(directory, bounds: dict | None = None):
    doc = yaml.safe_load(POLICY.read_text())
    doc["tiers"]["high"]["change"] = {"minor": "validator", **({"comparison": bounds} if bounds
                                                               else {})}  # fmt: skip
    path = directory / "policy.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture(scope="module")
def setup(ws, tmp_path_factory):
    """``(versions, comparisons, policy hash)``: v1, v2, v3 trained by dev-alice; the minor
    path adopted (default bounds); each validated by vera with its comparison."""
    from governance.log.ledger import Ledger
    from governance.policy.schema import load_policy

    full = synthetic_panel(SPEC)
    versions = []
    for panel in (older_panel(full, 800), full, synthetic_panel(FLIPPED)):
        res, _ = train_synthetic(ws, model={"name": "beta", "search": [{}, {"num_leaves": 3}]},
                                 features={"names": list(F3)}, panel=panel)  # fmt: skip
        versions.append(res)
    path = _policy(tmp_path_factory.mktemp("policy"))
    policy, digest = load_policy(path)
    tier = policy.tier("high")
    comparisons = [minor_comparison(ws, "beta", r.version, tier) for r in versions]
    with Ledger.open(ws) as ledger:
        assert adopt_policy(ws, ledger, path).policy_hash == digest
        for res, compared in zip(versions, comparisons, strict=True):
            sign_validation(ws, ledger, "beta", res.version, "pass", res.mlflow_run_id, "high",
                            comparison=compared)  # fmt: skip
    return [str(r.version) for r in versions], comparisons, digest


def _approve(ws, digest, version, who):
    from governance.decisions.approvals import approve
    from governance.log.ledger import Ledger
    from governance.policy.tiers import tier_at_use

    with Ledger.open(ws) as ledger:
        tier = tier_at_use(ledger, "beta").tier
        return approve(ws, ledger, ModelRef.parse("beta", version), signer(ws, who, ledger), "ok",
                       tier=tier, tier_name="high", policy_hash=digest)  # fmt: skip


def _champion(ws, tier=None):
    from governance.log.ledger import Ledger
    from governance.registry.champion import champion

    with Ledger.open(ws) as ledger:
        found = champion(ledger, "beta", tier=tier)
    return found.ref.version_text if found else None  # as the CLI prints versions


def test_a_minor_retrain_within_bounds_takes_the_minor_path_and_one_outside_does_not(
    ws, setup, tmp_path, capsys
):
    from governance.log.ledger import Ledger
    from governance.policy.schema import load_policy
    from governance.registry.change_control import version_change
    from tests.helpers_e2e import cli_out

    (v1, v2, v3), (c1, c2, c3), digest = setup
    with Ledger.open(ws) as ledger:
        classes = [
            version_change(ledger, ModelRef.parse("beta", v)).change_class.value
            for v in (v1, v2, v3)
        ]
    assert classes == ["material", "minor", "minor"]
    assert c1 is None  # a material change is not compared
    shown = json.dumps([c2, c3], indent=1)
    assert (c2["baseline_version"], c2["breaches"]) == (v1, []), shown
    assert c3["baseline_version"] == v2 and c3["breaches"], shown
    # the flipped market: the new version's holdout IC is far from its predecessor's
    assert c3["ic_change"] > 0 > c3["baseline_rank_ic"], shown

    _approve(ws, digest, v1, "vera")
    _approve(ws, digest, v1, "rita")
    assert _champion(ws) == v1
    # v2 within bounds: one validator's approval promotes it
    assert _approve(ws, digest, v2, "vera").promoted is not None
    assert _champion(ws) == v2

    # v3 outside the bounds: escalated to the full path; the validator alone promotes nothing
    assert _approve(ws, digest, v3, "vera").state.missing == ("risk_officer",)
    assert _champion(ws) == v2
    # Attack: a run config naming a policy file with loose bounds (never adopted)...
    loose = _policy(tmp_path, LOOSE)
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"model: {{name: beta}}\npolicy: {{file: {loose}, tier: high}}\n")
    code, _, err = cli_out(capsys, "approve", "--config", str(cfg), "--model", "beta",
                           "--model-version", v3, "--as", "val")  # fmt: skip
    assert code == 4 and "a config may not choose its policy" in err, err
    # ... and the loose tier handed to the derivation as the caller's: the adopted one decides
    assert _champion(ws, load_policy(loose)[0].tier("high")) == v2
    # the risk officer completes the full path
    _approve(ws, digest, v3, "rita")
    assert _champion(ws) == v3


def test_figures_outside_the_bounds_signed_as_within_still_count_as_outside(ws, setup):
    """A validator who signs v3's comparison with its breaches removed: the figures are
    judged again under the adopted policy's bounds, so it is still outside them; the signed
    comparison is read from the validation's signed document."""
    from governance.identity.users import load_registry
    from governance.log.ledger import Ledger
    from governance.policy.tiers import tier_at_use
    from governance.registry.champion import compared_within, signed_comparison

    (_, v2, v3), (_, c2, c3), _ = setup
    with Ledger.open(ws) as ledger:
        tier = tier_at_use(ledger, "beta").tier
        registry = load_registry(ledger)
        assert signed_comparison(ledger, registry, ModelRef.parse("beta", v3), None) == c3
    assert not compared_within(tier, {**c3, "breaches": []}, int(v2))
    assert compared_within(tier, c2, int(c2["baseline_version"]))
    # a comparison made against another version than the baseline counts for nothing
    assert not compared_within(tier, c2, int(v2))


def test_a_baseline_model_swapped_in_the_registry_changes_no_comparison(ws, setup):
    """Attack: the developer overwrites v2's model file in the MLflow artifact store (every
    leaf negated) before v3's validation, hoping to move the comparison. The baseline is read
    from the file v2's signed training entry names, so v3's comparison is unchanged."""
    from governance.policy.tiers import tier_at_use
    from tests.helpers_e2e import negate_model_file

    (_, v2, v3), (_, _, c3), _ = setup
    path, original = negate_model_file(ws, "beta", v2)
    try:
        from governance.log.ledger import Ledger

        with Ledger.open(ws) as ledger:
            tier = tier_at_use(ledger, "beta").tier
        assert minor_comparison(ws, "beta", v3, tier) == c3
    finally:
        path.write_text(original)
