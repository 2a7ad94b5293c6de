"""Retention per record kind and disposal after it (issue 27, item 8).

The adopted policy keeps each kind of record for its own years; an archive is kept for the
longest kind it holds. ``alphagate archive dispose`` is the only product path that deletes a
record: signed by the policy's ``records.dispose_role``, only past the retention and outside a
legal hold, recorded with the hashes of what went. Every attack a hostile insider with a shell
and her own key can try is written here: under retention, on legal hold, the wrong role, a
replayed disposal, a process clock set forward, and each other product path that writes or
deletes files pointed at a record.

Time moves by replacing the two clocks the product reads (the UTC date the retention is
checked against, and the ledger's entry time): the real ones, nothing else faked.
"""

from __future__ import annotations

import ast
import datetime as dt
import hashlib
from pathlib import Path

import pytest
import yaml

from governance.ground.errors import Forbidden, TamperDetected
from governance.ground.vocabulary import Action, Subject
from governance.log.ledger import Ledger
from tests.helpers_e2e import cli_out
from tests.helpers_identity import POLICY, enrol_cast, tiny_version

NAME = "disposed"
ROOT = Path(__file__).resolve().parents[1]


def _policy(tmp_path, **records) -> Path:
    doc = yaml.safe_load(POLICY.read_text(encoding="utf-8"))
    doc["records"] = {**doc.get("records", {}), **records}
    out = tmp_path / "policy-records.yaml"
    out.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return out


def _archive(workspace, monkeypatch, tmp_path, capsys, **records):
    enrol_cast(workspace, monkeypatch=monkeypatch, policy=_policy(tmp_path, **records))
    tiny_version(workspace, NAME)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    second = tmp_path / "second"
    second.mkdir()
    code, doc, err = cli_out(capsys, "archive", "create", "--strategy", NAME, "--from", today,
                             "--to", today, "--dir", str(second), "--as", "rita", "--json")  # fmt: skip
    assert code == 0, err
    return doc


