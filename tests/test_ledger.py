"""Artifact store, ledger API, idempotency, RunContext, integrity registry, ``ledger show``."""

from __future__ import annotations

import itertools
import json
import os
import pickle
import re
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from test_ledger_support import BACKENDS, backend_url, build_ledger

from flows.cli import main
from governance.audit import integrity
from governance.audit.books import publications_hold
from governance.audit.integrity import verify_workspace
from governance.decisions.context import RunContext
from governance.findings.accept import acceptances_signed
from governance.ground.artifacts import ArtifactStore
from governance.ground.canonical import canonical_json, sha256_bytes, sha256_file
from governance.ground.errors import InputError, TamperDetected
from governance.ground.vocabulary import Action
from governance.identity.signed_acts import signed_acts_hold
from governance.log.chain import VerifyReport
from governance.log.ledger import GENESIS_HASH, IdempotencyConflict, Ledger
from governance.registry.versions import registry_matches_ledger


@pytest.fixture
def store(tmp_path):
    return ArtifactStore(tmp_path / "artifacts")


@pytest.fixture(params=BACKENDS)
def ledger(request, workspace, monkeypatch):
    with (
        backend_url(request, request.param, workspace, monkeypatch),
        Ledger.open(workspace) as led,
    ):
        yield led


@pytest.fixture
def cli(workspace, monkeypatch, tmp_path):
    """Run ``alphagate`` in-process; main() may not leave PREFECT_HOME behind."""
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))

    def run(*argv: str) -> int:
        return main(list(argv))

    return run


# -- artifact store ------------------------------------------------------------------


def test_store_layout_roundtrip_and_idempotence(store, tmp_path):
    data = "évidence ✓".encode()
    sha = store.put_bytes(data)
    assert sha == sha256_bytes(data)
    assert store.path(sha) == store.root / sha[:2] / sha
    assert store.read_bytes(sha) == data and store.verify(sha)
    assert store.put_bytes(data) == sha  # same content, same name, no error
    assert store.put_text("évidence ✓") == sha
    obj = {"b": [1, 2.5, None], "a": "ü"}
    jsha = store.put_json(obj)
    assert store.path(jsha).read_bytes() == canonical_json(obj)
    assert store.read_json(jsha) == obj
    blob = os.urandom(3 << 20)
    fsha = store.put_bytes(blob)
    assert fsha == sha256_bytes(blob) == sha256_file(store.path(fsha))
    # Nothing but hash-named files: no temporary file survives a write.
    names = {p.name for p in store.root.rglob("*") if p.is_file()}
    assert names == {sha, jsha, fsha}
    assert stat.S_IMODE(store.path(sha).stat().st_mode) & 0o222 == 0


def test_store_detects_altered_and_missing_files(store):
    sha = store.put_bytes(b"original")
    path = store.path(sha)
    os.chmod(path, 0o600)
    path.write_bytes(b"origin4l")
    assert not store.verify(sha)
    with pytest.raises(TamperDetected, match=sha):
        store.read_bytes(sha)
    store.put_bytes(b"original")  # an existing name is left alone: tampering stays visible
    assert not store.verify(sha)
    path.unlink()
    with pytest.raises(TamperDetected, match=f"{sha}: missing"):
        store.read_bytes(sha)
    assert not store.exists(sha) and not store.verify(sha)


def test_store_copies_out_only_what_still_matches_its_hash(store, tmp_path):
    """Readable copies (reports/, portfolios/, MLflow artifacts) come from the store,
    re-hashed: an altered stored file is refused, not copied out as if it were evidence."""
    good, bad = store.put_text("weights"), store.put_text("trades")
    paths = store.copy_out(tmp_path / "out", {"a/weights.csv": good})
    assert Path(paths["a/weights.csv"]).read_text() == "weights"
    os.chmod(store.path(bad), 0o600)
    store.path(bad).write_text("tr4des")
    with pytest.raises(TamperDetected, match=bad):
        store.copy_out(tmp_path / "out", {"trades.csv": bad})
    assert not (tmp_path / "out" / "trades.csv").exists()


def test_store_rejects_malformed_hashes(store):
    for bad in ["abc", "G" * 64, "A" * 64, "../" + "0" * 61]:
        with pytest.raises(InputError, match="not a SHA-256"):
            store.path(bad)


