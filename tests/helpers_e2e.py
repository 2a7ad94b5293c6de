"""Shared pieces of the end-to-end tests (test_pipeline, test_recovery, test_governed_rebalance)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import pytest

from flows.cli import main
from governance.ground.vocabulary import Action

DATA = Path(__file__).parent / "data"
SMALL = str(DATA / "small.yaml")

#: Recorded once per content run key: a rerun with the same inputs reuses them.
DETERMINISTIC_ACTIONS = (
    Action.RUN_STARTED,
    Action.DATA_INGESTED,
    Action.GATE_DATA_QUALITY,
    Action.DATA_SPLIT,
    Action.MODEL_TRAINED,
    Action.MODEL_REGISTERED,
    Action.VALIDATION_COMPLETED,
    Action.GATE_VALIDATION,
    Action.BACKTEST_COMPLETED,
)
#: Recorded afresh by every run (decisions depend on the state of the world).
DECISION_ACTIONS = (
    Action.GATE_APPROVAL,
    Action.GATE_KILL_SWITCH,
    Action.STRESS_COMPLETED,
    Action.GATE_STRESS,
    Action.PORTFOLIO_PUBLISHED,
    Action.RISK_ANALYSED,
)


def cli_json(capsys, *argv: str) -> tuple[int, dict]:
    """Run ``alphagate ARGV --json``; return the exit code and the last stdout line's JSON."""
    code = main([*argv, "--json"])
    return code, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def cli_out(capsys, *argv: str) -> tuple[int, dict | None, str]:
    """Run ``alphagate ARGV``; return the exit code, the last stdout line's JSON (None when
    it is not an object) and stderr."""
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    last = out.out.strip().splitlines()[-1] if out.out.strip() else ""
    return code, (json.loads(last) if last.startswith("{") else None), out.err


def negate_model_file(ws, name: str, version) -> tuple[Path, str]:
    """The insider's swap: every leaf of version ``version``'s ``model.lgb`` negated in the
    MLflow artifact store, so the model bets the other way. Returns the file and its
    original text (to restore)."""
    from governance.registry.recorder import mlflow_client

    uri = mlflow_client(ws).get_model_version_download_uri(name, version)
    lgb_file = next(Path(urlparse(uri).path).rglob("model.lgb"))
    original = lgb_file.read_text()
    negated = re.sub(
        r"^leaf_value=(.*)$",
        lambda m: "leaf_value=" + " ".join(f"{-float(x):g}" for x in m.group(1).split()),
        original,
        flags=re.M,
    )
    assert negated != original
    lgb_file.write_text(negated)
    return lgb_file, original


def live_env(mp: pytest.MonkeyPatch, live: Path, ledger_url: str | None = None) -> None:
    """The environment of a workspace restored at ``live`` (``live/home``; the witness, the
    log key, the verified head and the home keyring beside it): a fresh SQLite connection per
    MLflow session, so that a restored ``mlflow.db`` is read anew; no key, config or user from
    outside; the ledger at ``ledger_url`` (None: the workspace's own SQLite file)."""
    home = live / "home"
    mp.setenv("ALPHAGATE_HOME", str(home))
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
    mp.setenv("ALPHAGATE_WITNESS", str(live / "witness"))
    mp.setenv("XDG_DATA_HOME", str(live / "xdg"))  # the log key and the verified head
    mp.setenv("ALPHAGATE_KEYRING", str(live / "home-keyring"))
    mp.setenv("MLFLOW_SQLALCHEMYSTORE_POOLCLASS", "NullPool")
    for name in ("ALPHAGATE_KEY", "ALPHAGATE_CONFIG", "ALPHAGATE_USER"):
        mp.delenv(name, raising=False)
    if ledger_url is None:
        mp.delenv("ALPHAGATE_LEDGER_URL", raising=False)
    else:
        mp.setenv("ALPHAGATE_LEDGER_URL", ledger_url)


@contextmanager
def governed_home(home: Path, config: str) -> Iterator[pytest.MonkeyPatch]:
    """A governed workspace at ``home`` for a module fixture: its commands read ``config`` and
    its own MLflow store, no ledger URL or user from outside, the cast enrolled."""
    from governance.ground.workspace import Workspace
    from tests.helpers_identity import enrol_cast

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALPHAGATE_HOME", str(home))
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
        mp.setenv("ALPHAGATE_CONFIG", config)
        mp.delenv("ALPHAGATE_LEDGER_URL", raising=False)
        mp.delenv("ALPHAGATE_USER", raising=False)
        enrol_cast(Workspace(home), monkeypatch=mp)
        yield mp


def review_to_first_approval(config: str, model: str) -> str:
    """The review market's path to its first approval: ``run`` (REVIEW halts it), rita accepts
    finding 1 for 90 days with a control, vera approves v1. Returns the acceptance's end date."""
    assert main(["run", "--config", config, "--as", "dana"]) == 3  # REVIEW halts the run
    until = (dt.date.today() + dt.timedelta(days=90)).isoformat()
    assert main(["findings", "accept", f"F-{model}-v1-1", "--as", "rita", "--reason",
                 "prior too strict", "--until", until,
                 "--control", "monthly SHAP sign review"]) == 0  # fmt: skip
    assert main(["approve", "--model-version", "1", "--as", "vera",
                 "--reason", "holdout evidence reviewed"]) == 0  # fmt: skip
    return until


def compliance_links_resolve(out: Path, doc: dict) -> None:
    """Every link of the compliance report at ``out``: each anchor names an element of the
    page, each file is in its folder and hashes to the name it carries (the stored bytes)."""
    import hashlib

    page = out.read_text(encoding="utf-8")
    ids = set(re.findall(r'id="([^"]+)"', page))
    hrefs = re.findall(r'href="([^"]+)"', page)
    anchors = [h[1:] for h in hrefs if h.startswith("#")]
    files = [h for h in hrefs if not h.startswith("#")]
    assert anchors and files
    assert [a for a in anchors if a not in ids] == []
    for href in files:
        path = out.parent / href
        assert path.is_file(), href
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        assert path.name.startswith(sha[:16]), href  # the stored bytes, re-hashed
    assert len(doc["files"]) == len(set(files))


def compliance_renders(out: Path, width: int = 1280) -> list[str]:
    """Render the report at ``out`` in headless Chromium: it loads nothing else, does not
    overflow ``width`` and every in-page link has its target; returns its file links."""
    from tests.helpers_browser import Browser, page_url

    url = page_url(out)
    with Browser(width=width, height=800) as browser:
        loaded = browser.open(url)
        others = [r for r in loaded.requests if r != url and not r.startswith("data:")]
        assert others == [], f"the report requested {others}"
        scroll, client = loaded.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert scroll <= client, f"overflows at {width} px: {scroll} > {client}"
        broken = loaded.evaluate(
            "[...document.querySelectorAll('a[href^=\"#\"]')]"
            ".filter(a => !document.getElementById(a.getAttribute('href').slice(1))).length"
        )
        assert broken == 0
        return loaded.evaluate(
            "[...document.querySelectorAll('a')].map(a => a.href).filter(h => !h.includes('#'))"
        )
