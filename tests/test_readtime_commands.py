"""Issue 22, item 4: every deciding command verifies what it reads when it reads it.

The attacker is the database administrator: after ``ledger verify`` (the verified head is
kept outside the workspace), she edits a row a decision reads in place (a trip, a
rejection, an approval, an adoption, an enrolment), once with its payload alone and once
with its payload and entry hashes recomputed, so that the row is self-consistent. The
command's own incremental check re-hashes only what was added since the verified head, so
only read-time verification (governance/log/readtime.py) sees it: the next command that
reads the row is exit 3 naming the row, acts on nothing, and the refusal is recorded as
``integrity.refused``. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import shutil

import pytest

from flows.cli import main
from governance.ground.canonical import canonical_json, sha256_bytes
from governance.ground.refs import ModelRef
from governance.ground.vocabulary import Action
from governance.log.chain import compute_entry_hash
from governance.log.ledger import Ledger
from governance.policy.adoption import policy_in_force
from governance.policy.schema import load_policy
from tests.helpers_identity import POLICY, enrol_cast, keyring_dir, signer, tiny_version


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def env(request, workspace, monkeypatch, tmp_path):
    """The cast enrolled on SQLite or a scratch PostgreSQL ledger; a run config naming the
    shipped policy and the model ``rtc``."""
    from test_ledger_support import backend_url

    with backend_url(request, request.param, workspace, monkeypatch):
        enrol_cast(workspace, monkeypatch=monkeypatch)
        shutil.copy(POLICY, tmp_path / "policy.yaml")
        cfg = tmp_path / "run.yaml"
        cfg.write_text("policy: {file: policy.yaml}\nmodel: {name: rtc}\n")
        yield workspace, cfg


def _verified(ws, capsys) -> None:
    """A later entry (the edited row is not the head, whose hash the head row repeats),
    then ``ledger verify``: the verified head is saved outside the workspace."""
    with Ledger.open(ws) as ledger:
        ledger.append(Action.GATE_PRETRADE, actor="alphagate", subject="portfolio:x", payload={})
    capsys.readouterr()
    assert main(["ledger", "verify", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["ok"]


def edit_in_place(ledger, entry, rehash: bool, **changes) -> None:
    """The DBA's UPDATE of ``entry``'s payload (and, with ``rehash``, of its payload and
    entry hashes, so that the row is consistent with itself)."""
    from test_ledger_support import raw_sql

    text = canonical_json({**entry.payload, **changes}).decode()
    sets = {"p": text, "s": entry.seq}
    stmt = "UPDATE ledger_entries SET payload = :p"
    if rehash:
        fields = {**entry.__dict__, "payload_hash": sha256_bytes(text.encode())}
        stmt += ", payload_hash = :ph, entry_hash = :eh"
        sets.update(ph=fields["payload_hash"], eh=compute_entry_hash(fields))
    raw_sql(ledger.url, stmt + " WHERE seq = :s", **sets)


def _refused(ws, capsys, argv: list[str], entry, watched: tuple[str, ...]) -> None:
    """``argv`` ends with exit 3 in one line naming ``entry``, appends none of ``watched``
    and records ``integrity.refused``."""
    with Ledger.open(ws) as ledger:
        before = ledger.head()[0]
    capsys.readouterr()
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert f"ledger entry {entry.seq} ({entry.action})" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    with Ledger.open(ws) as ledger:
        after = ledger.entries(after_seq=before)
    assert not [e for e in after if e.action in watched]
    refusals = [e for e in after if e.action == Action.INTEGRITY_REFUSED]
    assert refusals and f"ledger entry {entry.seq}" in refusals[-1].payload["problem"]


@pytest.mark.parametrize("rehash", [False, True], ids=["payload", "payload-and-hashes"])
def test_a_trip_edited_after_verify_stops_the_reset_and_the_status(env, capsys, rehash):
    """rita trips; the DBA edits the trip's reason (the payload alone: its hash no longer
    matches; with the hashes: the tree's verified root no longer holds it). omar's reset
    and ``killswitch status`` are exit 3 naming the trip; no reset step is recorded."""
    ws, cfg = env
    assert main(["killswitch", "trip", "--as", "rita", "--reason", "live"]) == 0
    _verified(ws, capsys)
    with Ledger.open(ws) as ledger:
        trip = ledger.last(action=Action.KILLSWITCH_TRIPPED)
        edit_in_place(ledger, trip, rehash, reason="edited")
    reset = ["killswitch", "reset", "--config", str(cfg), "--as", "omar", "--reason", "ok",
             "--incident", "I-1"]  # fmt: skip
    steps = (Action.KILLSWITCH_RESET, Action.KILLSWITCH_RESET_PENDING)
    _refused(ws, capsys, reset, trip, steps)
    _refused(ws, capsys, ["killswitch", "status"], trip, steps)


def _approve(cfg, who: str, version: str) -> list[str]:
    return ["approve", "--config", str(cfg), "--model-version", version, "--as", who]


def test_a_rejection_edited_after_verify_approves_nothing(env, capsys):
    """rita rejects v1; the DBA rewrites the rejection as a self-consistent row (its
    decision made ``approve``): vera's approval is exit 3 naming it, nothing approved."""
    from governance.decisions.approvals import reject

    ws, cfg = env
    version, _ = tiny_version(ws, "rtc")
    tier = load_policy(POLICY)[0].tier("high")
    with Ledger.open(ws) as ledger:
        h = policy_in_force(ledger).policy_hash
        rejected = reject(ws, ledger, ModelRef.parse("rtc", version), signer(ws, "rita", ledger), "no",
                          tier=tier, tier_name="high", policy_hash=h).entry  # fmt: skip
    _verified(ws, capsys)
    with Ledger.open(ws) as ledger:
        edit_in_place(ledger, rejected, True, decision="approve")
    watched = (Action.APPROVAL_GRANTED, Action.MODEL_PROMOTED)
    _refused(ws, capsys, _approve(cfg, "vera", version), rejected, watched)
    _refused(ws, capsys, ["status", "--config", str(cfg)], rejected, watched)


