"""Issue 28: one command folds the users and the adoptions dozens of times; what the process
keeps between those folds must not let a row edited in place be used.

What is kept (governance/identity/users.py :func:`signed_problems`) is the registry-free half
of a signed act's check (signature, digest, binding), keyed by the exact text read from the
database, never by a stored hash. Every read still re-reads and re-verifies its rows
(governance/log/readtime.py). The attacker is the database administrator, between two reads
of one process (the worker of ``alphagate serve``, or one command's many folds):

- a user or adoption row edited in place after the process folded it is refused at the next
  verified read exactly as in a fresh process (exit 3's message, ``integrity.refused``);
- a row whose signed document is edited with its stored hashes left alone, read unverified
  (``ledger verify``'s path) after the genuine row was checked, is checked again: the edit is
  other bytes, so the genuine row's result is not served for it.
"""

from __future__ import annotations

import pytest

from governance.ground.errors import TamperDetected
from governance.ground.vocabulary import Action
from governance.identity.users import act_problems, load_registry, signed_problems
from governance.log.ledger import Ledger
from governance.log.readtime import verified_ledger
from governance.policy.adoption import policy_in_force
from tests.helpers_identity import enrol_cast
from tests.test_readtime_commands import _verified, edit_in_place


@pytest.fixture
def ws(workspace, monkeypatch):
    enrol_cast(workspace, monkeypatch=monkeypatch)
    return workspace


def _fold_everything(ws) -> None:
    """One verified read of the users and the adoptions, as a decision makes it."""
    with verified_ledger(ws, "status") as ledger:
        assert load_registry(ledger).at("rita") is not None
        assert policy_in_force(ledger) is not None


def _rita(ledger):
    return next(
        e for e in ledger.entries(action=Action.USER_ADDED) if e.payload["signed"]["name"] == "rita"
    )


def _refused_at_next_read(ws, entry) -> None:
    """The next verified read is exit 3 naming ``entry``; the refusal is recorded."""
    with pytest.raises(TamperDetected, match=rf"ledger entry {entry.seq} \({entry.action}\)"):
        _fold_everything(ws)
    with Ledger.open(ws) as ledger:
        refused = ledger.last(action=Action.INTEGRITY_REFUSED)
    assert refused is not None and f"ledger entry {entry.seq}" in refused.payload["problem"]


@pytest.mark.parametrize("rehash", [False, True], ids=["payload", "payload-and-hashes"])
def test_an_enrolment_edited_between_two_reads_of_one_process(ws, capsys, rehash):
    _verified(ws, capsys)
    _fold_everything(ws)  # the process has checked every user and adoption row
    _fold_everything(ws)  # and reads them again: the same answer
    with Ledger.open(ws) as ledger:
        rita = _rita(ledger)
        edit_in_place(ledger, rita, rehash, role="admin")
    _refused_at_next_read(ws, rita)


@pytest.mark.parametrize("rehash", [False, True], ids=["payload", "payload-and-hashes"])
def test_an_adoption_edited_between_two_reads_of_one_process(ws, capsys, rehash):
    _verified(ws, capsys)
    _fold_everything(ws)
    with Ledger.open(ws) as ledger:
        adopted = ledger.last(action=Action.POLICY_ADOPTED)
        rule = {"rule": "until", "date": "2999-01-01"}
        edit_in_place(ledger, adopted, rehash, champion_rule=rule)
    _refused_at_next_read(ws, adopted)


def test_an_edited_document_with_stale_hashes_is_checked_again(ws):
    """The memo's key is the text read: rita's enrolment, checked genuine, then its signed
    document edited (her role) with the stored hashes left as they were. Read unverified
    (as ``ledger verify`` reads, to report it), it is a broken signature, not the genuine
    row's empty answer; put back, it holds again."""
    with Ledger.open(ws) as ledger:
        rita = _rita(ledger)
        registry = load_registry(ledger)
        assert act_problems(registry, rita, None) == []
        signed = {**rita.payload["signed"], "role": "admin"}
        edit_in_place(ledger, rita, False, signed=signed)
        edited = _rita(ledger)
        assert (edited.payload_hash, edited.entry_hash) == (rita.payload_hash, rita.entry_hash)
        problems = act_problems(registry, edited, None)
        assert "Ed25519 signature does not verify" in problems
        assert signed_problems(edited) != signed_problems(rita)
        edit_in_place(ledger, edited, False, signed=rita.payload["signed"])
        assert act_problems(registry, _rita(ledger), None) == []
