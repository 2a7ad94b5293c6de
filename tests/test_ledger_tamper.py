"""Tampering is caught by ``alphagate ledger verify`` (exit 3, right sequence number).

Each case builds a 6-entry ledger (entry 3 records an artifact), tampers with it the way an
attacker with database or file access would, and runs the real CLI through
``flows.cli.main``. Then hypothesis: untouched random chains verify; any single-field
mutation of any entry is reported at that entry.
"""

from __future__ import annotations

import json
import os
import stat
import string
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_ledger_support import BACKENDS, backend_url, build_ledger, raw_sql

from flows.cli import main
from governance.ground.artifacts import ArtifactStore
from governance.ground.canonical import canonical_json
from governance.log.ledger import Ledger


@pytest.fixture(params=BACKENDS)
def built(request, workspace, monkeypatch, tmp_path):
    """``(url, ledger, artifacts)``: a 6-entry ledger of the test workspace, on each backend."""
    # main() sets PREFECT_HOME with setdefault; pin it here so the test leaves no trace.
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    with backend_url(request, request.param, workspace, monkeypatch) as url:
        ledger = Ledger.open(workspace)
        arts = build_ledger(ledger)
        yield url, ledger, arts
        ledger.dispose()


def run_verify(capsys) -> tuple[int, dict, str]:
    code = main(["ledger", "verify", "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out.strip().splitlines()[-1]), err.strip()


def assert_caught(capsys, seq: int, words: str) -> None:
    code, report, err = run_verify(capsys)
    assert code == 3
    assert report["ok"] is False
    assert report["first_bad_seq"] == seq
    assert words in report["reason"]
    assert err.splitlines()[0] == f"ledger: entry {seq}: {report['reason']}"
    assert set(report) >= {"ok", "entries", "first_bad_seq", "reason"}


def test_untouched_ledger_verifies(built, capsys):
    code, report, err = run_verify(capsys)
    assert (code, err) == (0, "")
    contract = {"ok": True, "entries": 6, "first_bad_seq": None, "reason": None}
    assert {k: report[k] for k in contract} == contract
    assert (report["tree_size"], report["mode"]) == (6, "full")


def test_edited_payload(built, capsys):
    url, _, _ = built
    raw_sql(url, "UPDATE ledger_entries SET payload = :p WHERE seq = 4", p='{"i":40}')
    assert_caught(capsys, 4, "payload edited")


def test_edited_payload_with_recomputed_payload_hash(built, capsys):
    url, _, _ = built
    body = canonical_json({"i": 40}).decode()
    from governance.ground.canonical import sha256_bytes

    raw_sql(
        url,
        "UPDATE ledger_entries SET payload = :p, payload_hash = :h WHERE seq = 2",
        p=body,
        h=sha256_bytes(body.encode()),
    )
    assert_caught(capsys, 2, "entry_hash does not match")


def test_deleted_entry(built, capsys):
    url, _, _ = built
    raw_sql(url, "DELETE FROM ledger_entries WHERE seq = 2")
    assert_caught(capsys, 2, "entry missing")


def test_swapped_entries(built, capsys):
    url, _, _ = built
    raw_sql(
        url,
        "UPDATE ledger_entries SET seq = -1 WHERE seq = 2",
        "UPDATE ledger_entries SET seq = 2 WHERE seq = 5",
        "UPDATE ledger_entries SET seq = 5 WHERE seq = -1",
    )
    assert_caught(capsys, 2, "entries swapped")


def test_truncated_tail(built, capsys):
    url, _, _ = built
    raw_sql(url, "DELETE FROM ledger_entries WHERE seq >= 5")
    assert_caught(capsys, 5, "truncated")


def test_altered_artifact_file(built, capsys):
    _, ledger, arts = built
    path = ledger.store.path(arts["report"])
    os.chmod(path, stat.S_IWUSR | stat.S_IRUSR)
    path.write_bytes(b'{"rows":[1,2,4]}')
    assert_caught(capsys, 3, "file altered")


def test_missing_artifact_file(built, capsys):
    _, ledger, arts = built
    ledger.store.path(arts["report"]).unlink()
    assert_caught(capsys, 3, "missing")


def test_appended_behind_checkpoint(built, capsys):
    url, ledger, _ = built
    raw_sql(url, "UPDATE ledger_head SET seq = 5, hash = :h", h=ledger.entries()[4].entry_hash)
    assert_caught(capsys, 6, "behind the head checkpoint")


def test_deleted_checkpoint(built, capsys):
    url, ledger, _ = built
    raw_sql(url, "DELETE FROM ledger_head")
    assert_caught(capsys, 7, "checkpoint missing")
    from governance.ground.errors import TamperDetected

    with pytest.raises(TamperDetected, match="checkpoint"):
        ledger.append("x.y", actor="mallory")


# -- hypothesis ------------------------------------------------------------------------

SAFE_INT = 2**53 - 1  # RFC 8785 (I-JSON) numbers: integers beyond 2^53 are not exact
json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-SAFE_INT, SAFE_INT)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
payloads = st.dictionaries(st.text(max_size=8), json_value, max_size=4)
name = st.text(alphabet=string.ascii_lowercase + "._:é中", min_size=1, max_size=10)
appends = st.lists(
    st.fixed_dictionaries(
        {
            "action": name,
            "actor": name,
            "role": st.sampled_from(["system", "developer", "validator", "risk_officer"]),
            "subject": st.text(max_size=10),
            "payload": payloads,
            "key": st.none() | st.sampled_from(["k1", "k2", "k3"]),
        }
    ),
    min_size=1,
    max_size=8,
)
PROPERTY = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _fresh_ledger(root: Path) -> Ledger:
    return Ledger(f"sqlite:///{root / 'ledger.db'}", ArtifactStore(root / "artifacts"))


def _append_all(ledger: Ledger, ops: list[dict]) -> list:
    """Append each op; a repeated key replays its first op (a different one is refused)."""
    first: dict[str, dict] = {}
    out = []
    for op in ops:
        if op["key"] is not None:
            op = first.setdefault(op["key"], op)
        out.append(
            ledger.append(
                op["action"],
                actor=op["actor"],
                role=op["role"],
                subject=op["subject"],
                payload=op["payload"],
                idempotency_key=op["key"],
            )
        )
    return out


@PROPERTY
@given(ops=appends)
def test_random_untouched_chains_verify(ops):
    with tempfile.TemporaryDirectory() as tmp, _fresh_ledger(Path(tmp)) as ledger:
        returned = _append_all(ledger, ops)
        stored = ledger.entries()
        report = ledger.verify()
        assert report.ok, report
        # A repeated idempotency key returns the first entry and appends nothing.
        distinct_keys = {op["key"] for op in ops if op["key"] is not None}
        expected = sum(op["key"] is None for op in ops) + len(distinct_keys)
        assert report.entries == len(stored) == expected
        assert [e.seq for e in stored] == list(range(1, expected + 1))
        assert ledger.head() == (stored[-1].seq, stored[-1].entry_hash)
        # What append returns is what is stored, payloads as their canonical JSON reads back.
        assert {e.seq: e for e in returned} == {e.seq: e for e in stored}
        for op, entry in zip(ops, returned, strict=True):
            if op["key"] is None:
                assert entry.payload == json.loads(canonical_json(op["payload"]))


_hex64 = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
MUTATIONS = {
    "ts": st.text(max_size=30),
    "actor": st.text(max_size=10),
    "role": st.text(max_size=10),
    "action": st.text(max_size=10),
    "subject": st.text(max_size=10),
    "payload": payloads.map(lambda p: canonical_json(p).decode()),
    "payload_hash": _hex64,
    "prev_hash": _hex64,
    "entry_hash": _hex64,
    "idempotency_key": st.none() | st.text(min_size=1, max_size=10),
    "seq": st.integers(1000, 10**6),  # moved past the end (a smaller seq would collide)
}


@PROPERTY
@given(ops=appends, data=st.data())
def test_any_single_field_mutation_is_caught_at_that_entry(ops, data):
    with tempfile.TemporaryDirectory() as tmp, _fresh_ledger(Path(tmp)) as ledger:
        _append_all(ledger, ops)
        stored = ledger.entries()
        victim = data.draw(st.sampled_from(stored), label="victim")
        field = data.draw(st.sampled_from(sorted(MUTATIONS)), label="field")
        now = getattr(victim, field)
        if field == "payload":  # compare with the stored text
            now = next(r["payload"] for r in ledger.rows() if r["seq"] == victim.seq)
        new = data.draw(MUTATIONS[field].filter(lambda v: v != now), label="value")
        if field == "idempotency_key" and new is not None:
            taken = {e.idempotency_key for e in stored}
            new = new if new not in taken else new + "!"
        engine = sa.create_engine(ledger.url)
        with engine.begin() as conn:
            conn.execute(
                sa.text(f"UPDATE ledger_entries SET {field} = :v WHERE seq = :s"),
                {"v": new, "s": victim.seq},
            )
        engine.dispose()
        report = ledger.verify()
        assert not report.ok
        assert report.first_bad_seq == victim.seq, report
