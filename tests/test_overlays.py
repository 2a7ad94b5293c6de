"""Overlays and restrictions of use through a full ``alphagate rebalance --json`` (issue 27),
on one account and on many; one account as the list of one (issue 21).

The champion of tests/test_rebalance_attacks.py (its module fixture, restored before each
step: a first rebalance funds from cash, so no turnover cap stands between the model's book
and the overlays'):

- overlays (a name excluded, the single-name cap tightened, the alphas halved) change the
  book exactly as recorded: the excluded name is held at zero, no weight is above the cap,
  the book the model alone would have made (recorded beside it, never published) is the
  book an untouched workspace publishes, bit for bit, and the recorded impact is the
  distance between the two; the publication names the overlays;
- on the day after their ``until`` the same overlays are not applied: the book is the
  model's own again;
- a restriction of use trips on a crafted market state (a volatility bar just under the
  day's 1-month realised market volatility, computed here independently) and on a book
  value above its bar: exit 3, the fallback published, ``gate.restriction`` recorded;
  a bar above the day's state lets the model drive.
- a simulated solver upgrade in the rebalance's environment raises ``dependency_changed``
  on the champion (issue 27's acceptance item; governance/decisions/dependencies.py);
- one account and the accounts list of the one account ``main`` publish the same book with
  the same ledger actions and subjects; on three accounts the overlays change every
  account's book exactly as recorded (each account's unadjusted book is its own book) and
  expire on their date, and a restriction on the book's value (three accounts' worth)
  falls back; three accounts all refused trip the switch and fall back, as one does.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd

from governance.ground.vocabulary import Action, Subject
from governance.log.ledger import Ledger
from tests.helpers_e2e import cli_out
from tests.helpers_rebalance import STRATEGY, publications, rebalance, restore

TODAY = dt.datetime.now(dt.UTC).date()


def _sign(capsys, cfg, *rule, user="rita", until=None):
    until = until or (TODAY + dt.timedelta(days=3)).isoformat()
    code, out, err = cli_out(capsys, "overlay", *rule, "--reason", "desk review", "--until",
                             until, "--config", cfg, "--as", user, "--json")  # fmt: skip
    assert code == 0, err
    return out["entry_seq"]


def _weights(ws, sha: str) -> pd.Series:
    with Ledger.open(ws) as ledger:
        doc = ledger.store.read_json(sha)
    (account,) = doc["accounts"]
    return pd.Series(account["weights"], dtype=float).sort_index()


def _published(ws) -> tuple[dict, pd.Series]:
    last = publications(ws)[-1]
    return last.payload, _weights(ws, last.payload["artifacts"]["weights.json"])


def _fresh(snapshots, monkeypatch):
    from governance.ground.workspace import Workspace

    live = restore(snapshots, "champion", monkeypatch)
    return Workspace(live / "home"), str(live / "run.yaml")


def test_overlays_change_the_book_exactly_as_recorded_and_expire(snapshots, monkeypatch, capsys):
    # The model alone, in an untouched workspace.
    ws, cfg = _fresh(snapshots, monkeypatch)
    code, reb, err = rebalance(capsys, cfg)
    assert (code, reb["portfolio"]["source"]) == (0, "model"), err
    _, own = _published(ws)
    top = own.idxmax()
    cap = round(float(own.max()) * 0.6, 4)  # binding: the model's largest weight is above
    assert own[top] > cap and (own > 0).sum() * cap > 1  # ... and a capped book is feasible

    ws, cfg = _fresh(snapshots, monkeypatch)
    seqs = [
        _sign(capsys, cfg, "add", "--exclude", top),
        _sign(capsys, cfg, "add", "--cap", str(cap)),
        _sign(capsys, cfg, "add", "--scale", "0.5", user="omar"),
    ]
    code, reb, err = rebalance(capsys, cfg)
    assert (code, reb["portfolio"]["source"]) == (0, "model"), err
    payload, book = _published(ws)
    assert [o["seq"] for o in payload["overlays"]] == seqs
    tol = 1e-6  # the pre-trade gate's tolerance: interior-point round-off is ~1e-8
    assert book.get(top, 0.0) <= tol and book.max() <= cap + tol
    with Ledger.open(ws) as ledger:
        (applied,) = ledger.entries(action=Action.OVERLAY_APPLIED, subject=Subject.book(STRATEGY))
    p = applied.payload
    assert p["artifacts"]["weights.json"] == payload["artifacts"]["weights.json"]
    plain = _weights(ws, p["artifacts"]["unadjusted.json"])
    # the unadjusted book is the model's own book, bit for bit (same inputs, same solver)
    pd.testing.assert_series_equal(plain, own, check_exact=True, check_names=False)
    both = pd.concat([book, plain], axis=1).fillna(0.0)
    assert p["impact"]["l1"] == float((both.iloc[:, 0] - both.iloc[:, 1]).abs().sum())
    assert p["impact"]["changes"][top] == -float(own[top]) + float(book.get(top, 0.0))
    assert math.isclose(p["information_coefficient"], 0.05 * 0.5)  # the config's IC, halved

    # The day after --until: the same signed overlays are not applied.
    ws, cfg = _fresh(snapshots, monkeypatch)
    for rule in (("--exclude", top), ("--cap", str(cap))):
        _sign(capsys, cfg, "add", *rule, until=TODAY.isoformat())
    monkeypatch.setattr("governance.decisions.overlays.today", lambda: TODAY + dt.timedelta(1))
    code, reb, err = rebalance(capsys, cfg)
    assert (code, reb["portfolio"]["source"]) == (0, "model"), err
    payload, book = _published(ws)
    assert payload["overlays"] == []
    pd.testing.assert_series_equal(book, own, check_exact=True, check_names=False)
    with Ledger.open(ws) as ledger:
        assert ledger.entries(action=Action.OVERLAY_APPLIED) == []


def _market_vol(cfg: str) -> float:
    """The 1-month realised volatility of the equal-weighted market on the rebalance's
    data, computed here from the production loader's panel."""
    from flows.config import load_config
    from tasks.data.market import load_long, to_panel

    config = load_config(cfg)
    close = to_panel(load_long(config.data, config.base_dir)).close
    daily = (close / close.shift(1) - 1).mean(axis=1).dropna().to_numpy()[-21:]
    return float(np.std(daily, ddof=1) * np.sqrt(252))


