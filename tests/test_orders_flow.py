"""Orders end to end on the demo data, through the CLI and the real flows (issue 25).

rebalance → orders export (pre-send gate, FIX 4.4 + CSV in the outbox) → the paper broker
fills at the next day's close → fills import (reconciliation) → the book holds what was
filled → the next rebalance starts from those holdings and the next orders from those
shares. The demo data is cut at 2022-11-30 (``data.end``) so that the next day's close
exists for the paper broker; the second rebalance runs on one more day.
"""

from __future__ import annotations

import pandas as pd
import pytest
import simplefix
import yaml

from flows.cli import main
from governance.ground.artifacts import ArtifactStore
from governance.ground.vocabulary import Action
from governance.ground.workspace import Workspace
from governance.log.ledger import Ledger
from tasks.data.market import DataConfig, load_long, to_panel
from tasks.orders.paper import PaperBroker
from tasks.portfolio.book import current_holdings, held_shares, latest_book
from tests.conftest import REPO
from tests.helpers_e2e import cli_json, cli_out
from tests.helpers_identity import enrol_cast

STRATEGY = "alphagate-demo"
DAY1, DAY2 = "2022-11-30", "2022-12-01"


def _policy(folder):
    """configs/policy.yaml with an orders: section for the demo book ($100m, 20 names):
    10 % of it per order at most, a 10 % collar, and no duplicate window (the test's two
    rebalances, a day apart in the data, run a minute apart)."""
    doc = yaml.safe_load((REPO / "configs" / "policy.yaml").read_text())
    doc["tiers"]["high"]["orders"] = {
        "max_order_notional": 1.0e7, "price_collar": 0.10, "duplicate_window_minutes": 0,
        "max_daily_gross_notional": 2.5e8,
    }  # fmt: skip
    path = folder / "policy.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _config(folder, day: str) -> str:
    doc = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text())
    doc["data"].update({"as_of": day, "end": day})
    doc["policy"]["file"] = str(folder / "policy.yaml")
    path = folder / f"demo-{day}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


@pytest.fixture(scope="module")
def demo(tmp_path_factory, prefect_server):
    root = tmp_path_factory.mktemp("orders")
    home = root / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALPHAGATE_HOME", str(home))
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
        mp.delenv("ALPHAGATE_LEDGER_URL", raising=False)
        enrol_cast(Workspace(home), monkeypatch=mp, policy=_policy(root))
        yield root, home


def _ledger(home):
    ws = Workspace(home)
    return Ledger.open(ws), ArtifactStore.of(ws)


def _entries(home, action):
    ledger, _ = _ledger(home)
    with ledger:
        return list(ledger.entries(action=action))


def test_before_a_book_or_an_order_set_each_command_is_exit_2_in_one_line(demo, capsys):
    root, home = demo
    day1 = _config(root, DAY1)
    code, _, err = cli_out(capsys, "orders", "export", "--config", day1, "--as", "dana")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"strategy {STRATEGY} has no published book" in err
    empty = root / "empty.csv"
    empty.write_text("order_id,exec_id,account,asset,side,quantity,price\n")
    code, _, err = cli_out(capsys, "fills", "import", str(empty), "--config", day1, "--as", "dana")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"strategy {STRATEGY} has no orders sent" in err
    assert (
        _entries(home, Action.ORDERS_SENT) == []
        and _entries(home, Action.HOLDINGS_RECONCILED) == []
    )


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--order-type", "stop"], "--order-type 'stop' is not one of moc, limit"),
        (["--order-type", "limit", "--limit-offset-bp", "abc"], "--limit-offset-bp 'abc'"),
        (["--order-type", "limit", "--limit-offset-bp", "-5"], "--limit-offset-bp '-5'"),
        (["--order-type", "limit", "--limit-offset-bp", "nan"], "--limit-offset-bp 'nan'"),
        (["--order-type", "limit", "--limit-offset-bp", "10000"], "--limit-offset-bp '10000'"),
        (["--limit-offset-bp", "10"], "--limit-offset-bp applies to --order-type limit"),
    ],
)
def test_a_bad_order_type_or_limit_offset_is_exit_2_in_one_line_naming_the_flag(
    demo, capsys, flags, named
):
    root, home = demo
    ledger, _ = _ledger(home)
    with ledger:
        before = ledger.head()
    code, _, err = cli_out(capsys, "orders", "export", "--config", _config(root, DAY1),
                           "--as", "dana", *flags)  # fmt: skip
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert named in err and "Traceback" not in err
    with ledger:
        assert ledger.head() == before  # nothing ran, nothing recorded


