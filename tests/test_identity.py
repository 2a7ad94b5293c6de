"""Proven identity: personal keys outside the workspace, a signed genesis, enrolment by an
admin's signature, the registry derived from the ledger. Each rule is tested by the attack
it stops, through ``flows.cli.main`` where a person would type it."""

from __future__ import annotations

import json
import stat
import subprocess

import pytest

from flows.cli import main
from governance.ground.errors import Forbidden, InputError
from governance.ground.vocabulary import Action
from governance.identity.keys import load_private_key, load_public_key, new_key_file, public_hex
from governance.identity.users import Role, load_registry
from governance.log.ledger import Ledger
from tests.helpers_identity import enrol_cast, keyring_dir, make_key


def _cli(capsys, *argv):
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def home(workspace, tmp_path, monkeypatch):
    """A workspace initialised by admin ``ada`` whose keys sit in ``tmp_path/keys``."""
    monkeypatch.delenv("ALPHAGATE_KEY", raising=False)
    monkeypatch.delenv("ALPHAGATE_KEYRING", raising=False)
    keys = tmp_path / "keys"
    for name in ("ada", "rita", "dana", "mallory"):
        assert main(["keys", "new", "--out", str(keys / f"{name}.key")]) == 0
    assert main(["init", "--admin", "ada", "--key", str(keys / "ada.key")]) == 0
    return workspace, keys


def _enrol(keys, name, role, admin="ada", key=None):
    return main(
        ["users", "add", name, "--role", role, "--public-key", str(keys / f"{name}.key.pub"),
         "--as", admin, "--key", str(key or keys / f"{admin}.key")]
    )  # fmt: skip


def test_keys_new_writes_openssh_0600_and_never_overwrites(workspace, tmp_path, monkeypatch):
    path = tmp_path / "k" / "me.key"
    monkeypatch.setenv("MYPASS", "correct horse")
    assert main(["keys", "new", "--out", str(path), "--passphrase-env", "MYPASS"]) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"OPENSSH PRIVATE KEY" in path.read_bytes()
    assert main(["keys", "new", "--out", str(path)]) == 2  # never overwrites
    monkeypatch.delenv("ALPHAGATE_KEY_PASSPHRASE", raising=False)
    with pytest.raises(InputError, match="passphrase-protected"):
        load_private_key(path)  # no TTY under pytest: no prompt, a clear line
    monkeypatch.setenv("ALPHAGATE_KEY_PASSPHRASE", "wrong")
    with pytest.raises(Forbidden, match="wrong passphrase"):
        load_private_key(path)
    monkeypatch.setenv("ALPHAGATE_KEY_PASSPHRASE", "correct horse")
    assert public_hex(load_private_key(path)) == load_public_key(f"{path}.pub")


def test_ssh_keygen_and_pkcs8_pem_keys_load(workspace, tmp_path, monkeypatch):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    ssh = tmp_path / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "s3cret", "-f", str(ssh)], check=True
    )
    monkeypatch.setenv("ALPHAGATE_KEY_PASSPHRASE", "s3cret")
    assert public_hex(load_private_key(ssh)) == load_public_key(f"{ssh}.pub")
    pem = tmp_path / "k.pem"
    key = Ed25519PrivateKey.generate()
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    assert public_hex(load_private_key(pem)) == public_hex(key)
    new_key_file(tmp_path / "x.key")
    with pytest.raises(InputError, match="private key"):
        load_public_key(tmp_path / "x.key")  # a private key is never a --public-key