def test_a_restriction_of_use_trips_on_a_crafted_market_state(snapshots, monkeypatch, capsys):
    ws, cfg = _fresh(snapshots, monkeypatch)
    vol = _market_vol(cfg)
    _sign(capsys, cfg, "restrict", "--max-market-vol", str(round(vol * 1.05, 6)))
    code, reb, err = rebalance(capsys, cfg)
    assert (code, reb["portfolio"]["source"]) == (0, "model"), err  # below the bar: drives
    with Ledger.open(ws) as ledger:
        gate = ledger.entries(action=Action.GATE_RESTRICTION)[-1].payload
    assert gate["decision"] == "pass" and math.isclose(gate["evidence"]["market_vol"], vol,
                                                       rel_tol=1e-12)  # fmt: skip

    seq = _sign(capsys, cfg, "restrict", "--max-market-vol", str(round(vol * 0.95, 6)))
    code, reb, err = rebalance(capsys, cfg)
    assert (code, reb["status"], reb["portfolio"]["source"]) == (3, "halted", "fallback")
    assert err.count("\n") == 1 and "Traceback" not in err and f"seq {seq}" in err, err
    payload, _ = _published(ws)
    assert payload["source"] == "fallback" and "max_market_vol" in payload["reasons"][0]
    with Ledger.open(ws) as ledger:
        gate = ledger.entries(action=Action.GATE_RESTRICTION)[-1].payload
    assert gate["decision"] == "halt" and len(gate["evidence"]["restrictions"]) == 2

    # Not for books above $50m: the configured book is 1e8 (one account).
    ws, cfg = _fresh(snapshots, monkeypatch)
    _sign(capsys, cfg, "restrict", "--max-book-value", "5e7", user="omar")
    code, reb, err = rebalance(capsys, cfg)
    assert (code, reb["portfolio"]["source"]) == (3, "fallback"), err
    assert "book value 100,000,000 above 50,000,000" in _published(ws)[0]["reasons"][0]