def test_rebalance_orders_fills_and_the_next_rebalance_from_the_fills(demo, capsys):
    root, home = demo
    day1, day2 = _config(root, DAY1), _config(root, DAY2)
    outbox = root / "outbox"

    # 1. a book is published (no champion yet: the policy's fallback, which says so)
    code, reb = cli_json(capsys, "rebalance", "--config", day1, "--as", "dana")
    assert reb["portfolio"]["source"] == "fallback", (reb["stage"], reb["reasons"])

    # 2. its orders: checked, recorded, written to the outbox as FIX and CSV
    code, out = cli_json(capsys, "orders", "export", "--config", day1, "--as", "dana",
                         "--out", str(outbox))  # fmt: skip
    assert (code, out["status"]) == (0, "completed")
    note = out["stages"]["orders"]
    assert note["blocked_accounts"] == [] and note["orders"] == 20
    (sent,) = _entries(home, Action.ORDERS_SENT)
    gate = _entries(home, Action.GATE_PRESEND)[-1]
    assert gate.payload["decision"] == "pass" and gate.seq < sent.seq
    folder = outbox / f"{sent.seq:08d}"
    fix_file, csv_file = folder / "orders.fix", folder / "orders.csv"
    orders = pd.read_csv(csv_file)
    assert len(fix_file.read_bytes().splitlines()) == len(orders) == 20
    assert (orders["side"] == "buy").all()  # funded from cash
    # lot rounding: each position within half a lot (one share) of its target value
    value = 1e8
    target = orders["target_weight"] * value
    assert ((orders["quantity"] * orders["ref_price"] - target).abs()
            <= orders["ref_price"] / 2 + 1e-6).all()  # fmt: skip

    # 3. the paper broker fills them at the next day's close (no volume in the demo data:
    # no participation cap, no impact; 5 bp half-spread)
    full = to_panel(load_long(DataConfig(source="demo"), REPO))
    next_close = full.close.loc[pd.Timestamp(DAY2)]
    fills = PaperBroker(half_spread=5e-4).execute(orders, next_close, value=value)
    fills_file = root / "fills.fix"
    fills_file.write_bytes(PaperBroker.reports(fills))

    # 4. import: reconciled, the book holds what was filled
    code, imp = cli_json(capsys, "fills", "import", str(fills_file), "--config", day1,
                         "--as", "dana")  # fmt: skip
    assert (code, imp["status"]) == (0, "completed")
    assert imp["stages"]["fills"]["fills"] == 20
    (rec,) = _entries(home, Action.HOLDINGS_RECONCILED)
    assert rec.payload["status"] == {"filled": 20} and rec.payload["findings"] == {}
    shortfall = rec.payload["shortfall"]
    # every fill paid 5 bp over the next close: shortfall = move + 5 bp, estimate = 5 bp
    assert shortfall["estimated_bp"] == pytest.approx(5.0)
    # the cost analysis in MLflow: the figures and the chart, beside the model
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    logged = client.get_run(imp["stages"]["fills"]["mlflow_run_id"])
    assert logged.data.metrics["shortfall_bp"] == pytest.approx(shortfall["shortfall_bp"])
    assert {"shortfall.png", "reconciliation.json", "holdings.json"} <= {
        a.path for a in client.list_artifacts(logged.info.run_id)
    }
    ledger, store = _ledger(home)
    with ledger:
        shares = held_shares(ledger, store, STRATEGY)["main"]
        weights = current_holdings(ledger, store, STRATEGY)["main"]
    assert shares.to_dict() == dict(zip(orders["asset"], orders["quantity"], strict=True))
    expect = fills.set_index("asset")["price"] * shares / value
    pd.testing.assert_series_equal(weights.sort_index(), expect.sort_index(),
                                   check_names=False, rtol=1e-6)  # fmt: skip

    # 5. the same file again counts nothing twice: exit 2 naming the line, nothing recorded
    code, _, err = cli_out(capsys, "fills", "import", str(fills_file), "--config", day1,
                           "--as", "dana")  # fmt: skip
    assert code == 2 and "fills.fix: line 1: exec_id" in err and "imported before" in err
    assert len(_entries(home, Action.HOLDINGS_RECONCILED)) == 1

    # 6. the next rebalance starts from the filled holdings, the next orders from the shares
    code, reb2 = cli_json(capsys, "rebalance", "--config", day2, "--as", "dana")
    assert reb2["portfolio"]["source"] == "fallback"  # published, from the holdings
    with ledger:
        book = latest_book(ledger, store, STRATEGY)
    current = book.trades.set_index("asset")["current"]
    pd.testing.assert_series_equal(current.sort_index(), weights.sort_index(),
                                   check_names=False, rtol=1e-9)  # fmt: skip
    # ... as limit orders 25 bp from the last close (buys above, sells below)
    code, out2 = cli_json(capsys, "orders", "export", "--config", day2, "--as", "dana",
                          "--out", str(outbox), "--order-type", "limit",
                          "--limit-offset-bp", "25")  # fmt: skip
    assert (code, out2["status"]) == (0, "completed"), out2["reasons"]
    assert out2["stages"]["orders"]["order_type"] == "LMT"
    sent2 = _entries(home, Action.ORDERS_SENT)[-1]
    assert (sent2.payload["order_type"], sent2.payload["limit_offset_bp"]) == ("LMT", 25.0)
    orders2 = pd.read_csv(outbox / f"{sent2.seq:08d}" / "orders.csv").set_index("asset")
    assert set(orders2["side"]) == {"buy", "sell"}
    parser = simplefix.FixParser()
    parser.append_buffer((outbox / f"{sent2.seq:08d}" / "orders.fix").read_bytes())
    fix = {}
    while (m := parser.get_message()) is not None:
        fix[m.get(55).decode()] = (m.get(40), m.get(59), float(m.get(44)))
    bump = orders2["side"].map({"buy": 1.0025, "sell": 0.9975})
    want = (orders2["ref_price"] * bump).round(4)
    assert fix == {a: (b"2", b"0", pytest.approx(want[a], abs=5e-5)) for a in orders2.index}
    signed = orders2["quantity"].where(orders2["side"] == "buy", -orders2["quantity"])
    after = shares.add(signed, fill_value=0)
    goal = orders2["target_weight"] * value / orders2["ref_price"]
    assert ((after.reindex(goal.index) - goal).abs() <= 0.5 + 1e-9).all()