def test_an_approval_edited_after_verify_promotes_nothing(env, capsys):
    """vera approves v1; the DBA rewrites her approval in place (its signer's role): rita's
    approval, which would complete the promotion, is exit 3 naming it; nothing promoted."""
    ws, cfg = env
    version, _ = tiny_version(ws, "rtc")
    assert main(_approve(cfg, "vera", version)) == 0
    _verified(ws, capsys)
    with Ledger.open(ws) as ledger:
        vera = ledger.last(action=Action.APPROVAL_GRANTED)
        edit_in_place(ledger, vera, True, role="risk_officer")
    watched = (Action.APPROVAL_GRANTED, Action.MODEL_PROMOTED)
    _refused(ws, capsys, _approve(cfg, "rita", version), vera, watched)


def test_an_adoption_edited_after_verify_decides_nothing(env, capsys):
    """The DBA rewrites the adoption in force in place (its champion rule): every command
    that reads the policy in force (the reset's tier, ``policy show``) is exit 3 naming it."""
    ws, cfg = env
    assert main(["killswitch", "trip", "--as", "rita", "--reason", "live"]) == 0
    _verified(ws, capsys)
    with Ledger.open(ws) as ledger:
        adopted = ledger.last(action=Action.POLICY_ADOPTED)
        edit_in_place(ledger, adopted, True, champion_rule={"rule": "until", "date": "2999-01-01"})
    reset = ["killswitch", "reset", "--config", str(cfg), "--as", "omar", "--reason", "ok",
             "--incident", "I-1"]  # fmt: skip
    steps = (Action.KILLSWITCH_RESET, Action.KILLSWITCH_RESET_PENDING)
    _refused(ws, capsys, reset, adopted, steps)
    _refused(ws, capsys, ["policy", "show"], adopted, ())


def test_an_enrolment_edited_after_verify_proves_no_one(env, capsys):
    """The DBA rewrites rita's enrolment in place (her role): the next command rita proves
        her identity for (a trip) is exit 3 naming the enrolment, nothing is tripped; so is
    ``users list``. The fold
        of an unchanged ledger is cached in the process: the cache holds only while the rows
        read are the ones it was folded from."""
    from governance.identity.users import load_registry

    ws, _cfg = env
    _verified(ws, capsys)
    with Ledger.open(ws) as ledger:
        load_registry(ledger)  # the process's cached fold of this head, before the edit
    with Ledger.open(ws) as ledger:
        rita = next(
            e
            for e in ledger.entries(action=Action.USER_ADDED)
            if e.payload["signed"]["name"] == "rita"
        )
        edit_in_place(ledger, rita, True, role="admin")
    trip = ["killswitch", "trip", "--as", "rita", "--reason", "x"]
    _refused(ws, capsys, trip, rita, (Action.KILLSWITCH_TRIPPED,))
    _refused(ws, capsys, ["users", "list"], rita, ())


def test_a_revocation_broken_and_put_back_still_revokes(env, capsys):
    """The bound property's slow-variant finding, as an attack on a long-lived process (the
    worker of ``alphagate serve``) that folded the users before ada revoked omar from her
    own shell. The DBA breaks the revocation in place (its signed reason: the signature no
    longer holds; the row's stored hashes untouched), lets the process read it unverified
    (``ledger verify``: exit 3), then puts the row back. The process's cached fold was keyed
    by the rows' stored hashes, which the edit left as they were, so the fold of the broken
    row (omar enrolled) served the genuine one and omar's trip went through. Now it is
    refused (exit 4, omar is revoked) and nothing is tripped."""
    import os
    import subprocess
    import sys

    from test_ledger_support import raw_sql

    ws, _cfg = env
    _verified(ws, capsys)
    admin = ["--as", "ada", "--key", str(keyring_dir(ws) / "ada.key")]
    revoke = [sys.executable, "-m", "flows.cli", "users", "revoke", "omar", "--reason", "left"]
    assert subprocess.run([*revoke, *admin], env=os.environ, capture_output=True).returncode == 0
    with Ledger.open(ws) as ledger:
        revoked = ledger.last(action=Action.USER_REVOKED)
        signed = {**revoked.payload["signed"], "reason": "kept"}
        edit_in_place(ledger, revoked, False, signed=signed)
    capsys.readouterr()
    assert main(["ledger", "verify"]) == 3
    with Ledger.open(ws) as ledger:  # the DBA puts the row back as it was
        raw_sql(ledger.url, "UPDATE ledger_entries SET payload = :p WHERE seq = :s",
                p=canonical_json(revoked.payload).decode(), s=revoked.seq)  # fmt: skip
    capsys.readouterr()
    assert main(["killswitch", "trip", "--as", "omar", "--reason", "x"]) == 4
    assert "revoked" in capsys.readouterr().err
    with Ledger.open(ws) as ledger:
        assert not ledger.entries(action=Action.KILLSWITCH_TRIPPED)