def test_a_solver_upgrade_in_the_rebalance_raises_a_finding(snapshots, monkeypatch, capsys):
    import tasks.model.tracking as tracking
    from governance.findings.register import load_register

    ws, cfg = _fresh(snapshots, monkeypatch)
    env = tracking.python_environment()
    upgraded = {**env, "distributions": {**env["distributions"], "cvxpy": "99.0.0"}}
    monkeypatch.setattr(tracking, "python_environment", lambda: upgraded)
    code, reb, err = rebalance(capsys, cfg)
    assert (code, reb["portfolio"]["source"]) == (0, "model"), err  # a warning: it drives
    with Ledger.open(ws) as ledger:
        found = [r for r in load_register(ledger).records if r.origin == "dependency"]
    assert [(r.check, r.about, r.ref.version_text) for r in found] == [
        ("dependency_changed", "cvxpy", snapshots["version"]),
    ]  # fmt: skip


# -- one account is the list of one (issue 21, item 6); overlays on every account ---------


def _accounts(cfg: str, accounts: list[dict]) -> str:
    """The champion's run config with ``accounts`` (written beside it)."""
    from pathlib import Path

    import yaml

    config = yaml.safe_load(Path(cfg).read_text())
    config["portfolio"]["accounts"] = accounts
    path = Path(cfg).with_name("accounts.yaml")
    path.write_text(yaml.safe_dump(config))
    return str(path)


def _flow_entries(ws, since: int) -> list[tuple[str, str]]:
    with Ledger.open(ws) as ledger:
        return [(e.action, e.subject) for e in ledger.entries() if e.seq > since]


def _books(ws, sha: str) -> dict[str, pd.Series]:
    with Ledger.open(ws) as ledger:
        doc = ledger.store.read_json(sha)
    return {
        a["account"]: pd.Series(a["weights"], dtype=float).sort_index() for a in doc["accounts"]
    }


def test_one_account_and_a_list_of_one_publish_the_same_book(snapshots, monkeypatch, capsys):
    """The config without accounts and the config whose list is the one account ``main``:
    the same weights (1e-9: the same solver path makes them equal bit for bit) and the
    same ledger actions and subjects, entry for entry."""
    runs = []
    for listed in (False, True):
        ws, cfg = _fresh(snapshots, monkeypatch)
        cfg = _accounts(cfg, [{"name": "main"}]) if listed else cfg
        with Ledger.open(ws) as ledger:
            head = ledger.head()[0]
        code, reb, err = rebalance(capsys, cfg)
        assert (code, reb["portfolio"]["source"]) == (0, "model"), err
        assert reb["portfolio"]["accounts"] == [
            {"account": "main", "source": "model", "reasons": []}
        ]
        runs.append((_published(ws)[1], _flow_entries(ws, head), reb))
    (one, entries, reb), (listed, listed_entries, _) = runs
    pd.testing.assert_series_equal(one, listed, check_exact=False, atol=1e-9, rtol=0)
    assert entries == listed_entries
    day = reb["portfolio"]["asof"]
    assert (Action.GATE_PRETRADE, f"portfolio:{day}:main") in entries
    assert (Action.GATE_STRESS, f"portfolio:{day}:main") in entries


THREE = [{"name": "growth"}, {"name": "esg", "restricted": ["A0001", "A0002"]},
         {"name": "core", "restricted": ["A0010"]}]  # fmt: skip


