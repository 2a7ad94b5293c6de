"""One account is the list of one (issue 21, item 6): one path, one breach rule.

On a small synthetic market (fixed seed) and a real RunContext:

- the config without accounts and the config whose accounts list is the one account
  ``main`` give the same weights (1e-9; in fact bit for bit: same solver path) and the same
  ledger actions and subjects (``portfolio:<asof>:main``);
- the breach rule of tasks/portfolio/rebalance.py, for the pre-trade gate and the stress
  gate, N = 1 and N = 3: an account refused holds what it has while the others trade; when
  every account is refused the book is (``GateHalt`` of that gate: for one account, the
  reasons as its gate gave them, for many each account named).

The rebalance's use of the rule (the automatic trip, the fallback published) is driven
through ``alphagate rebalance`` in tests/test_overlays.py, tests/test_stress_gate.py and
tests/test_governed_rebalance.py.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from governance.decisions.context import RunContext
from governance.ground.errors import GateHalt
from governance.ground.vocabulary import Action
from governance.policy.schema import PretradeLimits, StressLimits
from tasks.data.market import to_panel
from tasks.data.synthetic import SyntheticSpec, generate_market, planted_characteristic
from tasks.portfolio.config import AccountConfig, Mandate, PortfolioConfig
from tasks.portfolio.optimiser.core import Account
from tasks.portfolio.rebalance import accounts_of, rebalance_accounts
from tasks.risk.config import RiskConfig, StressConfig
from tasks.risk.gate import stress_accounts

CFG = PortfolioConfig(max_weight=0.3, max_sector_weight=0.6, max_turnover=None)
LIMITS = PretradeLimits(max_weight=0.3, max_sector_weight=0.6)
#: One hypothetical scenario, every asset down 30 %: a fully invested long-only book loses
#: 0.3 exactly (up to round-off), one that holds 0.5 of a single name loses 0.15.
CRASH = StressConfig(historical=[], hypothetical=[{"name": "crash", "market": -0.3}])


@pytest.fixture(scope="module")
def market():
    long = generate_market(SyntheticSpec(n_assets=15, n_days=300, seed=3, n_sectors=3))
    return to_panel(long, "synthetic:accounts"), planted_characteristic(long).iloc[-1]


@pytest.fixture
def ctx(tmp_path):
    from governance.ground.workspace import Workspace

    workspace = Workspace(tmp_path / "home")
    workspace.ensure()
    c = RunContext.open(workspace, actor="tester", role="system", flow_run_id="accounts")
    yield c
    c.close()


def _entries(ctx, since: int = 0) -> list[tuple[str, str]]:
    return [(e.action, e.subject) for e in ctx.ledger.entries() if e.seq > since]


def test_one_account_and_a_list_of_one_are_the_same_rebalance(ctx, market, tmp_path):
    panel, scores = market
    mandate = Mandate.of(CFG, LIMITS)
    listed = CFG.model_copy(update={"accounts": [AccountConfig(name="main")]})
    assert accounts_of(CFG, {}) == accounts_of(listed, {})
    one = rebalance_accounts(ctx, scores, panel, accounts_of(CFG, {}), mandate)
    first = _entries(ctx)
    other = dataclasses.replace(ctx, run_key="list-of-one")
    seq = ctx.ledger.head()[0]
    two = rebalance_accounts(other, scores, panel, accounts_of(listed, {}), mandate)
    assert not one.many and not two.many  # the single-account files, a view of the list
    pd.testing.assert_series_equal(one.weights, two.weights, check_exact=False, atol=1e-9)
    assert _entries(ctx, seq) == first
    day = one.asof
    assert first == [
        (Action.GATE_PRETRADE, f"portfolio:{day}:main"),
        (Action.PORTFOLIO_OPTIMISED, f"portfolio:{day}:main"),
    ]


def _bounded(name: str) -> Account:
    """An account whose own bound on A0004 (at least 0.5) is above the tier's 0.3 cap: the
    optimiser honours the account's bound, the independent pre-trade gate refuses it."""
    lower = pd.Series({"A0004": 0.5})
    return Account(name, lower=lower, upper=pd.Series({"A0004": 0.6}))


