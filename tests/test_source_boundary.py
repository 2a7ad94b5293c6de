"""The operating boundary includes the feature sources (issue 26 item 4, lineage).

A model trained on a source records, in its signed ``model.trained`` entry, each source's
name, contract (name, version, hash), file fingerprint and the digest of its history as
known on the sealed data's last day (tasks/data/sources/record.py ``training_lineage``);
validation carries them into the operating domain its verdict signs
(validation/boundaries.py). At each use the source read that day is held to them: the
attacks are a vendor restating a value in place, the file losing a value, a new contract
version, an edited contract under the same version, and the source gone. A later vintage
(a restatement published after the cut-off) and a new period are appended data: inside,
though the file's fingerprint changed.
"""

from __future__ import annotations

import pandas as pd
import pytest

from tasks.data.market import to_panel
from tasks.data.sources.record import live_lineage, training_lineage
from tasks.data.sources.source import SourceConfig, load_source
from tasks.data.synthetic import SyntheticSpec, generate_market
from tasks.model.dataset import build_frame, feature_columns
from tasks.model.features import FeaturesConfig
from tests.helpers_sources import lagged_signal, write_contract, write_source
from validation.boundaries import operating_domain, outside_domain

Z = 3.09
CFG = FeaturesConfig(normalise="robust_z")


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    """The market, its holdout's domain with the source's signed lineage, the source rows."""
    tmp = tmp_path_factory.mktemp("source-boundary")
    panel = to_panel(generate_market(SyntheticSpec(n_assets=20, n_days=700, ic=0.05, seed=4)))
    rows = lagged_signal(panel.close, 21, 30, noise=1.0, seed=2).dropna()
    cut = panel.close.index[-1]
    rows = rows.loc[rows["available_at"] <= cut]  # the file as delivered on the last day
    write_source(tmp / "s.csv", rows)
    write_contract(tmp / "s.odcs.yaml")
    table = load_source(SourceConfig(name="sentiment", path="s.csv", contract="s.odcs.yaml"), tmp)
    frame = build_frame(panel, CFG)
    holdout = frame.loc[frame["date"] >= panel.close.index[500]]
    signed = training_lineage([table], holdout["date"].max())
    domain = operating_domain(holdout, feature_columns(frame), 63, signed)
    live = frame.loc[frame["date"] == holdout["date"].max()]
    return tmp, panel, domain, live, rows


def _outside(setting, rows: pd.DataFrame | None, **contract) -> list[str]:
    """The boundary's verdict on the source as the file and contract read today."""
    tmp, panel, domain, live, _ = setting
    day = tmp / f"day-{len(list(tmp.glob('day-*')))}"
    day.mkdir()
    tables = []
    if rows is not None:
        write_source(day / "s.csv", rows)
        write_contract(day / "s.odcs.yaml", **contract)
        cfg = SourceConfig(name="sentiment", path="s.csv", contract="s.odcs.yaml")
        tables.append(load_source(cfg, day))
    live_sources = live_lineage(tables, domain["sources"])
    found = outside_domain(
        domain, live, panel.close, sectors=panel.sectors is not None, z=Z, sources=live_sources
    )
    return [f"{o.about}: {o.detail}" for o in found]


def test_the_domain_names_the_source_its_contract_fingerprint_and_history(setting):
    _, _, domain, live, _ = setting
    (s,) = domain["sources"]
    assert (s["source"], s["contract"], s["version"]) == ("sentiment", "sentiment", "1.0.0")
    assert len(s["fingerprint"]) == len(s["contract_sha256"]) == len(s["known_digest"]) == 64
    assert pd.Timestamp(s["known_by"]) == live["date"].max()  # the holdout's last day


def test_the_same_file_and_appended_vintages_are_inside(setting):
    *_, rows = setting
    assert _outside(setting, rows) == []
    later = rows.iloc[:5].assign(
        available_at=pd.Timestamp("2100-01-01"), score=rows["score"].iloc[:5] + 1.0
    )  # a restatement published after the cut-off: a new vintage, the old one kept
    assert _outside(setting, pd.concat([rows, later], ignore_index=True)) == []


@pytest.mark.parametrize("attack", ["restated", "removed", "version", "edited", "gone"])
def test_a_change_of_the_source_outside_the_domain_is_detected(setting, attack):
    *_, rows = setting
    contract, data = {}, rows.copy()
    if attack == "restated":  # a vendor rewrites a value known before the cut-off in place
        data.loc[data.index[40], "score"] += 0.5
    elif attack == "removed":
        data = data.drop(data.index[40])
    elif attack == "version":
        contract = {"version": "1.1.0"}
    elif attack == "edited":  # the same version number, other bytes
        contract = {"maximum": 9.0}
    found = _outside(setting, None if attack == "gone" else data, **contract)
    assert len(found) == 1 and found[0].startswith("source:sentiment: "), found
    expected = {
        "restated": "history known by", "removed": "history known by",
        "version": "contract sentiment 1.0.0 -> sentiment 1.1.0",
        "edited": "(same version, edited contract)", "gone": "the live inputs lack source",
    }[attack]  # fmt: skip
    assert expected in found[0]
