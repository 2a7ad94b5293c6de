"""Live challengers (issue 24 item 4): realised outcomes of shadow scorings, side by side.

A planted market (100 assets, IC 0.10 at 21 days, seed 5) is rebalanced every 21 days from
day 300, twenty times. The champion scores with the planted characteristic; its challengers
are the previous champion (seeded noise), a version in paper that bets the other way (the
champion negated) and 12-1 momentum computed from prices by the production feature. The
outcomes are realised by the monitor's own functions once the horizon has passed.

Tolerances. One rebalance's rank IC over 100 assets has a standard deviation of about
``1/sqrt(100) = 0.10`` around the planted 0.10; the champion's mean over ``n`` rebalances is
held to the planted IC within three of its measured standard errors ``sd/sqrt(n)``. The
negated challenger's IC is exactly minus the champion's on every rebalance, so its paired
margin is exactly twice the champion's mean. When the champion is the noise and the
planted signal challenges it, the paired difference has sd about ``sqrt(2) x 0.10`` and a
true margin of -0.10: over 20 rebalances its t-statistic is about -3.2, so the one-sided
1.645 test warns with power about 0.94 (pinned here on the fixed seed).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tasks.data.market import to_panel
from tasks.data.synthetic import SyntheticSpec, generate_market, planted_characteristic
from tasks.model.features import FEATURES_BY_NAME
from validation.challengers_live import CHAMPION, check_challengers, realised_outcomes
from validation.monitoring_checks import Check, Status
from validation.monitoring_series import series_point

DAYS = list(range(300, 300 + 21 * 20, 21))
Z = 1.645  # the monitoring policy's ic_z


@pytest.fixture(scope="module")
def market():
    long = generate_market(SyntheticSpec(n_assets=100, n_days=800, ic=0.10, seed=5))
    panel = to_panel(long)
    planted = planted_characteristic(long)
    momentum = FEATURES_BY_NAME["mom_12_1"].fn(panel)
    return panel, planted, momentum


def _shadow(panel, planted, momentum, *, swap: bool = False):
    rng = np.random.default_rng(7)
    out = []
    for d in DAYS:
        day = panel.close.index[d]
        signal = planted.loc[day].reindex(panel.close.columns).to_numpy()
        noise = rng.standard_normal(len(signal))
        champion, previous = (noise, signal) if swap else (signal, noise)
        out.append((day, pd.DataFrame({
            "asset": panel.close.columns.astype(str), CHAMPION: champion,
            "previous_v1": previous, "paper_v2": -champion,
            "momentum_12_1": momentum.loc[day].to_numpy(),
        })))  # fmt: skip
    return out


def test_outcomes_side_by_side_with_the_champion(market):
    panel, planted, momentum = market
    shadow = _shadow(panel, planted, momentum)
    as_of = panel.close.index[DAYS[-1] + 10]  # the last rebalance's horizon has not passed
    outcomes = realised_outcomes(shadow, panel.close, 21, as_of)
    assert sorted(outcomes["date"].unique()) == [panel.close.index[d] for d in DAYS[:-1]]
    champ = outcomes.loc[outcomes["signal"] == CHAMPION, "rank_ic"]
    n = len(champ)
    assert n == 19 and abs(champ.mean() - 0.10) < 3 * champ.std(ddof=1) / math.sqrt(n)

    c = check_challengers(outcomes, Z)
    assert c.check is Check.CHALLENGERS and c.status is Status.OK
    rows = c.data["signals"]
    assert set(rows) == {CHAMPION, "previous_v1", "paper_v2", "momentum_12_1"}
    assert rows[CHAMPION]["margin"] is None and rows[CHAMPION]["rebalances"] == 19
    assert rows["paper_v2"]["margin"] == pytest.approx(2 * rows[CHAMPION]["rank_ic"])
    assert rows["paper_v2"]["rank_ic"] == pytest.approx(-rows[CHAMPION]["rank_ic"])
    assert rows[CHAMPION]["long_short"] > rows["paper_v2"]["long_short"]
    point = series_point([c])
    assert point["challenger.paper_v2.margin"] == pytest.approx(rows["paper_v2"]["margin"])
    assert point["challenger.champion.rank_ic"] == pytest.approx(rows[CHAMPION]["rank_ic"])


def test_a_challenger_significantly_ahead_is_a_warning(market):
    panel, planted, momentum = market
    shadow = _shadow(panel, planted, momentum, swap=True)
    outcomes = realised_outcomes(shadow, panel.close, 21, panel.close.index[-1])
    c = check_challengers(outcomes, Z)
    assert c.status is Status.WARNING
    assert "previous_v1 ahead of the champion" in c.detail
    row = c.data["signals"]["previous_v1"]
    assert row["margin"] / row["margin_se"] < -Z
    # too few realised rebalances: no verdict either way
    few = realised_outcomes(shadow[:5], panel.close, 21, panel.close.index[-1])
    assert check_challengers(few, Z).status is Status.OK
    assert check_challengers(few.iloc[:0], Z).status is Status.NOT_EVALUATED


def test_the_challengers_in_use_are_the_previous_champion_and_the_versions_in_paper(workspace):
    """From the ledger alone (governance/decisions/challengers.py): v1 then v2 promoted, v3
    and v4 entered paper, v4 then promoted: v4 is the champion, v2 the previous champion,
    v3 in paper (v4 left paper by its promotion)."""
    from governance.decisions.challengers import PAPER, PREVIOUS, shadow_versions
    from governance.ground.vocabulary import Action, Subject
    from governance.log.ledger import Ledger

    def record(ledger, action, version):
        ledger.append(action, actor="alphagate", role="system",
                      subject=Subject.model("s", version),
                      payload={"model_name": "s", "model_version": str(version)})  # fmt: skip

    with Ledger.open(workspace) as ledger:
        assert shadow_versions(ledger, "s") == []
        record(ledger, Action.MODEL_PROMOTED, 1)
        assert shadow_versions(ledger, "s") == []  # the champion challenges nobody
        record(ledger, Action.MODEL_PROMOTED, 2)
        record(ledger, Action.MODEL_PAPER, 3)
        record(ledger, Action.MODEL_PAPER, 4)
        assert shadow_versions(ledger, "s") == [(PREVIOUS, 1), (PAPER, 3), (PAPER, 4)]
        record(ledger, Action.MODEL_PROMOTED, 4)
        assert shadow_versions(ledger, "s") == [(PREVIOUS, 2), (PAPER, 3)]
        assert shadow_versions(ledger, "other") == []