def test_genesis_once_and_enrolment_needs_an_admin_signature(home, capsys):
    ws, keys = home
    assert main(["init", "--admin", "ada", "--key", str(keys / "ada.key")]) == 2  # once
    assert _enrol(keys, "rita", "risk_officer") == 0
    assert _enrol(keys, "dana", "developer") == 0
    # attack: self-enrolment of accomplices by a developer, and by an unknown key
    assert _enrol(keys, "mallory", "risk_officer", admin="dana") == 4
    assert _enrol(keys, "mallory", "risk_officer", admin="ada", key=keys / "dana.key") == 4
    assert _enrol(keys, "mallory", "risk_officer", admin="mallory") == 4
    # one public key is never registered under two names
    code = main(
        ["users", "add", "rita2", "--role", "validator", "--public-key",
         str(keys / "rita.key.pub"), "--as", "ada", "--key", str(keys / "ada.key")]
    )  # fmt: skip
    assert code == 4
    code, out, _ = _cli(capsys, "users", "list", "--json")
    users = json.loads(out.strip().splitlines()[-1])["users"]
    assert [(u["name"], u["role"]) for u in users] == [
        ("ada", "admin"), ("rita", "risk_officer"), ("dana", "developer"),
    ]  # fmt: skip
    with Ledger.open(ws) as ledger:
        refused = [e.payload["action"] for e in ledger.entries(action=Action.IDENTITY_REFUSED)]
        assert "users add" in refused  # the attempts are on the record
        assert ledger.entries(action=Action.USER_REFUSED)
    code, out, err = _cli(capsys, "ledger", "verify")
    assert code == 0, out + err


def test_hand_edited_users_json_counts_for_nothing_and_verify_says_so(home, capsys):
    ws, keys = home
    assert _enrol(keys, "rita", "risk_officer") == 0
    data = json.loads(ws.users_file.read_text())
    pub = load_public_key(keys / "mallory.key.pub")
    data["users"].append({"name": "mallory", "role": "risk_officer", "public_key": pub})
    ws.users_file.write_text(json.dumps(data))
    # mallory's key proves nothing: the registry is the signed ledger entries
    code, _, err = _cli(
        capsys, "killswitch", "trip", "--as", "mallory", "--key", str(keys / "mallory.key"),
        "--reason", "x",
    )  # fmt: skip
    assert code == 4 and "not the registered key" in err
    code, out, _ = _cli(capsys, "ledger", "verify", "--json")
    report = json.loads(out.strip().splitlines()[-1])
    assert code == 3 and "users.json differs" in report["reason"]
    assert "(edited by hand: mallory not enrolled)" in report["reason"]
    # a role raised by hand is named as changed, not as one user both added and missing
    for user in data["users"]:
        if user["name"] == "rita":
            user["role"] = "admin"
    ws.users_file.write_text(json.dumps(data))
    code, out, _ = _cli(capsys, "ledger", "verify", "--json")
    reason = json.loads(out.strip().splitlines()[-1])["reason"]
    assert code == 3 and "mallory not enrolled; rita changed (role or key))" in reason


def test_as_is_a_claim_the_key_must_prove(home, capsys, monkeypatch):
    ws, keys = home
    assert _enrol(keys, "rita", "risk_officer") == 0
    assert _enrol(keys, "dana", "developer") == 0
    # attack: dana trips "as rita" with her own key, then with no key at all
    trip = ["killswitch", "trip", "--reason", "x", "--as", "rita"]
    code, _, err = _cli(capsys, *trip, "--key", str(keys / "dana.key"))
    assert code == 4 and "is not the registered key of 'rita'" in err
    code, _, err = _cli(capsys, *trip)
    assert code == 4 and "--as USER with --key FILE" in err
    # a key copied into the workspace is refused even when it is the right one
    inside = ws.home / "rita.key"
    inside.write_bytes((keys / "rita.key").read_bytes())
    code, _, err = _cli(capsys, *trip, "--key", str(inside))
    assert code == 4 and "inside the workspace" in err
    with Ledger.open(ws) as ledger:
        assert len(ledger.entries(action=Action.IDENTITY_REFUSED)) == 3
        assert not ledger.entries(action=Action.KILLSWITCH_TRIPPED)
    # ALPHAGATE_KEY works like --key
    monkeypatch.setenv("ALPHAGATE_KEY", str(keys / "rita.key"))
    assert main(["killswitch", "trip", "--reason", "x", "--as", "rita"]) == 0