# -- ledger API ------------------------------------------------------------------------


def test_append_chains_hashes_and_queries(ledger):
    assert ledger.head() == (0, GENESIS_HASH)
    assert ledger.last() is None and ledger.entries() == []
    arts = build_ledger(ledger, n=5)
    entries = ledger.entries()
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.entry_hash for a, b in itertools.pairwise(entries))
    assert ledger.head() == (5, entries[-1].entry_hash)
    for e in entries:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", e.ts)
        assert e.payload_hash == sha256_bytes(canonical_json(e.payload))
    assert entries[2].artifacts == arts and entries[2].payload["artifacts"] == arts
    assert [e.seq for e in ledger.entries(action=Action.DATA_INGESTED)] == [1, 3, 5]
    assert [e.seq for e in ledger.entries(action=Action.DATA_INGESTED, after_seq=1)] == [3, 5]
    assert [e.seq for e in ledger.entries(subject="data:2")] == [2]
    assert ledger.last().seq == 5
    assert ledger.last(action=Action.GATE_DATA_QUALITY).seq == 4
    assert ledger.last(action="nope") is None
    assert ledger.by_key("k3") == entries[2] and ledger.by_key("zz") is None
    assert [e.seq for e in ledger.tail(2)] == [4, 5]
    assert ledger.verify() == VerifyReport(ok=True, entries=5)


def test_payload_is_canonical_json_with_nan_as_null(ledger):
    entry = ledger.append("x.y", actor="a", payload={"z": float("nan"), "a": [1.0, "ü"], "n": 3})
    assert entry.payload == {"a": [1.0, "ü"], "n": 3, "z": None}
    assert ledger.entries()[0] == entry  # what append returns is what is stored


def test_idempotency_key_returns_the_existing_entry(ledger):
    first = ledger.append(Action.RUN_STARTED, actor="a", payload={"try": 1}, idempotency_key="r1")
    again = ledger.append(Action.RUN_STARTED, actor="b", payload={"try": 1}, idempotency_key="r1")
    other = ledger.append(Action.RUN_STARTED, actor="a", payload={"try": 3}, idempotency_key="r2")
    assert again == first and again.payload == {"try": 1}
    assert other.seq == 2 and ledger.head()[0] == 2
    assert ledger.append(Action.RUN_STARTED, actor="a").seq == 3  # no key: always appends


def test_idempotency_key_refuses_a_different_entry(ledger):
    ledger.append(
        Action.RUN_STARTED, actor="a", payload={"try": 1, "run": "x"}, idempotency_key="r1"
    )
    for action, payload in [
        (Action.RUN_STARTED, {"try": 2, "run": "x"}),
        ("run.ended", {"try": 1}),
    ]:
        with pytest.raises(IdempotencyConflict, match="'r1': already names entry 1"):
            ledger.append(action, actor="a", payload=payload, idempotency_key="r1")
    # A resumed run's new flow-run id is not a different entry when the caller says so.
    again = ledger.append(
        Action.RUN_STARTED,
        actor="a",
        payload={"try": 1, "run": "y"},
        idempotency_key="r1",
        replay_ignores=("run",),
    )
    assert again.seq == 1 and ledger.head()[0] == 1


def test_append_refuses_unknown_artifacts_and_bad_payloads(ledger):
    with pytest.raises(InputError, match=r"'report'.*not in the store"):
        ledger.append("x.y", actor="a", artifacts={"report": "0" * 64})
    with pytest.raises(InputError, match="not a SHA-256"):
        ledger.append("x.y", actor="a", artifacts={"report": "deadbeef"})
    with pytest.raises(InputError, match="must be a mapping"):
        ledger.append("x.y", actor="a", payload=[1, 2])
    assert ledger.head()[0] == 0  # nothing half-written
    sha = ledger.store.put_text("hello")
    entry = ledger.append("x.y", actor="a", payload={"artifacts": {"a": sha}}, artifacts={"b": sha})
    assert entry.artifacts == {"a": sha, "b": sha}


def test_threads_share_one_ledger(ledger):
    # Prefect's default task runner uses threads: each takes its own pooled connection.
    def work(t: int) -> None:
        for i in range(25):
            ledger.append("test.thread", actor=f"t{t}", payload={"t": t, "i": i})

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(4)))
    report = ledger.verify()
    assert report.ok and report.entries == 100
    assert ledger.head()[0] == 100