def _clock(monkeypatch, day: dt.date, ledger_too: bool = True) -> None:
    """Move the UTC date the retention is checked against to ``day`` (and the ledger's
    entry time, unless ``ledger_too`` is False: a process whose own clock lies)."""
    import governance.findings.register as register
    import governance.log.txn as txn

    monkeypatch.setattr(register, "today", lambda: day)
    if ledger_too:
        at = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
        monkeypatch.setattr(txn, "utc_timestamp", lambda now=None: at.strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ"))  # fmt: skip


def _refusals(workspace) -> list[str]:
    with Ledger.open(workspace) as ledger:
        found = ledger.entries(action=Action.RECORDS_DISPOSAL_REFUSED)
    return [e.payload["refusal"] for e in found]


def test_each_kind_has_its_retention_and_an_archive_keeps_the_longest(
    workspace, monkeypatch, tmp_path, capsys
):
    doc = _archive(workspace, monkeypatch, tmp_path, capsys,
                   retention={"validation_reports": 9, "weights": 12})  # fmt: skip
    today = dt.date.fromisoformat(doc["from"])
    # the period holds a training, a registration and a signed validation: no weights
    assert doc["kinds"] == {"ledger": 7, "mlflow_runs": 7, "validation_reports": 9}
    assert doc["retention_years"] == 9 and doc["retain_until"] == str(today.replace(
        year=today.year + 9))  # fmt: skip


def test_disposal_only_after_retention_by_the_policy_role_once(
    workspace, monkeypatch, tmp_path, capsys
):
    doc = _archive(workspace, monkeypatch, tmp_path, capsys)
    seq, path = str(doc["ledger_entry"]), Path(doc["path"])
    until = dt.date.fromisoformat(doc["retain_until"])
    dispose = ("archive", "dispose", "--archive", seq, "--json")
    # 1. Under retention (today, and on its last retained day): refused, recorded, kept.
    for day in (None, until):
        if day:
            _clock(monkeypatch, day)
        code, _, err = cli_out(capsys, *dispose, "--as", "rita")
        assert code == 4 and f"under retention until {until}" in err and path.is_file(), err
        assert err.strip().count("\n") == 0 and "Traceback" not in err
    # 2. The wrong role (a validator; the developer), even past the retention.
    _clock(monkeypatch, until + dt.timedelta(days=1))
    for user, why in (("vera", "records.dispose_role is risk_officer"),
                      ("dana", "needs risk_officer/validator")):  # fmt: skip
        code, _, err = cli_out(capsys, *dispose, "--as", user)
        assert code == 4 and why in err and path.is_file(), err
    assert len(_refusals(workspace)) == 4  # every refusal is on record
    # 3. Past the retention, by the policy's role: recorded with the hash, then deleted.
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    code, out, err = cli_out(capsys, *dispose, "--as", "rita")
    assert code == 0 and not path.exists(), err
    with Ledger.open(workspace) as ledger:
        entry = ledger.last(action=Action.RECORDS_DISPOSED)
        assert (entry.seq, entry.actor, entry.subject) == (out["entry_seq"], "rita",
                                                          Subject.WORKSPACE)  # fmt: skip
        (gone,) = entry.payload["archives"]
        assert (gone["seq"], gone["sha256"], gone["path"]) == (int(seq), sha, str(path))
        # 4. Replay: the same signed disposal appended again is refused by the ledger.
        with pytest.raises(TamperDetected):
            ledger.append(Action.RECORDS_DISPOSED, actor="rita", role="risk_officer",
                          subject=entry.subject, payload=entry.payload)  # fmt: skip
    code, _, err = cli_out(capsys, *dispose, "--as", "rita")
    assert code == 2 and "disposed of already" in err, err
    # the archive is accounted for: disposed after its retention, by a valid signed act
    code, shown, err = cli_out(capsys, "archive", "verify", "--json")
    assert code == 0 and [a["state"] for a in shown["archives"]] == ["disposed"], err
    code, verified, err = cli_out(capsys, "ledger", "verify", "--json")
    assert code == 0 and verified["ok"], err


def test_on_legal_hold_nothing_is_disposed(workspace, monkeypatch, tmp_path, capsys):
    doc = _archive(workspace, monkeypatch, tmp_path, capsys, legal_hold=[NAME])
    assert doc["legal_hold"] is True and doc["retain_until"] is None
    _clock(monkeypatch, dt.date.fromisoformat(doc["from"]) + dt.timedelta(days=366 * 100))
    code, _, err = cli_out(capsys, "archive", "dispose", "--archive", str(doc["ledger_entry"]),
                           "--as", "rita")  # fmt: skip
    assert code == 4 and "under legal hold" in err and Path(doc["path"]).is_file(), err


def test_a_process_clock_set_forward_is_caught(workspace, monkeypatch, tmp_path, capsys):
    """The insider's own process reads a clock past the retention; the ledger's entry time
    is today's. The disposal goes through in her process, and ``archive verify`` (anyone's)
    names it: exit 3, disposed inside the retention."""
    doc = _archive(workspace, monkeypatch, tmp_path, capsys)
    until = dt.date.fromisoformat(doc["retain_until"])
    _clock(monkeypatch, until + dt.timedelta(days=1), ledger_too=False)
    code, _, err = cli_out(capsys, "archive", "dispose", "--archive", str(doc["ledger_entry"]),
                           "--as", "rita")  # fmt: skip
    assert code == 0, err
    monkeypatch.undo()
    monkeypatch.setenv("ALPHAGATE_HOME", str(workspace.home))
    monkeypatch.setenv("ALPHAGATE_WITNESS", str(tmp_path / "witness"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", workspace.tracking_uri)
    code, _, err = cli_out(capsys, "archive", "verify")
    assert code == 3 and "is disposed_early" in err and f"retained until {until}" in err, err


def test_no_other_product_path_overwrites_a_record(workspace, monkeypatch, tmp_path, capsys):
    """``evidence export --out`` pointed at an archive under retention, and the one file
    writer pointed at a file of the artifact store: refused (exit 4), the bytes unchanged."""
    from governance.ground.artifacts import ArtifactStore
    from governance.ground.files import write_atomic

    doc = _archive(workspace, monkeypatch, tmp_path, capsys)
    path = Path(doc["path"])
    before = path.read_bytes()
    code, _, err = cli_out(capsys, "evidence", "export", "--strategy", NAME, "--from",
                           doc["from"], "--to", doc["to"], "--out", str(path))  # fmt: skip
    assert code == 4 and "never replaced" in err and path.read_bytes() == before, err
    store = ArtifactStore.of(workspace)
    sha = store.put_bytes(b"a validation report")
    with pytest.raises(Forbidden):
        write_atomic(store.path(sha), b"a kinder report")
    assert store.verify(sha)


#: Every place product code deletes a file, and why it is no record: each is a temporary
#: file the same call created, a cache outside the workspace, or the disposal itself.
DELETIONS = {
    ("flows/db_templates.py", "unlink"): "the temporary copy of a database template",
    ("governance/log/checkpoint.py", "unlink"): "the temporary file of a new log key",
    ("governance/ground/artifacts.py", "unlink"): "the store's own temporary file",
    ("governance/ground/files.py", "unlink"): "write_atomic's temporary file",
    ("governance/policy/witness_pin.py", "unlink"): "the reader's witness pin (a cache)",
    # disposal after retention (signed), from a folder (an S3 location's is delete_object)
    ("governance/evidence/objectstore.py", "unlink"): "Folder.delete, called by the disposal",
}


def test_every_deletion_in_the_product_is_accounted_for():
    """A new deletion (``unlink``, ``rmtree``, ``os.remove``, ``rmdir``) anywhere in the
    product fails here until it is listed, and a record's goes through the disposal."""
    found = set()
    for folder in ("flows", "governance", "tasks", "validation"):
        for file in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                    continue
                name, on = node.func.attr, getattr(node.func.value, "id", None)
                if name in ("unlink", "rmtree", "rmdir", "removedirs") or (
                    name == "remove" and on == "os"  # not set.remove or list.remove
                ):
                    found.add((str(file.relative_to(ROOT)), name))
    assert found == set(DELETIONS)