def test_revoked_user_signs_nothing_and_roles_are_judged_at_the_time(home, capsys):
    ws, keys = home
    assert _enrol(keys, "rita", "risk_officer") == 0
    assert _enrol(keys, "dana", "developer") == 0
    rita = ["--as", "rita", "--key", str(keys / "rita.key")]
    assert main(["killswitch", "trip", "--reason", "loss", *rita]) == 0
    admin = ["--as", "ada", "--key", str(keys / "ada.key")]
    assert main(["users", "revoke", "rita", "--reason", "left", *admin]) == 0
    code, _, err = _cli(capsys, "killswitch", "trip", "--reason", "again", *rita)
    assert code == 4 and "revoked" in err
    # the trip rita signed while enrolled still holds; verify is clean
    assert _cli(capsys, "ledger", "verify")[0] == 0
    assert main(["users", "role", "dana", "--role", "validator", *admin]) == 0
    with Ledger.open(ws) as ledger:
        reg = load_registry(ledger)
        role_change = ledger.last(action=Action.USER_ROLE_CHANGED).seq
        assert reg.at("dana", role_change).role is Role.DEVELOPER
        assert reg.at("dana").role is Role.VALIDATOR
        trip = ledger.last(action=Action.KILLSWITCH_TRIPPED).seq
        assert reg.at("rita") is None and reg.at("rita", trip).role is Role.RISK_OFFICER


def test_admin_may_not_enrol_or_change_themselves_nor_act_in_other_roles(home, capsys):
    _ws, keys = home
    admin = ["--as", "ada", "--key", str(keys / "ada.key")]
    assert main(["users", "role", "ada", "--role", "risk_officer", *admin]) == 4
    code, _, err = _cli(capsys, "killswitch", "trip", "--reason", "x", *admin)
    assert code == 4 and "has role admin" in err


def test_helper_cast_keyring_lies_beside_the_workspace(workspace, monkeypatch):
    keys = enrol_cast(workspace, monkeypatch=monkeypatch)
    assert all(workspace.home not in p.parents for p in keys.values())
    assert make_key(workspace, "rita").parent == keyring_dir(workspace)
    with Ledger.open(workspace) as ledger:
        assert {u.name for u in load_registry(ledger).users()} >= {"dana", "vera", "rita"}
    assert main(["killswitch", "trip", "--as", "rita", "--reason", "x"]) == 0  # keyring key


def test_a_public_key_passed_as_key_ends_in_one_line_naming_it(home, capsys):
    """The easy slip of passing ``rita.key.pub`` as ``--key``: exit 2, one line naming the
    file and what to pass instead; no library message or URL, nothing recorded as signed."""
    ws, keys = home
    assert _enrol(keys, "rita", "risk_officer") == 0
    pub = keys / "rita.key.pub"
    code, _, err = _cli(capsys, "killswitch", "trip", "--reason", "x", "--as", "rita",
                        "--key", str(pub))  # fmt: skip
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, err
    assert str(pub) in lines[0] and "public key" in lines[0] and "rita.key" in lines[0]
    assert "cryptography" not in err and "http" not in err
    with Ledger.open(ws) as ledger:
        assert not ledger.entries(action=Action.KILLSWITCH_TRIPPED)


@pytest.mark.parametrize(
    "argv",
    [
        ["approve", "--model-version", "1", "--reason", ""],
        ["reject", "--model-version", "1", "--reason", "   "],
        ["findings", "accept", "F-1", "--reason", "\t", "--until", "2030-01-01"],
        ["killswitch", "trip", "--reason", ""],
        ["killswitch", "reset", "--reason", " "],
    ],
    ids=["approve", "reject", "findings accept", "trip", "reset"],
)
def test_a_blank_reason_is_refused_before_anything_is_signed(argv, home, capsys):
    """A reason is what a signed decision says for itself: given blank, exit 2 naming
    ``--reason`` (argparse, before any key is read or anything recorded)."""
    ws, keys = home
    capsys.readouterr()
    with pytest.raises(SystemExit) as usage:
        main([*argv, "--as", "rita", "--key", str(keys / "rita.key")])
    err = capsys.readouterr().err
    assert usage.value.code == 2 and "--reason" in err.splitlines()[-1] and "blank" in err
    with Ledger.open(ws) as ledger:
        assert not ledger.entries(action=Action.IDENTITY_REFUSED)
