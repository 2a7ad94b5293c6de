"""Issue 22, item 4, for the commands that run flows: ``run``, ``rebalance`` and ``validate``
read their own ledger through read-time verification too (their run context's ledger is a
:class:`~governance.log.readtime.VerifiedReader`, governance/decisions/context.py), not
only inside the drive decision.

The attacker is the database administrator, as in tests/test_readtime_commands.py: after a
``ledger verify`` (the verified head kept outside the workspace) she edits in place a row
the command reads, once the payload alone and once with the row's payload and entry hashes
recomputed (self-consistent: only the verified tree root shows it). The command is exit 3
in one line naming the row, publishes or records nothing it would have decided from it
(no book, not even the fallback; no verdict), and the refusal is recorded as
``integrity.refused``. On SQLite and on PostgreSQL.

One module fixture per backend runs the pipeline once, the legitimate way (dana; vera's
verdict in the run; the candidate awaits approvals), in a normal workspace whose adopted
policy gives the strategy the sandbox tier; each test restores it (files, and the
PostgreSQL database from its frozen copy).
"""

from __future__ import annotations

import contextlib
import json
import shutil

import pytest

from flows.cli import main
from governance.ground.vocabulary import Action, Subject
from governance.ground.workspace import Workspace
from governance.log.ledger import Ledger
from tests.helpers_e2e import DATA, live_env
from tests.helpers_identity import enrol_cast
from tests.test_bound_property import _PgCopy
from tests.test_ledger_support import scratch_pg_database
from tests.test_readtime_commands import _verified, edit_in_place

STRATEGY = "small-gov"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def candidate(request, tmp_path_factory, prefect_server):
    """``{"root", "live", "url", "pg", "version"}``: the pipeline run once (module doc)."""
    root = tmp_path_factory.mktemp("readtime-flows")
    live = root / "live"
    live.mkdir()
    policy = (DATA / "policy-sandbox.yaml").read_text()
    (live / "policy.yaml").write_text(f"{policy}\nstrategies:\n  {STRATEGY}: sandbox\n")
    config = (DATA / "small-sandbox.yaml").read_text()
    (live / "run.yaml").write_text(config.replace("policy-sandbox.yaml", "policy.yaml"))
    with contextlib.ExitStack() as stack:
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        url, pg = None, None
        if request.param == "postgresql":
            url = stack.enter_context(scratch_pg_database(request.getfixturevalue("pg_url")))
            pg = _PgCopy(url)
            stack.callback(pg.drop)
        live_env(mp, live, url)
        enrol_cast(Workspace(live / "home"), policy=live / "policy.yaml")
        assert main(["run", "--config", str(live / "run.yaml"), "--as", "dana"]) == 3
        with Ledger.open(Workspace(live / "home")) as ledger:
            version = str(ledger.last(action=Action.MODEL_REGISTERED).payload["version"])
        shutil.copytree(live, root / "base", symlinks=True)
        if pg is not None:
            pg.freeze()
        yield {"root": root, "live": live, "url": url, "pg": pg, "version": version}


@pytest.fixture
def restored(candidate, monkeypatch):
    """The candidate's workspace restored: ``(ws, config path, version)``."""
    live = candidate["live"]
    shutil.rmtree(live)
    shutil.copytree(candidate["root"] / "base", live, symlinks=True)
    if candidate["pg"] is not None:
        candidate["pg"].restore()
    live_env(monkeypatch, live, candidate["url"])
    return Workspace(live / "home"), str(live / "run.yaml"), candidate["version"]


def _refused(ws, capsys, argv: list[str], entry, command: str, watched: tuple[str, ...]):
    """``argv`` is exit 3 in one line naming ``entry``; none of ``watched`` is appended;
    ``integrity.refused`` names ``command`` and the entry. Returns the JSON, if any."""
    with Ledger.open(ws) as ledger:
        before = ledger.head()[0]
    capsys.readouterr()
    code = main(argv)
    printed = capsys.readouterr()
    err, lines = printed.err, printed.out.strip().splitlines()
    out = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else printed.out
    named = f"ledger entry {entry.seq} ({entry.action})"
    assert code == 3, (code, out, err)
    assert named in err and err.count("\n") == 1 and "Traceback" not in err, err
    with Ledger.open(ws) as ledger:
        after = ledger.entries(after_seq=before)
    assert not [e for e in after if e.action in watched], [e.action for e in after]
    refusals = [e for e in after if e.action == Action.INTEGRITY_REFUSED]
    assert refusals and refusals[-1].payload["action"] == command
    assert named in refusals[-1].payload["problem"]
    return out


def _edited_trip(ws, capsys, rehash: bool):
    """rita trips the strategy's switch; after a verify the DBA rewrites the trip in place
    so that it names another strategy (the switch of this one would read armed)."""
    assert main(["killswitch", "trip", "--as", "rita", "--reason", "loss",
                 "--strategy", STRATEGY]) == 0  # fmt: skip
    _verified(ws, capsys)
    with Ledger.open(ws) as ledger:
        trip = ledger.last(action=Action.KILLSWITCH_TRIPPED)
        edit_in_place(ledger, trip, rehash, strategy="other")
    return trip


REHASH = pytest.mark.parametrize("rehash", [False, True], ids=["payload", "payload-and-hashes"])
BOOKS = (Action.PORTFOLIO_PUBLISHED,)


@REHASH
def test_rebalance_reads_the_switch_verified(restored, capsys, rehash):
    """The kill-switch gate read the trip unverified (the drive decision, which verifies,
    then fell back): now the rebalance stops at the read, exit 3, no book at all."""
    ws, cfg, _version = restored
    trip = _edited_trip(ws, capsys, rehash)
    argv = ["rebalance", "--config", cfg, "--as", "dana", "--json"]
    out = _refused(ws, capsys, argv, trip, "rebalance", BOOKS)
    assert isinstance(out, dict), out
    assert (out["status"], out["stage"], out["portfolio"]) == ("halted", "integrity", None)


def test_run_reads_the_switch_verified(restored, capsys):
    """The same edit before a ``run``: its portfolio stage stops at the read (the candidate
    still awaits approvals), exit 3 naming the trip, no book."""
    ws, cfg, _version = restored
    trip = _edited_trip(ws, capsys, True)
    out = _refused(ws, capsys, ["run", "--config", cfg, "--as", "dana", "--json"], trip,
                   "pipeline", BOOKS)  # fmt: skip
    assert isinstance(out, dict), out
    assert (out["status"], out["stage"], out["portfolio"]) == ("halted", "integrity", None)


@REHASH
def test_validate_reads_the_training_record_verified(restored, capsys, rehash):
    """vera re-validates the candidate after the DBA rewrote its signed training record in
    place (its top-level tier): exit 3 naming the record, no verdict recorded."""
    ws, cfg, version = restored
    _verified(ws, capsys)
    with Ledger.open(ws) as ledger:
        trained = ledger.last(action=Action.MODEL_TRAINED, subject=Subject.strategy(STRATEGY))
        edit_in_place(ledger, trained, rehash, tier="high")
    argv = ["validate", "--config", cfg, "--model-version", version, "--as", "vera"]
    _refused(ws, capsys, argv, trained, "validate", (Action.VALIDATION_COMPLETED,))