def test_bad_ledger_urls_are_input_errors(tmp_path, store):
    with pytest.raises(InputError, match="not a database URL"):
        Ledger("::nope::", store)
    with pytest.raises(InputError, match="use sqlite"):
        Ledger("mysql://u:secret@h/db", store)
    with pytest.raises(InputError, match="in-memory"):
        Ledger("sqlite://", store)
    with pytest.raises(InputError, match="ledger database") as err:
        Ledger("postgresql+psycopg://u:secret@127.0.0.1:1/x", store)
    assert "secret" not in str(err.value)


# -- RunContext ------------------------------------------------------------------------


def test_run_context_records_once_per_run_action_and_subject(workspace):
    ctx = RunContext.open(workspace, actor="alice", role="developer", flow_run_id="fr-1")
    try:
        assert len(ctx.run_key) == 32 and ctx.store == ArtifactStore.of(workspace)
        sha = ctx.store.put_json({"ok": True})
        e1 = ctx.record(Action.GATE_DATA_QUALITY, subject="data:x", payload={"decision": "pass"})
        e2 = ctx.record(Action.GATE_DATA_QUALITY, subject="data:x", payload={"decision": "halt"})
        e3 = ctx.record(Action.GATE_DATA_QUALITY, subject="data:y", artifacts={"result": sha})
        assert e1 == e2 and e3.seq == 2
        assert e1.idempotency_key == f"{ctx.run_key}:gate.data_quality:data:x"
        assert e1.payload == {"decision": "pass", "flow_run_id": "fr-1", "run_key": ctx.run_key}
        assert (e3.actor, e3.role, e3.artifacts) == ("alice", "developer", {"result": sha})
    finally:
        ctx.close()
    # A rerun under the same run key appends nothing; a new run appends again.
    with Ledger.open(workspace) as led:
        rerun = RunContext(workspace, led, led.store, "alice", "developer", None, ctx.run_key)
        assert (
            rerun.record(Action.GATE_DATA_QUALITY, subject="data:x", payload={"decision": "pass"})
            == e1
        )
        fresh = RunContext.open(workspace, actor="bob")
        assert fresh.record(Action.GATE_DATA_QUALITY, subject="data:x").seq == 3
        assert fresh.flow_run_id is None and fresh.role == "system"
        fresh.close()
        assert led.verify().ok


def test_run_context_pickles_for_worker_processes(workspace):
    ctx = RunContext.open(workspace, actor="alice", flow_run_id="fr-2")
    clone = pickle.loads(pickle.dumps(ctx))
    try:
        assert (clone.run_key, clone.ledger.url) == (ctx.run_key, ctx.ledger.url)
        first = clone.record(Action.MODEL_REGISTERED, subject="fold:1")
        assert ctx.record(Action.MODEL_REGISTERED, subject="fold:1") == first
        assert ctx.ledger.head() == (1, first.entry_hash)
    finally:
        ctx.close()
        clone.close()


# -- workspace verification -------------------------------------------------------------


def test_verify_workspace_runs_the_given_checks_in_order(workspace):
    with Ledger.open(workspace) as led:
        build_ledger(led, n=3)
    calls = []

    def fine(ws, ledger):
        calls.append(ledger.head()[0])

    def unsigned(ws, ledger):
        return VerifyReport(False, 3, 2, "approval at entry 2 has no valid signature")

    def raising(ws, ledger):
        raise TamperDetected("registry: champion alias moved outside governance")

    assert verify_workspace(workspace, checks=(fine,)) == VerifyReport(ok=True, entries=3)
    assert calls == [3]
    assert verify_workspace(workspace, checks=(fine, unsigned, raising)).first_bad_seq == 2
    report = verify_workspace(workspace, checks=(raising, unsigned))
    assert not report.ok and report.reason == "registry: champion alias moved outside governance"
    checks = (signed_acts_hold, registry_matches_ledger, acceptances_signed, publications_hold)
    assert checks == integrity.CHECKS


def test_cli_verify_reports_failed_check(workspace, monkeypatch, cli, capsys):
    failing = (lambda ws, ledger: VerifyReport(False, 0, None, "signature check failed"),)
    monkeypatch.setattr(integrity.verify_workspace, "__defaults__", (None, failing))
    assert cli("ledger", "verify") == 3
    assert capsys.readouterr().err.strip() == "ledger: signature check failed"


