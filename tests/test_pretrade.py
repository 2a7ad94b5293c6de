"""Pre-trade limit gate: breaches injected after the solver are blocked and recorded."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from governance.decisions.context import RunContext
from governance.decisions.pretrade import check_pretrade
from governance.ground.errors import GateHalt
from governance.ground.vocabulary import Action
from governance.policy.schema import Fallback, PretradeLimits
from tasks.data.market import to_panel
from tasks.data.synthetic import SyntheticSpec, generate_market, planted_characteristic
from tasks.portfolio.book import TRADE_COLUMNS, read_rebalance
from tasks.portfolio.config import Mandate, PortfolioConfig
from tasks.portfolio.optimiser.core import Account, Infeasible, MarketInputs, PortfolioOptimiser
from tasks.portfolio.rebalance import construct_portfolio, publish_fallback
from tasks.portfolio.risk import statistical_factor_model

LIMITS = PretradeLimits(
    max_weight=0.15, max_sector_weight=0.4, max_turnover=0.5, restricted=["A0003"]
)


@pytest.fixture(scope="module")
def market():
    long = generate_market(SyntheticSpec(n_assets=15, n_days=300, seed=3, n_sectors=3))
    return to_panel(long, "synthetic:test"), planted_characteristic(long)


@pytest.fixture(scope="module")
def solved(market):
    """A clean solve on the synthetic market: weights, previous weights, sectors."""
    panel, _ = market
    assets = panel.close.columns
    rets = panel.close.pct_change(fill_method=None).iloc[-120:]
    risk = statistical_factor_model(rets, 3)
    alpha = pd.Series(np.random.default_rng(0).normal(0, 5e-4, len(assets)), index=assets)
    cfg = PortfolioConfig(max_weight=0.15, max_sector_weight=0.4).within(LIMITS)
    prev = pd.Series(1 / len(assets), index=assets)
    sol = PortfolioOptimiser(assets, 3, cfg, panel.sectors).solve(
        Account(current=prev), MarketInputs(alpha, risk)
    )
    return sol.weights, prev, panel.sectors


def test_optimiser_output_passes(solved):
    w, prev, sectors = solved
    assert check_pretrade(w, prev, sectors, LIMITS) == []


@pytest.mark.parametrize(
    ("mutate", "check", "subject"),
    [
        (
            lambda w: _shift(w, "A0000", 0.2),
            "max_weight",
            "A0000",
        ),
        (lambda w: _set(w, "A0001", np.nan), "finite", "A0001"),
        (lambda w: _set(w, "A0002", -0.01), "min_weight", "A0002"),
        (lambda w: _set(w, "A0003", 0.1), "restricted", "A0003"),  # held 1/15: no increase,
        (lambda w: w * 1.02, "budget", ""),
    ],
)
def test_injected_breach_is_blocked(solved, mutate, check, subject):
    w, prev, sectors = solved
    breaches = check_pretrade(mutate(w.copy()), prev, sectors, LIMITS)
    assert any(b.check == check and b.subject == subject for b in breaches), breaches
    hit = next(b for b in breaches if b.check == check)
    assert check in str(hit) and "breaches limit" in str(hit)


def _set(w: pd.Series, asset: str, value: float) -> pd.Series:
    w[asset] = value
    return w


def _shift(w: pd.Series, asset: str, amount: float) -> pd.Series:
    """Move ``amount`` into ``asset`` from the others (budget kept)."""
    others = w.index != asset
    w[others] -= amount * w[others] / w[others].sum()
    w[asset] += amount
    return w


def test_sector_turnover_and_leverage_breaches(solved):
    _, prev, sectors = solved
    s0 = sectors[sectors == sectors.iloc[0]].index
    w = pd.Series(0.0, index=prev.index)
    w[s0] = 0.6 / len(s0)
    w[w.index.difference(s0)] = 0.4 / (len(w) - len(s0))
    found = {b.check: b for b in check_pretrade(w, prev, sectors, LIMITS)}
    assert found["sector"].subject == sectors.iloc[0]
    assert found["sector"].value == pytest.approx(0.6)
    ls = PretradeLimits(
        max_weight=1.0,
        min_weight=-1.0,
        budget=0.0,
        max_gross_leverage=1.0,
        max_turnover=10.0,
        max_sector_weight=10.0,
    )
    long_short = pd.Series([0.8, -0.8], index=["x", "y"])
    found = {b.check: b for b in check_pretrade(long_short, None, None, ls)}
    assert set(found) == {"leverage"} and found["leverage"].value == pytest.approx(1.6)
    wide = ls.model_copy(update={"max_gross_leverage": 2.0, "max_turnover": 1.0})
    held = pd.Series([0.1, -0.1], index=["x", "y"])
    assert [b.check for b in check_pretrade(long_short, held, None, wide)] == ["turnover"]


def test_all_zero_holdings_are_funding_from_cash_not_a_rebalance():
    """After a ``flat`` fallback the book is all zeros: the next portfolio is bought from
    cash, so the turnover cap does not apply (one rule with the optimiser's)."""
    limits = PretradeLimits(max_weight=1.0, max_turnover=0.5, max_sector_weight=1.0)
    target = pd.Series([0.6, 0.4], index=["x", "y"])
    flat = pd.Series([0.0, 0.0], index=["x", "y"])
    assert check_pretrade(target, flat, None, limits) == []
    assert check_pretrade(target, None, None, limits) == []
    half = pd.Series([0.0, 1.0], index=["x", "y"])
    assert [b.check for b in check_pretrade(target, half, None, limits)] == ["turnover"]


@pytest.fixture
def ctx(workspace):
    c = RunContext.open(workspace, actor="tester", role="system", flow_run_id="test-run")
    yield c
    c.close()


def _entries(ctx, action):
    return [e for e in ctx.ledger.entries(action=action)]


def test_construct_portfolio_records_artifacts_and_gate(ctx, market):
    panel, scores = market
    cfg = PortfolioConfig(max_weight=0.3, max_sector_weight=0.5)
    current = pd.Series(1 / 15, index=panel.close.columns)
    result = construct_portfolio(ctx, scores.iloc[-1], panel, current, Mandate.of(cfg, LIMITS))
    assert result.source == "model"
    assert list(result.trades.columns) == TRADE_COLUMNS
    assert check_pretrade(result.weights, current, panel.sectors, LIMITS) == []  # tightened
    assert result.weights["A0003"] == pytest.approx(0.0, abs=1e-6)  # policy's restricted list
    for name in ("weights.csv", "weights.json", "trades.csv", "trades.json", "solver.json"):
        assert ctx.store.verify(result.artifacts[name])
    stored = read_rebalance(ctx.store, result.artifacts)  # the one reader
    assert stored.weights.to_dict() == pytest.approx(result.weights.to_dict(), abs=1e-12)
    assert stored.stats["status"] == "optimal" and stored.stats["iterations"] > 0
    changes = result.trades["change"].abs()
    assert (changes[changes > 0] >= 1e-4).all()  # no dust trade (min_trade_weight)
    opt_entry, gate_entry = (
        _entries(ctx, Action.PORTFOLIO_OPTIMISED)[-1],
        _entries(ctx, Action.GATE_PRETRADE)[-1],
    )
    # the solver that solved (cfg.solver: QOCO on the impact cones when installed) and,
    # when CLARABEL solved instead, why: recorded in the ledger and the artifact alike
    stats = opt_entry.payload["stats"]
    assert stats["solver"] in ("QOCO", "CLARABEL") and stats["solver"] == stored.stats["solver"]
    assert (stats["fallback"] is None) == (stats["solver"] == "QOCO")
    assert gate_entry.payload["decision"] == "pass"
    assert ctx.ledger.verify().ok


def test_infeasible_solve_is_recorded_then_raised(ctx, market):
    panel, scores = market
    cfg = PortfolioConfig(max_weight=0.3, max_sector_weight=0.3)  # 3 sectors x 0.3 < 1
    with pytest.raises(Infeasible, match="sector caps") as info:
        construct_portfolio(ctx, scores.iloc[-1], panel, None, Mandate.of(cfg, LIMITS))
    assert info.value.exit_code == 3
    # one account is the list of one (tasks/portfolio/rebalance.py): its entry has the
    # per-account schema, the diagnosis in ``stats``, and the account holds
    entry = _entries(ctx, Action.PORTFOLIO_OPTIMISED)[-1]
    assert entry.subject.endswith(":main") and entry.payload["source"] == "hold"
    assert entry.payload["stats"]["status"] == "infeasible"
    assert set(entry.payload["stats"]["conflicting_groups"]) == {"sector caps", "budget"}


def test_breaching_fallback_is_blocked_and_recorded(ctx, market):
    panel, _ = market
    tight = LIMITS.model_copy(update={"max_weight": 0.05})  # equal weight is 1/15 > 0.05
    with pytest.raises(GateHalt) as info:
        publish_fallback(
            ctx,
            Fallback.BENCHMARK,
            panel,
            None,
            Mandate.of(PortfolioConfig(), tight),
            reason="no champion",
        )
    assert info.value.gate == "pretrade"
    gate = _entries(ctx, Action.GATE_PRETRADE)[-1]
    assert gate.payload["decision"] == "halt"
    checks = [d["check"] for d in gate.payload["evidence"]["breach_details"]]
    assert checks.count("max_weight") == 15 and checks.count("restricted") == 1
    fallback = _entries(ctx, Action.PORTFOLIO_OPTIMISED)[-1]  # refused: the account holds
    assert fallback.subject.endswith(":fallback:main") and fallback.payload["source"] == "hold"
    assert fallback.payload["stats"]["reason"] == "no champion"


def test_flat_fallback_then_model_rebalance_publishes_the_model_portfolio(ctx, market):
    """After a ``flat`` fallback the strategy's book is all cash; the next model rebalance
    starts from that book (read back through the one reader) and is funded from cash: no
    turnover breach, no halt, the model portfolio is published."""
    from tasks.portfolio.book import MAIN, current_holdings, publish

    panel, scores = market
    cfg = PortfolioConfig(max_weight=0.3, max_sector_weight=0.5)
    flat = publish_fallback(
        ctx, Fallback.FLAT, panel, None, Mandate.of(cfg, LIMITS), reason="drill"
    )
    publish(ctx, flat, "flat-then-model", {"model_version": None})
    held = current_holdings(ctx.ledger, ctx.store, "flat-then-model")[MAIN]
    assert held.abs().sum() == 0.0 and len(held) == panel.close.shape[1]
    result = construct_portfolio(ctx, scores.iloc[-1], panel, held, Mandate.of(cfg, LIMITS))
    assert result.source == "model" and result.weights.sum() == pytest.approx(1.0, abs=1e-6)
    assert (result.trades["change"].abs().sum()) > LIMITS.max_turnover  # bought from cash
    assert _entries(ctx, Action.GATE_PRETRADE)[-1].payload["decision"] == "pass"
    publish(dataclasses.replace(ctx, run_key="next-run"), result, "flat-then-model", {})
    again = current_holdings(ctx.ledger, ctx.store, "flat-then-model")[MAIN]
    assert again.to_dict() == pytest.approx(result.weights.to_dict(), abs=1e-12)
    assert current_holdings(ctx.ledger, ctx.store, "another-strategy") == {}


def test_going_to_cash_is_never_blocked_by_budget_or_turnover():
    """The ``flat`` fallback sells everything: budget and turnover may not block it, but
    any other breach still does (a NaN weight is not cash)."""
    limits = PretradeLimits(max_weight=1.0, max_turnover=0.5, max_sector_weight=1.0)
    held = pd.Series([0.6, 0.4], index=["x", "y"])
    assert check_pretrade(pd.Series([0.0, 0.0], index=["x", "y"]), held, None, limits) == []
    found = check_pretrade(pd.Series([0.0, np.nan], index=["x", "y"]), held, None, limits)
    assert {b.check for b in found} == {"finite", "budget", "turnover"}


def test_fallback_trades_are_costed_like_the_model_portfolio(ctx):
    """With volume known, the fallback's trade list carries the 3/2-power impact term too:
    every estimated cost is the optimiser's cost model of that trade."""
    from tasks.portfolio.costs import asset_costs
    from tasks.portfolio.market import MarketHistory

    long = generate_market(
        SyntheticSpec(n_assets=12, n_days=300, seed=8, n_sectors=3, with_volume=True)
    )
    panel = to_panel(long, "synthetic:volume")
    cfg = PortfolioConfig(max_weight=0.3, max_sector_weight=0.5, max_turnover=2.0)
    held = pd.Series(0.0, index=panel.close.columns)
    held.iloc[:4] = 0.25
    loose = LIMITS.model_copy(update={"max_turnover": 2.0, "restricted": []})
    out = publish_fallback(
        ctx, Fallback.BENCHMARK, panel, held, Mandate.of(cfg, loose), reason="drill"
    )
    history = MarketHistory(panel, cfg.within(loose))
    impact = history.impact(len(history.index) - 1)
    assert impact is not None and (impact > 0).all()
    t = out.trades.set_index("asset")
    expected = asset_costs(t["change"].to_numpy(), 5e-4, impact.reindex(t.index).to_numpy())
    np.testing.assert_allclose(t["estimated_cost"].to_numpy(), expected, rtol=1e-12)
    assert (t["estimated_cost"] > 5e-4 * t["change"].abs()).any()  # the impact term is there


def test_benchmark_fallback_from_a_concentrated_book_glides_within_the_turnover_cap(ctx, market):
    """A model book of four names, 0.25 each (turnover to equal weight: 1.47 > 0.5). The
    fallback moves ``theta = 0.5 / 1.47`` of the way, passes the gate and is published; fed
    back as the next book, it reaches the benchmark on the third step (1.47 / 0.5 < 3)."""
    panel, _ = market
    cfg = PortfolioConfig(max_weight=0.3, max_sector_weight=0.6)
    limits = LIMITS.model_copy(
        update={"restricted": [], "max_weight": 0.3, "max_sector_weight": 0.6}
    )
    assets = panel.close.columns
    held = pd.Series(0.0, index=assets)
    held[[assets[0], assets[5], assets[10], assets[14]]] = 0.25  # one per sector or two
    bench = pd.Series(1 / len(assets), index=assets)
    start = float((bench - held).abs().sum())
    steps, current = [], held
    for k in range(3):
        out = publish_fallback(
            dataclasses.replace(ctx, run_key=f"glide-{k}"),
            Fallback.BENCHMARK, panel, current, Mandate.of(cfg, limits), reason="drill",
        )  # fmt: skip
        w = out.weights.reindex(assets).fillna(0.0)
        turnover = float((w - current).abs().sum())
        assert turnover <= limits.max_turnover + 1e-12
        assert w.sum() == pytest.approx(1.0, abs=1e-12) and (w >= -1e-15).all()
        steps.append(out.stats["glide"])
        if k == 0:  # on the segment from the book to the benchmark
            on_segment = held + steps[0] * (bench - held)
            assert w.to_dict() == pytest.approx(on_segment.to_dict(), abs=1e-12)
        assert _entries(ctx, Action.GATE_PRETRADE)[-1].payload["decision"] == "pass"
        current = w
    assert steps[0] == pytest.approx(0.5 / start, rel=1e-12)
    assert (
        steps[1] < 1.0
        and steps[-1] == 1.0
        and current.to_dict() == pytest.approx(bench.to_dict(), abs=1e-12)
    )


def test_the_mandate_is_the_config_tightened_to_the_limits_once():
    """``Mandate.of``: the config within the tier's limits, carried with the limits as one
    value; tightening is a fixed point, so a stage that carries it cannot drift from what
    the gate checks (the gate reads ``mandate.limits``, the optimiser ``mandate.cfg``)."""
    cfg = PortfolioConfig(max_weight=0.3, max_sector_weight=0.5, restricted=["A01"])
    mandate = Mandate.of(cfg, LIMITS)
    assert mandate.limits is LIMITS and mandate.cfg == cfg.within(LIMITS)
    assert mandate.cfg.max_weight == min(0.3, LIMITS.max_weight)
    assert set(mandate.cfg.restricted) == {"A01", *LIMITS.restricted}
    assert mandate.cfg.within(LIMITS) == mandate.cfg
    with pytest.raises(dataclasses.FrozenInstanceError):
        mandate.limits = PretradeLimits()  # type: ignore[misc]
