"""The paper record (tasks/portfolio/paper_record.py) and the whole graduation gate
(validation/graduation.py) on planted markets, written through the production writers.
"""

from __future__ import annotations

import math
from contextlib import closing

import pytest

from governance.ground.errors import TamperDetected
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action, Subject
from tests.helpers_paper import market, write_paper_days, write_promise

MIN_DAYS = 63


def _graduation(ws, name, version="1"):
    from governance.ground.artifacts import ArtifactStore
    from governance.log.ledger import Ledger
    from tasks.portfolio.backtest import read_promise
    from tasks.portfolio.paper_record import read_record
    from validation.graduation import graduate

    with Ledger.open(ws) as ledger:
        store = ArtifactStore.of(ws)
        record = read_record(ledger, store, ModelRef.parse(name, version), 0)
        bt = ledger.last(action=Action.BACKTEST_COMPLETED, subject=Subject.model(name, version))
        ic, net = read_promise(store, bt.payload["artifacts"])
    return record, graduate(record.marks, ic, net, z_level=1.645, max_tracking_error=0.10,
                            max_cost_ratio=1.5)  # fmt: skip


def _write(ws, name, seed, flip, days=MIN_DAYS):
    from governance.decisions.context import RunContext
    from governance.identity.users import SYSTEM_ACTOR

    close, scores = market(seed, flip)
    with closing(RunContext.open(ws, actor=SYSTEM_ACTOR, run_key=f"bt-{name}")) as ctx:
        write_promise(ctx, name, "1", close, scores)
    write_paper_days(ws, name, "1", close, scores, 0, days)


@pytest.mark.parametrize(
    "seed", [0, pytest.param(1, marks=pytest.mark.slow), pytest.param(2, marks=pytest.mark.slow)]
)
def test_a_flip_at_paper_start_fails_graduation_and_the_kept_signal_passes(workspace, seed):
    """Power of the rank-IC test, derived as in tests/test_graduation.py: the holdout's
    one-day rank IC is ``δ`` ≥ 0.38 of its sd (asserted on the recorded promise); a flip
    makes the paper mean about ``-δ``, ``E[z] = -2δ / sqrt(1/63 + 1/199)`` ≤ -5.2, and the
    test fails unless the noise lifts z by 3.6 sd: power > 0.9998 per market. The kept
    signal passes each one-sided test with probability 95 % (its level) and the tracking
    error and cost checks by construction of the book (next-close fills of a top-quintile
    book whose daily turnover is small); checked on these fixed seeds.
    """
    record, flipped = _graduation_ws(workspace, f"flip{seed}", seed, True)
    ic = flipped.figures["rank_ic"]
    assert ic["n_paper"] == MIN_DAYS and len(record.marks) == MIN_DAYS
    assert not flipped.passed and ic["z"] < -5.2 + 3.6
    assert any(f.startswith("graduation: paper rank IC") for f in flipped.findings)
    _, kept = _graduation_ws(workspace, f"kept{seed}", seed, False)
    assert kept.passed and kept.findings == (), kept.findings
    assert kept.figures["tracking_error"] <= 0.10
    assert 0.5 < kept.figures["cost"]["ratio"] < 1.5


def _graduation_ws(ws, name, seed, flip):
    _write(ws, name, seed, flip)
    record, outcome = _graduation(ws, name)
    from governance.ground.artifacts import ArtifactStore
    from governance.log.ledger import Ledger
    from tasks.portfolio.backtest import read_promise

    with Ledger.open(ws) as ledger:
        bt = ledger.last(action=Action.BACKTEST_COMPLETED, subject=Subject.model(name, "1"))
        holdout_ic, _ = read_promise(ArtifactStore.of(ws), bt.payload["artifacts"])
    delta = holdout_ic.mean() / holdout_ic.std(ddof=1)
    assert delta >= 0.38 and math.isfinite(outcome.figures["rank_ic"]["se"])
    return record, outcome


def test_a_forged_paper_record_is_refused(workspace):
    """Each forgery of an honest record ends in ``TamperDetected`` naming the entry."""
    from governance.ground.artifacts import ArtifactStore
    from governance.identity.users import SYSTEM_ACTOR
    from governance.log.ledger import Ledger
    from tasks.portfolio.paper_record import read_record

    _write(workspace, "forged", 0, False, days=5)
    store = ArtifactStore.of(workspace)
    with Ledger.open(workspace) as ledger:
        assert len(read_record(ledger, store, ModelRef("forged", 1), 0).marks) == 5
        marks = ledger.entries(action=Action.PAPER_MARKED, subject=Subject.model("forged", "1"))
        # 1. a mark appended without its inputs (as the process would record it)
        fake = ledger.append(Action.PAPER_MARKED, actor=SYSTEM_ACTOR,
                             subject=Subject.model("forged", "1"),
                             payload={"as_of": "2099-01-01", "net_return": 0.01})  # fmt: skip
        with pytest.raises(TamperDetected, match=f"mark seq {fake.seq}"):
            read_record(ledger, store, ModelRef("forged", 1), 0)
        # 2. the same mark's payload with a better figure, its inputs re-used
        better = {**marks[-1].payload, "net_return": marks[-1].payload["net_return"] + 0.01}
        better.pop("artifacts")
        edited = ledger.append(Action.PAPER_MARKED, actor=SYSTEM_ACTOR, subject=marks[-1].subject,
                               payload=better, artifacts=marks[-1].payload["artifacts"])  # fmt: skip
        with pytest.raises(TamperDetected, match=f"mark seq {fake.seq}"):
            read_record(ledger, store, ModelRef("forged", 1), 0)
        with pytest.raises(TamperDetected, match=f"seq {edited.seq}"):
            read_record(ledger, store, ModelRef("forged", 1), fake.seq)
    # 3. a rewritten input: the returns of the second mark edited in the store
    sha = marks[1].payload["artifacts"]["paper/returns.json"]
    path = store.path(sha)
    path.chmod(0o644)
    path.write_text(path.read_text().replace("[", "[0.5,", 2).replace("[0.5,", "[", 1))
    with Ledger.open(workspace) as ledger, pytest.raises(TamperDetected, match=sha):
        read_record(ledger, store, ModelRef("forged", 1), 0)


def test_cross_section_ic_is_ic_by_date():
    """The paper mark's one-date rank IC (tasks.model.stats.cross_section_ic) is the panel
    statistic's value on that date: ties, NaNs, a short and a constant cross-section."""
    import numpy as np

    from tasks.model.stats import MIN_CROSS_SECTION, cross_section_ic, ic_by_date

    rng = np.random.default_rng(7)
    for n in (3, MIN_CROSS_SECTION, 40, 400):
        x = np.round(rng.normal(size=n), 1)  # ties
        y = rng.normal(size=n)
        x[rng.random(n) < 0.1] = np.nan
        for rank in (True, False):
            want = ic_by_date(np.zeros(n), x, y, rank=rank)
            got = cross_section_ic(x, y, rank=rank)
            if want.empty:
                assert got is None
            else:
                assert abs(got - float(want.iloc[0])) < 1e-12
    assert cross_section_ic(np.ones(10), rng.normal(size=10)) is None