def test_pretrade_breach_one_account(ctx, market):
    panel, scores = market
    with pytest.raises(GateHalt) as info:
        rebalance_accounts(ctx, scores, panel, [_bounded("main")], Mandate.of(CFG, LIMITS))
    assert info.value.gate == "pretrade"
    assert info.value.reasons and all(r.startswith("max_weight A0004") for r in info.value.reasons)
    gate = ctx.ledger.last(action=Action.GATE_PRETRADE)
    assert gate.subject.endswith(":main") and gate.payload["decision"] == "halt"
    assert ctx.ledger.last(action=Action.PORTFOLIO_OPTIMISED).payload["source"] == "hold"


def test_pretrade_breach_one_of_three_holds_all_three_halt(ctx, market):
    panel, scores = market
    mandate = Mandate.of(CFG, LIMITS)
    three = [Account("a"), Account("b"), _bounded("c")]
    result = rebalance_accounts(ctx, scores, panel, three, mandate)
    assert [a.source for a in result.accounts] == ["model", "model", "hold"]
    c = result.accounts[2]  # it held nothing: it keeps nothing
    assert c.weights.empty and c.reasons[0].startswith("pretrade: max_weight A0004")
    for a in result.accounts[:2]:
        assert a.weights.sum() == pytest.approx(1.0, abs=1e-6) and a.weights.max() <= 0.3 + 1e-6

    every = [_bounded(n) for n in ("a", "b", "c")]
    with pytest.raises(GateHalt) as info:
        rebalance_accounts(dataclasses.replace(ctx, run_key="all"), scores, panel, every, mandate)
    assert info.value.gate == "pretrade"
    named = {r.split(":")[0] for r in info.value.reasons}
    assert named == {"account a", "account b", "account c"}


def _book(ctx, panel, **accounts: float):
    """A stored model book (the production writer): each account ``name=invested`` holds
    ``invested`` spread equally over the market, the rest in cash."""
    from tasks.portfolio.book import AccountBook, PortfolioResult, trade_list, write_rebalance

    assets = panel.close.columns
    books = []
    for name, invested in accounts.items():
        w = pd.Series(invested / len(assets), index=assets)
        books.append(AccountBook(name, w, trade_list(None, w, 0.0), "model"))
    day = str(panel.close.index[-1].date())
    return write_rebalance(ctx.store, PortfolioResult(day, "model", tuple(books)))


def _stressed(ctx, result, panel, limit: float):
    accounts = [Account(a.account) for a in result.accounts]
    return stress_accounts(
        ctx, panel, result, CFG, RiskConfig(), CRASH, StressLimits(max_scenario_loss=limit),
        accounts,
    )  # fmt: skip


def _gates(ctx, n: int) -> list[tuple[str, str]]:
    entries = ctx.ledger.entries(action=Action.GATE_STRESS)[-n:]
    return [(e.subject.rsplit(":", 1)[1], e.payload["decision"]) for e in entries]


def test_stress_breach_one_account_one_of_three_and_all_three(ctx, market):
    """Under ``crash`` (every asset -30 %) an account invested ``x`` loses ``0.3 x``; the
    0.2 limit refuses a fully invested account and lets one half in cash (0.15) trade."""
    panel, _ = market
    done = _stressed(ctx, _book(ctx, panel, main=1.0), panel, 0.2)
    assert done.halt is not None and done.halt.gate == "stress"
    assert [r.split(":")[0] for r in done.halt.reasons] == ["stress crash"]
    assert done.result.refused and done.result.accounts[0].weights.empty  # held nothing
    assert done.table.loc["main", "crash"] == pytest.approx(0.3, abs=1e-12)
    assert _gates(ctx, 1) == [("main", "halt")]

    run = dataclasses.replace(ctx, run_key="one-of-three")
    done = _stressed(run, _book(run, panel, a=1.0, b=0.5, c=0.5), panel, 0.2)
    assert done.halt is None and set(done.breached) == {"a"}
    assert [a.source for a in done.result.accounts] == ["hold", "model", "model"]
    assert done.table.loc["b", "crash"] == pytest.approx(0.15, abs=1e-12)
    assert _gates(run, 3) == [("a", "halt"), ("b", "pass"), ("c", "pass")]

    run = dataclasses.replace(ctx, run_key="all-three")
    done = _stressed(run, _book(run, panel, a=1.0, b=1.0, c=0.9), panel, 0.2)
    assert done.halt is not None and done.halt.gate == "stress"
    assert {r.split(":")[0] for r in done.halt.reasons} == {"account a", "account b", "account c"}
    assert _gates(run, 3) == [("a", "halt"), ("b", "halt"), ("c", "halt")]
