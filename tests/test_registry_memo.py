"""The user registry's fold is kept between reads of one process (issue 21: the suite's
runtime; one command or one enrolment reads the users dozens of times), and what it keeps
must not let an edited row decide.

What is kept (governance/identity/users.py :func:`load_registry`) is the last fold of each
ledger, keyed by the rows it folded as they were read (seq, action, actor, role, subject and
the payload's exact text), never by a stored hash; a read whose rows are that fold's followed
by later rows continues it. The attacker is the database administrator, editing a row in
place between two reads of one process and leaving its stored hashes as they were, so only
the text tells the edit apart (a verified read refuses such a row outright:
tests/test_readtime_memo.py). Every read here is unverified, as ``ledger verify`` and the
enrolment commands read:

- omar's revocation broken in place (its signed reason edited: the signature fails, so the
  fold skips it and omar is enrolled) and folded, then put back: the next read revokes omar,
  with nothing appended since, and with enrolments appended after the broken row and after
  the put-back (a continued fold that trusted the earlier rows it kept would leave omar
  enrolled);
- the continued fold equals a fold from scratch, field by field.
"""

from __future__ import annotations

import pytest

from governance.ground.canonical import canonical_json
from governance.ground.vocabulary import Action, Subject
from governance.identity.enrolment import add_user, revoke_user
from governance.identity.keys import load_private_key, public_hex
from governance.identity.signing import Signer
from governance.identity.users import USER_ACTS, Registry, Role, fold_registry, load_registry
from governance.log.ledger import Ledger
from tests.helpers_identity import ADMIN, enrol_cast, make_key
from tests.test_ledger_support import raw_sql
from tests.test_readtime_commands import edit_in_place


@pytest.fixture
def ws(workspace):
    enrol_cast(workspace)
    return workspace


def _ada(ws) -> Signer:
    key = load_private_key(make_key(ws, ADMIN))
    return Signer(ADMIN, Role.ADMIN.value, public_hex(key), key)


def _from_scratch(ledger) -> Registry:
    return fold_registry(ledger.entries(action=(Action.WORKSPACE_INITIALISED, *USER_ACTS)))


def _same(a: Registry, b: Registry) -> None:
    assert (a.history, a.problems, a.genesis_seq, a.sandbox, a.head_seq) == (
        b.history, b.problems, b.genesis_seq, b.sandbox, b.head_seq,
    )  # fmt: skip


def _broken_revocation(ws, ledger):
    """omar revoked by ada, then the revocation broken in place (stale hashes kept) and
    folded: omar is enrolled in that fold. Returns the genuine revocation entry."""
    revoke_user(ws, ledger, _ada(ws), "omar", "left")
    assert load_registry(ledger).at("omar") is None
    revoked = ledger.last(action=Action.USER_REVOKED)
    edit_in_place(ledger, revoked, False, signed={**revoked.payload["signed"], "reason": "kept"})
    edited = ledger.last(action=Action.USER_REVOKED)
    assert (edited.payload_hash, edited.entry_hash) == (revoked.payload_hash, revoked.entry_hash)
    assert load_registry(ledger).at("omar") is not None  # the fold of the edited rows
    return revoked


def _put_back(ledger, revoked) -> None:
    raw_sql(
        ledger.url, "UPDATE ledger_entries SET payload = :p WHERE seq = :s",
        p=canonical_json(revoked.payload).decode(), s=revoked.seq,
    )  # fmt: skip


def test_a_revocation_broken_folded_and_put_back_revokes_at_the_next_read(ws):
    with Ledger.open(ws) as ledger:
        revoked = _broken_revocation(ws, ledger)
        _put_back(ledger, revoked)
        registry = load_registry(ledger)
        assert registry.at("omar") is None
        _same(registry, _from_scratch(ledger))


def _enrolment(ws, ledger, name: str) -> None:
    """ada's genuine enrolment of ``name``, appended without a read of the users."""
    pub = public_hex(load_private_key(make_key(ws, name)))
    doc, subject = (
        {"name": name, "role": Role.VALIDATOR.value, "public_key": pub},
        Subject.user(name),
    )
    signed = _ada(ws).signed_payload(Action.USER_ADDED, doc, subject=subject)
    ledger.append(
        Action.USER_ADDED, actor=ADMIN, role=Role.ADMIN.value, subject=subject,
        payload={**doc, **signed},
    )  # fmt: skip


def test_a_row_put_back_under_later_rows_is_folded_again(ws):
    """The broken revocation is a middle row of the kept fold (frank's enrolment after it),
    and the read after the put-back has eve's enrolment at its end: the rows are the kept
    fold's with later ones after them only if every earlier row is the same text."""
    with Ledger.open(ws) as ledger:
        revoked = _broken_revocation(ws, ledger)
        _enrolment(ws, ledger, "frank")
        assert load_registry(ledger).at("omar") is not None  # kept: [..., edited, frank]
        _put_back(ledger, revoked)
        _enrolment(ws, ledger, "eve")
        registry = load_registry(ledger)
        assert registry.at("omar") is None
        assert (registry.at("frank").role, registry.at("eve").role) == ("validator",) * 2
        _same(registry, _from_scratch(ledger))


def test_a_continued_fold_is_the_fold_from_scratch(ws):
    """Each enrolment extends the kept fold by one row; the result is the fold of every
    row, and the same rows read again are served the same fold."""
    with Ledger.open(ws) as ledger:
        first = load_registry(ledger)
        assert load_registry(ledger) is first  # nothing appended: the kept fold
        for name in ("eve", "finn"):
            pub = public_hex(load_private_key(make_key(ws, name)))
            add_user(ws, ledger, _ada(ws), name, "developer", pub)
        revoke_user(ws, ledger, _ada(ws), "eve", "left")
        registry = load_registry(ledger)
        assert registry is not first
        assert (registry.at("eve"), registry.at("finn").role) == (None, "developer")
        _same(registry, _from_scratch(ledger))