def test_overlays_change_every_accounts_book_as_recorded_and_expire(snapshots, monkeypatch, capsys):
    ws, cfg = _fresh(snapshots, monkeypatch)
    code, reb, err = rebalance(capsys, _accounts(cfg, THREE))
    assert (code, reb["portfolio"]["source"]) == (0, "model"), err
    own = _books(ws, publications(ws)[-1].payload["artifacts"]["weights.json"])
    top = own["growth"].idxmax()
    cap = round(max(float(w.max()) for w in own.values()) * 0.6, 4)
    assert all(len(w) * cap > 1 for w in own.values())  # a capped book is feasible

    ws, cfg = _fresh(snapshots, monkeypatch)
    multi = _accounts(cfg, THREE)
    seqs = [_sign(capsys, multi, "add", "--exclude", top),
            _sign(capsys, multi, "add", "--cap", str(cap))]  # fmt: skip
    code, reb, err = rebalance(capsys, multi)
    assert (code, reb["portfolio"]["source"]) == (0, "model"), err
    assert [a["source"] for a in reb["portfolio"]["accounts"]] == ["model"] * 3
    payload = publications(ws)[-1].payload
    assert [o["seq"] for o in payload["overlays"]] == seqs
    books = _books(ws, payload["artifacts"]["weights.json"])
    tol = 1e-6  # the pre-trade gate's tolerance: interior-point round-off is ~1e-8
    for name, book in books.items():
        assert book.get(top, 0.0) <= tol and book.max() <= cap + tol, name
    with Ledger.open(ws) as ledger:
        (applied,) = ledger.entries(action=Action.OVERLAY_APPLIED, subject=Subject.book(STRATEGY))
    p = applied.payload
    assert p["artifacts"]["weights.json"] == payload["artifacts"]["weights.json"]
    plain = _books(ws, p["artifacts"]["unadjusted.json"])
    assert set(plain) == set(books) == set(own)
    for name in own:  # each account's unadjusted book is its own book, bit for bit
        pd.testing.assert_series_equal(plain[name], own[name], check_exact=True, check_names=False)
        both = pd.concat([books[name], plain[name]], axis=1).fillna(0.0)
        assert p["accounts"][name]["l1"] == float((both.iloc[:, 0] - both.iloc[:, 1]).abs().sum())

    # The day after --until: the same signed overlays apply to no account.
    ws, cfg = _fresh(snapshots, monkeypatch)
    multi = _accounts(cfg, THREE)
    for rule in (("--exclude", top), ("--cap", str(cap))):
        _sign(capsys, multi, "add", *rule, until=TODAY.isoformat())
    monkeypatch.setattr("governance.decisions.overlays.today", lambda: TODAY + dt.timedelta(1))
    code, reb, err = rebalance(capsys, multi)
    assert (code, reb["portfolio"]["source"]) == (0, "model"), err
    payload = publications(ws)[-1].payload
    assert payload["overlays"] == []
    books = _books(ws, payload["artifacts"]["weights.json"])
    for name in own:
        pd.testing.assert_series_equal(books[name], own[name], check_exact=True, check_names=False)


def test_a_restriction_on_the_book_of_three_accounts_falls_back(snapshots, monkeypatch, capsys):
    """Not for books above $200m: three accounts of 1e8 are 3e8 (one would pass)."""
    ws, cfg = _fresh(snapshots, monkeypatch)
    multi = _accounts(cfg, THREE)
    _sign(capsys, multi, "restrict", "--max-book-value", "2e8", user="omar")
    code, reb, err = rebalance(capsys, multi)
    assert (code, reb["portfolio"]["source"]) == (3, "fallback"), err
    # the benchmark holds the names esg and core restrict: their own pre-trade gates refuse
    # the fallback there and they hold (tasks/portfolio/rebalance.py); growth takes it
    accounts = reb["portfolio"]["accounts"]
    assert [a["source"] for a in accounts] == ["fallback", "hold", "hold"]
    assert all(r.startswith("pretrade: restricted") for a in accounts[1:] for r in a["reasons"])
    payload = publications(ws)[-1].payload
    assert "book value 300,000,000 above 200,000,000" in payload["reasons"][0]
    with Ledger.open(ws) as ledger:
        gate = ledger.entries(action=Action.GATE_RESTRICTION)[-1].payload
    assert gate["decision"] == "halt" and gate["evidence"]["book_value"] == 3e8


def test_every_account_refused_trips_the_switch_and_falls_back(snapshots, monkeypatch, capsys):
    """Three accounts whose own bound on A0004 (at least half the book) the tier's cap
    refuses: every account refused, the model's book is (exit 3), the strategy's switch
    trips (the sandbox tier trips on a pre-trade breach and on an optimiser failure) and
    the fallback is published for each account: one account's rule, for three."""
    _, cfg = _fresh(snapshots, monkeypatch)
    bound = {"bounds": {"A0004": [0.5, 0.6]}}
    multi = _accounts(cfg, [{"name": n, **bound} for n in ("a", "b", "c")])
    code, reb, err = rebalance(capsys, multi)
    assert (code, reb["status"], reb["portfolio"]["source"]) == (3, "halted", "fallback"), err
    assert reb["stage"] in ("pretrade", "optimiser")
    assert {r.split(":")[1].strip() for r in reb["reasons"]} == {"account a", "account b",
                                                                 "account c"}  # fmt: skip
    assert [a["source"] for a in reb["portfolio"]["accounts"]] == ["fallback"] * 3
    code, status, _ = cli_out(capsys, "killswitch", "status", "--json")
    assert status["strategies"][STRATEGY]["state"] == "tripped"
    assert status["strategies"][STRATEGY]["by"] == "alphagate"  # automatic