def test_a_malformed_fills_file_is_exit_2_naming_the_line_and_imports_nothing(demo, capsys):
    root, home = demo
    good = (root / "fills.fix").read_bytes().splitlines()
    assert good, "runs after the end-to-end test"
    bad = root / "bad.fix"
    bad.write_bytes(b"\n".join([good[0], good[1].replace(b"\x0131=", b"\x0131=x"), *good[2:]]))
    before = len(_entries(home, Action.HOLDINGS_RECONCILED))
    code, _, err = cli_out(capsys, "fills", "import", str(bad), "--config",
                           _config(root, DAY1), "--as", "dana")  # fmt: skip
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "bad.fix: line 2: BodyLength" in err and "Traceback" not in err
    assert len(_entries(home, Action.HOLDINGS_RECONCILED)) == before


def test_a_tripped_switch_blocks_the_export_names_the_check_and_records_it(
    demo, capsys, monkeypatch
):
    """The book was published while the switch was armed; a risk officer trips it before
    the orders leave: exit 3, gate.presend halts naming kill_switch, nothing is sent."""
    root, home = demo
    day2 = _config(root, DAY2)
    monkeypatch.setenv("ALPHAGATE_CONFIG", day2)  # the reset reads the policy it names
    sent_before = len(_entries(home, Action.ORDERS_SENT))
    assert main(["killswitch", "trip", "--as", "rita", "--reason", "desk drill"]) == 0
    try:
        code, out = cli_json(capsys, "orders", "export", "--config", day2, "--as", "dana",
                             "--out", str(root / "outbox"))  # fmt: skip
        assert (code, out["status"], out["stage"]) == (3, "halted", "presend")
        gate = _entries(home, Action.GATE_PRESEND)[-1]
        assert gate.payload["decision"] == "halt"
        checks = [b["check"] for b in gate.payload["evidence"]["breaches"]]
        # the first test sent this book's orders already: they are duplicates too
        assert checks[0] == "kill_switch" and set(checks) == {"kill_switch", "duplicate"}
        assert len(_entries(home, Action.ORDERS_SENT)) == sent_before
    finally:
        reset = ["killswitch", "reset", "--reason", "drill over", "--incident", "INC-25"]
        for officer in ("rita", "omar"):
            code, _, err = cli_out(capsys, *reset, "--as", officer)
            assert code == 0, err
    # the trail verifies: every order, fills and holdings file re-hashed
    code, out, err = cli_out(capsys, "ledger", "verify", "--json")
    assert code == 0 and out["ok"], err
