"""Retention and archive (issue 27, item 8): ``alphagate archive create`` writes a period's
evidence pack to a second location, verifies the copy there and records it with the retention
the adopted policy sets; ``alphagate archive verify`` holds every recorded archive to it.

The attacks: replace an archive by archiving again, delete it, or swap its bytes for
another valid pack, inside the retention period: refused (exit 4) or caught (exit 3). After
its retention an archive may go; under legal hold it may not.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import stat

import pytest

from flows.cli import main
from governance.ground.vocabulary import Action, Subject
from governance.log.ledger import Ledger
from tests.helpers_e2e import cli_out
from tests.helpers_identity import enrol_cast, tiny_version

NAME = "kept"


@pytest.fixture
def archived(workspace, monkeypatch, tmp_path, capsys):
    enrol_cast(workspace, monkeypatch=monkeypatch)
    tiny_version(workspace, NAME)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    second = tmp_path / "second-location"
    second.mkdir()
    code, doc, err = cli_out(capsys, "archive", "create", "--strategy", NAME, "--from", today,
                             "--to", today, "--dir", str(second), "--as", "rita", "--json")  # fmt: skip
    assert code == 0, err
    return {"doc": doc, "dir": second, "today": today}


def test_the_archive_is_verified_where_it_lies_and_recorded_with_its_retention(
    workspace, archived, capsys
):
    doc, today = archived["doc"], dt.date.fromisoformat(archived["today"])
    path = archived["dir"] / f"{NAME}-{today}-{today}.zip"
    assert doc["path"] == str(path.resolve())
    assert doc["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert doc["retention_years"] == 7 and doc["legal_hold"] is False  # the policy's default
    assert doc["retain_until"] == str(today.replace(year=today.year + 7))
    assert not os.stat(path).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    with Ledger.open(workspace) as ledger:
        entry = ledger.last(action=Action.RECORDS_ARCHIVED)
    assert (entry.seq, entry.actor, entry.role) == (doc["ledger_entry"], "rita", "risk_officer")
    assert entry.subject == Subject.period(NAME, str(today), str(today))
    assert entry.payload["sha256"] == doc["sha256"] and doc["entries"] > 0
    # an auditor's check of the copy, offline
    assert main(["evidence", "verify", str(path)]) == 0
    code, shown, _ = cli_out(capsys, "archive", "verify", "--json")
    assert code == 0 and [a["state"] for a in shown["archives"]] == ["held"]


def test_an_archive_is_never_replaced(archived, capsys):
    """The attack: archive the same period again, after doctoring the ledger view, to
    overwrite the copy: refused, the file untouched, nothing recorded."""
    path = archived["dir"] / f"{NAME}-{archived['today']}-{archived['today']}.zip"
    before = path.read_bytes()
    os.chmod(path, 0o644)
    code, _doc, err = cli_out(capsys, "archive", "create", "--strategy", NAME, "--from",
                              archived["today"], "--to", archived["today"], "--dir",
                              str(archived["dir"]))  # fmt: skip
    assert code == 4 and "never replaced" in err and path.read_bytes() == before, err


def test_a_period_archived_again_elsewhere_verifies(workspace, archived, tmp_path, capsys):
    """A second copy of the same period (another location) verifies. The first copy's
    ``records.archived`` entry has the period itself as its subject; like an
    ``evidence.exported`` entry it records a copy, not a decision, and no pack must hold it
    (governance/evidence/proof.py, ``COPIES``). Before, the copy's own verification
    demanded it ("in the log but missing from the pack", exit 3)."""
    today, first = archived["today"], archived["doc"]["ledger_entry"]
    third = tmp_path / "third-location"
    third.mkdir()
    code, doc, err = cli_out(capsys, "archive", "create", "--strategy", NAME, "--from", today,
                             "--to", today, "--dir", str(third), "--as", "rita", "--json")  # fmt: skip
    assert code == 0, err
    import zipfile

    with zipfile.ZipFile(third / f"{NAME}-{today}-{today}.zip") as z:
        held = {e["seq"] for e in json.loads(z.read("ledger/entries.json"))}
    assert first not in held and doc["ledger_entry"] > first and doc["entries"] == len(held)
    code, shown, _ = cli_out(capsys, "archive", "verify", "--json")
    assert code == 0 and [a["state"] for a in shown["archives"]] == ["held", "held"]


@pytest.mark.parametrize("attack", ["delete", "swap"])
def test_a_deleted_or_swapped_archive_within_retention_is_caught(
    workspace, archived, tmp_path, capsys, attack
):
    """Delete the archive, or swap its bytes for another valid pack (a later period's,
    with a kinder story): ``archive verify`` is exit 3 and names the archive."""
    path = archived["dir"] / f"{NAME}-{archived['today']}-{archived['today']}.zip"
    os.chmod(path, 0o644)
    if attack == "delete":
        path.unlink()
    else:
        other = tmp_path / "other"
        other.mkdir()
        main(["evidence", "export", "--strategy", NAME, "--from", archived["today"],
              "--to", archived["today"], "--out", str(other / "p.zip")])  # fmt: skip
        path.write_bytes((other / "p.zip").read_bytes())
    code, _doc, err = cli_out(capsys, "archive", "verify")
    state = "missing" if attack == "delete" else "altered"
    assert code == 3 and f"is {state}" in err and str(path.resolve()) in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_after_retention_an_archive_may_go_unless_on_legal_hold(workspace, archived, monkeypatch):
    import governance.evidence.archive as archive
    from governance.policy.records import RecordsPolicy

    path = archived["dir"] / f"{NAME}-{archived['today']}-{archived['today']}.zip"
    os.chmod(path, 0o644)
    path.unlink()
    until = dt.date.fromisoformat(archived["doc"]["retain_until"])
    with Ledger.open(workspace) as ledger:
        (inside,) = archive.check_archives(ledger, today=until)
        (after,) = archive.check_archives(ledger, today=until + dt.timedelta(days=1))
        assert (inside.state, inside.breach) == ("missing", True)
        assert (after.state, after.breach) == ("expired", False)
        held = RecordsPolicy(legal_hold=[NAME])
        monkeypatch.setattr(archive, "records_policy", lambda _ledger: held)
        (hold,) = archive.check_archives(ledger, today=until + dt.timedelta(days=1))
    assert (hold.state, hold.breach, hold.legal_hold) == ("missing", True, True)


def test_bad_input_is_one_line(workspace, tmp_path, capsys):
    for argv, said, want in (
        (["--from", "2027-01-01", "--to", "2027-01-02", "--dir", str(tmp_path / "no")],
         "does not exist", 2),
        (["--from", "yesterday", "--to", "2027-01-02", "--dir", str(tmp_path)], "--from", 2),
    ):  # fmt: skip
        code, _doc, err = cli_out(capsys, "archive", "create", "--strategy", NAME, *argv)
        assert code == want and said in err and "Traceback" not in err, err
        assert len(err.strip().splitlines()) == 1


def test_retention_is_bounded_in_the_policy():
    from pydantic import ValidationError

    from governance.policy.records import RecordsPolicy, retain_until

    with pytest.raises(ValidationError):
        RecordsPolicy(retention_years=0)
    assert retain_until(dt.date(2024, 2, 29), 7) == dt.date(2031, 2, 28)
    assert json.loads(RecordsPolicy().model_dump_json())["retention_years"] == 7