# -- ledger show -----------------------------------------------------------------------


def test_show_table_tail_and_json(workspace, cli, capsys):
    assert cli("ledger", "show") == 0
    assert capsys.readouterr().out.strip() == "ledger: no entries"
    with Ledger.open(workspace) as led:
        build_ledger(led, n=4)
        entries = led.entries()
    assert cli("ledger", "show") == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ["seq", "time", "(UTC)", "actor/role", "action", "subject", "hash"]
    assert len(lines) == 5
    assert lines[3].split()[0] == "3" and entries[2].entry_hash[:12] in lines[3]
    assert "alice/developer" in lines[1] and Action.GATE_DATA_QUALITY in lines[2]
    assert cli("ledger", "show", "--tail", "2") == 0
    assert [ln.split()[0] for ln in capsys.readouterr().out.strip().splitlines()[1:]] == ["3", "4"]
    assert cli("ledger", "show", "--tail", "2", "--json") == 0
    shown = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert shown["entries"] == [e.to_json() for e in entries[2:]]
    assert shown["head"]["seq"] == entries[-1].seq


def test_show_rejects_bad_tail(cli, capsys):
    with pytest.raises(SystemExit) as exc:
        cli("ledger", "show", "--tail", "0")
    assert exc.value.code == 2
    assert "must be a positive integer" in capsys.readouterr().err


def test_a_remembered_frontier_is_used_only_at_the_head_it_was_made_for(ledger, workspace):
    """Each Ledger remembers the tree's frontier at the head it last committed and reuses it
    when its next write transaction reads that head. Two writers on one database take
    turns, and a failed transaction rolls back after extending the frontier: every append
    still lands in a tree whose stored root equals the root recomputed from the entries."""
    other = Ledger(ledger.url, ledger.store)
    try:
        for i in range(9):
            writer = ledger if i % 3 else other  # the other writer moves the head between
            writer.append(Action.DATA_INGESTED, actor="alice", subject=f"d{i}", payload={"i": i})
        with pytest.raises(RuntimeError), ledger.transaction() as tx:
            tx.append(Action.DATA_INGESTED, actor="alice", subject="rolled back", payload={})
            raise RuntimeError("the transaction fails after its append")
        ledger.append(Action.DATA_INGESTED, actor="alice", subject="after", payload={})
        other.append(Action.DATA_INGESTED, actor="alice", subject="last", payload={})
    finally:
        other.dispose()
    report = ledger.verify()
    assert report.ok and report.entries == 11, report


@pytest.mark.pg
def test_a_scratch_database_used_before_is_as_empty_as_a_new_one(pg_url, tmp_path):
    """A test's scratch PostgreSQL database is one an earlier test of the process used and
    left (tests/test_ledger_support.py: the same database, by its oid): it comes under a
    new name (the log's origin is derived from the URL) with nothing the earlier test left
    in it (the ledger's tables, a table, a function)."""
    import sqlalchemy as sa
    from test_ledger_support import raw_sql, scratch_pg_database

    def facts(url: str) -> tuple[int, int]:
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                return conn.execute(sa.text(
                    "SELECT (SELECT oid FROM pg_database WHERE datname = current_database()),"
                    " (SELECT count(*) FROM pg_class c JOIN pg_namespace n"
                    "  ON n.oid = c.relnamespace WHERE n.nspname = 'public')"
                    " + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n"
                    "  ON n.oid = p.pronamespace WHERE n.nspname = 'public')")).one()  # fmt: skip
        finally:
            engine.dispose()

    with scratch_pg_database(pg_url) as first:
        with Ledger(first, ArtifactStore(tmp_path / "store")) as ledger:
            ledger.append(Action.DATA_INGESTED, actor="alice", subject="d", payload={})
        raw_sql(first, "CREATE TABLE left_behind (x int)",
                "CREATE FUNCTION f() RETURNS int AS 'SELECT 1' LANGUAGE sql")  # fmt: skip
        oid, objects = facts(first)
        assert objects > 3  # the ledger's tables and indexes, the table and the function
    with scratch_pg_database(pg_url) as second:
        assert facts(second) == (oid, 0) and second != first
