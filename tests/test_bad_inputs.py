"""Broken market files and configs through the real command line (issue 2, "Bad input").

Each broken file is made from one small valid synthetic market in ``tmp_path`` and checked
with ``alphagate data check FILE`` in a fresh workspace. Unreadable files end in exit 2 with
one ``alphagate:`` line naming the file (and line or column); readable files that fail a
critical expectation end in exit 3 with one line per failed expectation naming the rows.
Never a traceback, and the ledger still verifies afterwards.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from flows.cli import main
from governance.ground.vocabulary import Action
from tasks.data.market import SyntheticConfig, fingerprint_long, load_synthetic, read_market_file

TODAY = dt.datetime.now(dt.UTC).date()  # `data check` judges files as of today (UTC)
N_ASSETS, N_DAYS = 8, 260


@pytest.fixture(scope="module")
def valid() -> pd.DataFrame:
    """8 assets x 260 business days ending on the last business day up to today."""
    cfg = SyntheticConfig(n_assets=N_ASSETS, n_days=N_DAYS, seed=7)
    return load_synthetic(cfg.to_spec(TODAY)).reset_index(drop=True)


def _write(frame: pd.DataFrame, path: Path, **kwargs) -> Path:
    frame.to_csv(path, index=False, **kwargs)
    return path


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["data", "check", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _assert_ledger_ok(capsys) -> None:
    assert main(["ledger", "verify"]) == 0, capsys.readouterr().err
    capsys.readouterr()


def _lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


# -- unreadable: exit 2, one line naming the file ---------------------------------------------


def _missing(tmp, valid):
    return tmp / "nowhere.csv"


def _empty(tmp, valid):
    (tmp / "m.csv").write_bytes(b"")
    return tmp / "m.csv"


def _header_only(tmp, valid):
    (tmp / "m.csv").write_text("date,asset,close,volume,sector\n")
    return tmp / "m.csv"


def _semicolons(tmp, valid):
    return _write(valid, tmp / "m.csv", sep=";")


def _no_close(tmp, valid):
    return _write(valid.drop(columns="close"), tmp / "m.csv")


def _non_numeric_close(tmp, valid):
    bad = valid.astype({"close": object})
    bad.loc[40, "close"] = "12,5 EUR"
    return _write(bad, tmp / "m.csv")


def _latin1(tmp, valid):
    path = _write(valid, tmp / "m.csv")
    lines = path.read_bytes().split(b"\n")
    lines[5] = lines[5].replace(b"A000", b"\xc9T\xc9", 1)  # "ÉTÉ" in Latin-1
    path.write_bytes(b"\n".join(lines))
    return path


UNREADABLE: dict[str, tuple[Callable, str]] = {
    "missing file": (_missing, r"nowhere\.csv: file not found"),
    "empty file": (_empty, r"m\.csv: file is empty"),
    "header only": (_header_only, r"m\.csv: header only"),
    "wrong delimiter": (_semicolons, r"m\.csv: line 1: delimiter looks wrong.*';'"),
    "missing close column": (_no_close, r"m\.csv: line 1: missing required column 'close'"),
    "non-numeric close": (
        _non_numeric_close,
        r"m\.csv: line 42: close: '12,5 EUR' is not a number",
    ),
    "non-UTF-8 bytes": (_latin1, r"m\.csv: line 6: not UTF-8"),
}


@pytest.mark.parametrize("case", list(UNREADABLE))
def test_unreadable_file_exits_2(case, valid, tmp_path, workspace, capsys):
    make, pattern = UNREADABLE[case]
    path = make(tmp_path, valid)
    code, out, err = _run(capsys, str(path))
    assert code == 2, err
    (line,) = _lines(err)
    assert line.startswith("alphagate: ")
    assert out.strip() == ""
    assert re.search(pattern, line), line
    assert "Traceback" not in err
    _assert_ledger_ok(capsys)


# -- readable but failing a critical expectation: exit 3, one line per expectation ------------


def _negative(v):
    v = v.copy()
    v.loc[30, "close"] = -3.2
    return v, {"close_positive": "line 32: date="}


def _zero(v):
    v = v.copy()
    v.loc[30, "close"] = 0.0
    return v, {"close_positive": "close=0"}


def _missing_burst(v):
    v = v.astype({"close": object})
    burst = v.index[v["asset"] == "A0004"][100:130]
    v.loc[burst, "close"] = ""
    return v, {"not_null.close": "30 of 2080 rows: line"}


def _duplicates(v):
    return pd.concat([v, v.iloc[[10, 11, 12]]]), {"unique_date_asset": "6 of 2083 rows"}


def _future(v):
    late = v[v["date"] == v["date"].max()].copy()
    late["date"] = pd.Timestamp(TODAY) + pd.offsets.BDay(3)
    return pd.concat([v, late]), {"no_future_dates": "8 of 2088 rows"}


def _single_asset(v):
    return v[v["asset"] == "A0000"], {"assets_per_date": "260 of 260 dates: date="}


def _single_day(v):
    one = v[v["date"] == v["date"].max()]
    return one, {"history_per_asset": "8 of 8 assets: asset=A0000 n_dates=1"}


def _jump(v):
    v = v.copy()
    hit = (v["asset"] == "A0002") & (v["date"] >= v["date"].iloc[N_ASSETS * 200])
    v.loc[hit, "close"] *= 11.0  # +1000 % in one day
    return v, {"return_critical": "asset=A0002"}


def _stale(v):
    v = v.copy()
    v["date"] = v["date"] - pd.offsets.BDay(40)
    return v, {"staleness": "is too old for as-of"}


BROKEN: dict[str, Callable] = {
    "negative price": _negative,
    "zero price": _zero,
    "burst of missing values": _missing_burst,
    "duplicate (date, asset) rows": _duplicates,
    "rows dated in the future": _future,
    "a single asset": _single_asset,
    "a single day": _single_day,
    "1000% one-day jump": _jump,
    "stale data": _stale,
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_failing_expectation_exits_3(case, valid, tmp_path, workspace, capsys):
    frame, expected = BROKEN[case](valid)
    path = _write(frame, tmp_path / "m.csv")
    code, out, err = _run(capsys, str(path), "--json")
    assert code == 3, err
    lines = _lines(err)
    assert "Traceback" not in err
    assert all(line.startswith("alphagate: data_quality: ") for line in lines)
    for name, detail in expected.items():
        (hit,) = [line for line in lines if line.startswith(f"alphagate: data_quality: {name}:")]
        assert detail in hit, hit
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["ok"] is False
    assert len(summary["critical_failures"]) == len(lines)
    assert summary["fingerprint"] == fingerprint_long(read_market_file(path))
    _assert_ledger_ok(capsys)
    from governance.log.ledger import Ledger

    with Ledger.open(workspace) as ledger:
        entries = ledger.entries()
    assert [e.action for e in entries] == [Action.DATA_INGESTED, Action.GATE_DATA_QUALITY]
    assert entries[-1].payload["decision"] == "halt"
    assert entries[-1].payload["reasons"] == summary["critical_failures"]


# -- not errors: they load ---------------------------------------------------------------


def _unsorted(v):
    return v.sample(frac=1.0, random_state=3)


def _extra_columns(v):
    return v.assign(exchange="XNYS", adj_factor=1.0)[["exchange", *v.columns, "adj_factor"]]


@pytest.mark.parametrize("shape", [_unsorted, _extra_columns], ids=["unsorted", "extra columns"])
def test_harmless_shapes_load(shape, valid, tmp_path, workspace, capsys):
    path = _write(shape(valid), tmp_path / "m.csv")
    code, out, err = _run(capsys, str(path), "--json")
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary == {
        "ok": True,
        "critical_failures": [],
        "warnings": [],
        "fingerprint": fingerprint_long(valid),
    }
    _assert_ledger_ok(capsys)


def test_utf8_bom_loads_and_human_output(valid, tmp_path, workspace, capsys):
    path = _write(valid, tmp_path / "m.csv", encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbfdate,")
    code, out, err = _run(capsys, str(path))
    assert code == 0, err
    assert "result: PASS" in out
    assert fingerprint_long(valid) in out
    assert f"{N_ASSETS} assets" in out
    # the report is a file a browser opens: a full path ending in .html, holding the page
    (line,) = [x for x in out.splitlines() if x.strip().startswith("report:")]
    report = Path(line.split("report:", 1)[1].strip())
    assert report.is_absolute() and report.suffix == ".html" and report.is_file()
    assert fingerprint_long(valid) in report.read_text()


def test_warnings_pass_and_are_shown(valid, tmp_path, workspace, capsys):
    moved = valid.copy()
    hit = (moved["asset"] == "A0001") & (moved["date"] >= moved["date"].iloc[N_ASSETS * 100])
    moved.loc[hit, "close"] *= 1.6  # +60 %: beyond the warning bound only
    code, out, err = _run(capsys, str(_write(moved, tmp_path / "m.csv")))
    assert code == 0, err
    assert "warning: return_warning: 1 of" in out
    assert "result: PASS (1 warning)" in out


# -- configuration errors go through `alphagate config check` -------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("data:\n  source: demo\n  sauce: tomato\n", "data.sauce: unknown key"),
        ("quality:\n  assets_per_date:\n    minimum: plenty\n", "quality.assets_per_date.minimum"),
        ("portfolio:\n  max_weight: 5\n", "portfolio.max_weight"),
        ("portfolio:\n  risk_aversion: 1e309\n", "portfolio.risk_aversion"),
        ("portfolio:\n  accounts:\n    - {name: a, holdings: {X: .nan}}\n", "portfolio.accounts"),
    ],
    ids=["unknown key", "wrong type", "weight above 1", "infinite number", "NaN holding"],
)
def test_bad_config_exits_2(text, message, tmp_path, workspace, capsys):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    capsys.readouterr()
    assert main(["config", "check", str(path)]) == 2
    err = capsys.readouterr().err
    (line,) = _lines(err)
    assert str(path) in line and message in line, line
    assert "Traceback" not in err
    from flows.config import load_config
    from governance.ground.errors import InputError

    with pytest.raises(InputError, match=message):
        load_config(path)
    _assert_ledger_ok(capsys)


def test_an_infinite_policy_limit_exits_2_naming_the_field(tmp_path, workspace, capsys):
    """``max_turnover: .inf`` would switch the pre-trade turnover check off: refused (every
    config and policy section is finite, governance.ground.configio.StrictModel)."""
    shipped = Path(__file__).resolve().parents[1] / "configs" / "policy.yaml"
    text = shipped.read_text()
    assert text.count("max_turnover: 0.50 ") >= 1
    (tmp_path / "policy.yaml").write_text(
        text.replace("max_turnover: 0.50 ", "max_turnover: .inf ", 1)
    )
    path = tmp_path / "run.yaml"
    path.write_text("policy:\n  file: policy.yaml\n")
    capsys.readouterr()
    assert main(["config", "check", str(path)]) == 2
    (line,) = _lines(capsys.readouterr().err)
    assert "policy.yaml: tiers.high.pretrade.max_turnover: Input should be a finite number" in line


def test_as_of_and_config_options(valid, tmp_path, workspace, capsys):
    stale, _ = _stale(valid)
    path = _write(stale, tmp_path / "m.csv")
    last = stale["date"].max().date().isoformat()
    code, _, err = _run(capsys, str(path), "--as-of", last)
    assert code == 0, err
    negative, _ = _negative(valid)
    path = _write(negative, tmp_path / "neg.csv")
    config = tmp_path / "run.yaml"
    config.write_text("quality:\n  close_positive: {severity: warning}\n")
    code, out, err = _run(capsys, str(path), "--config", str(config), "--json")
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["ok"] is True and summary["warnings"][0].startswith("close_positive: 1 of")
    with pytest.raises(SystemExit) as usage:  # argparse: usage errors exit 2
        main(["data", "check", str(path), "--as-of", "yesterday"])
    assert usage.value.code == 2
    assert "not an ISO date" in capsys.readouterr().err
    _assert_ledger_ok(capsys)
