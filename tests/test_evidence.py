"""Evidence packs: export through the CLI, verify offline, and catch every altered byte.

The workspace holds a real ledger, artifact store and Ed25519-signed approval; the pack is
exported by run id (no MLflow needed here; tests/test_governance_approvals.py exports a
pack for a real registered model version).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from flows.cli import main
from governance.decisions.context import RunContext
from governance.evidence.verify import manifest_digest, verify_pack
from governance.ground.canonical import canonical_json, sha256_bytes
from governance.ground.vocabulary import Action
from governance.registry.versions import ModelFacts
from tests.helpers_identity import CAST

REPO = Path(__file__).resolve().parents[1]


def _png() -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 1))
    ax.bar(["a", "b"], [0.3, 0.7])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    """A workspace with a flow run's entries, artifacts and a signed approval; its pack."""
    from governance.decisions.approvals import record_signed_decision
    from governance.decisions.promotion import ValidationFacts
    from governance.ground.workspace import Workspace
    from governance.identity.signing import append_signed
    from tests.helpers_identity import enrol_cast, signer

    tmp_path = tmp_path_factory.mktemp("evidence")
    mp = pytest.MonkeyPatch()
    mp.setenv("ALPHAGATE_HOME", str(tmp_path / "home"))
    mp.delenv("ALPHAGATE_LEDGER_URL", raising=False)
    workspace = Workspace(tmp_path / "home").ensure()
    mp.setenv("MLFLOW_TRACKING_URI", workspace.tracking_uri)

    enrol_cast(workspace, policy=REPO / "configs" / "policy.yaml")  # the config names it
    ctx = RunContext.open(workspace, actor="vera", role="validator", flow_run_id="flow-1")
    report = ctx.store.put_json({"verdict": "pass", "findings": []})
    shap = ctx.store.put_bytes(_png())
    ctx.record(Action.RUN_STARTED, subject="run:flow-1", payload={"mlflow_run_id": "mlrun-1"})
    ctx.ledger.append(Action.DATA_INGESTED, actor="x", payload={"mlflow_run_id": "mlrun-1"})
    val = append_signed(
        ctx.ledger,
        signer(workspace, "vera", ctx.ledger),
        Action.VALIDATION_COMPLETED,
        subject="model:m/v1",
        payload={"model_name": "m", "model_version": "1", "verdict": "pass",
                 "flow_run_id": "flow-1"},
        artifacts={"report.json": report, "shap_summary.png": shap},
    )  # fmt: skip
    ctx.ledger.append(Action.GATE_PRETRADE, actor="y", payload={"decision": "pass"})  # unrelated
    policy_sha = ctx.store.put_bytes((REPO / "configs" / "policy.yaml").read_bytes())
    facts = ModelFacts("m", 1, "mlrun-1", "dana", "candidate", "f" * 64, "a" * 64)
    vfacts = ValidationFacts("pass", report, val.entry_hash, val.seq)
    record_signed_decision(
        ctx.ledger, facts, vfacts, signer=signer(workspace, "rita", ctx.ledger),
        decision="approve", reason="ok", policy_hash=policy_sha, tier_name="high",
    )  # fmt: skip
    append_signed(
        ctx.ledger, signer(workspace, "rita", ctx.ledger), Action.KILLSWITCH_TRIPPED,
        subject="killswitch", payload={"reason": "t"},
    )  # fmt: skip
    ctx.close()
    (tmp_path / "policy.yaml").write_bytes((REPO / "configs" / "policy.yaml").read_bytes())
    cfg = tmp_path / "run.yaml"
    cfg.write_text("policy: {file: policy.yaml, tier: high}\n")
    out = tmp_path / "pack.zip"
    assert (
        main(["evidence", "export", "--run-id", "mlrun-1", "--out", str(out), "--config", str(cfg)])
        == 0
    )
    yield out
    mp.undo()


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _write(path: Path, files: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)


def test_pack_contents_and_offline_verification(pack, capsys):
    files = _members(pack)
    entries = json.loads(files["ledger/entries.json"])
    actions = [e["action"] for e in entries]
    # linked by the MLflow run id, then by flow run id; the unrelated gate is left out
    assert Action.RUN_STARTED in actions and Action.VALIDATION_COMPLETED in actions
    assert Action.DATA_INGESTED in actions and Action.GATE_PRETRADE not in actions
    assert Action.KILLSWITCH_TRIPPED in actions and actions.count(Action.USER_ADDED) == len(
        CAST
    )  # every enrolment
    assert any(n.startswith("approvals/") for n in files)
    assert any(n.endswith("shap_summary.png") for n in files)
    assert {"config/run.yaml", "environment.json", "index.html"} <= set(files)
    # the policy in force at the approval, by the hash it records; not the exporter's file
    assert "config/policy.yaml" not in files
    (policy,) = [n for n in files if n.startswith("policy/")]
    assert files[policy] == (REPO / "configs" / "policy.yaml").read_bytes()
    assert {"ledger/checkpoint.txt", "ledger/proofs.json", "ledger/index.json"} <= set(files)
    index = files["index.html"].decode()
    assert "data:image/png;base64," in index and "<script" not in index
    assert "http://" not in index and "https://" not in index
    capsys.readouterr()
    assert main(["evidence", "verify", str(pack), "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # every signed act in the pack: vera's verdict, rita's approval and her trip
    assert report["ok"] and report["signatures"] == 3 and report["entries"] == len(entries)
    assert report["checkpoint"]["witnesses"] and report["checkpoint"]["size"] >= len(entries)


def test_one_changed_byte_in_any_file_is_caught_and_named(pack, tmp_path, capsys):
    files = _members(pack)
    for name, data in files.items():
        i = len(data) // 2
        bad = dict(files)
        bad[name] = data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]
        target = tmp_path / "bad.zip"
        _write(target, bad)
        capsys.readouterr()
        assert main(["evidence", "verify", str(target)]) == 3, name
        assert name in capsys.readouterr().err, name


def test_added_file_and_raw_zip_corruption_are_caught(pack, tmp_path, capsys):
    files = _members(pack)
    _write(tmp_path / "extra.zip", {**files, "notes.txt": b"trust me"})
    assert main(["evidence", "verify", str(tmp_path / "extra.zip")]) == 3
    assert "notes.txt" in capsys.readouterr().err
    raw = bytearray(pack.read_bytes())
    with zipfile.ZipFile(pack) as zf:
        info = zf.getinfo("ledger/entries.json")
    raw[info.header_offset + 30 + len(info.filename) + 5] ^= 0xFF  # inside the member's data
    (tmp_path / "raw.zip").write_bytes(bytes(raw))
    assert main(["evidence", "verify", str(tmp_path / "raw.zip")]) == 3
    assert main(["evidence", "verify", str(tmp_path / "absent.zip")]) == 2


def _remanifest(files: dict[str, bytes]) -> dict[str, bytes]:
    """Recompute every hash of the manifest: what a careful forger would do."""
    manifest = json.loads(files["manifest.json"])
    from governance.evidence.proof import SEALED

    manifest["files"] = {
        n: sha256_bytes(d) for n, d in files.items() if n != "manifest.json" and n not in SEALED
    }
    manifest["self_digest"] = manifest_digest(manifest)
    return {**files, "manifest.json": json.dumps(manifest).encode()}


@pytest.mark.parametrize("edit", ["signature", "reason", "payload"])
def test_forged_but_remanifested_pack_is_still_caught(pack, tmp_path, edit):
    from governance.ground.errors import TamperDetected

    files = _members(pack)
    entries = json.loads(files["ledger/entries.json"])
    target = next(e for e in entries if e["action"] == Action.APPROVAL_GRANTED)
    if edit == "signature":
        s = target["payload"]["signature"]
        target["payload"]["signature"] = ("1" if s[0] == "0" else "0") + s[1:]
    elif edit == "reason":
        target["payload"]["signed"]["reason"] = "rubber stamp"
        target["payload_hash"] = sha256_bytes(canonical_json(target["payload"]))
    else:
        target["payload"]["decision"] = "reject"
    files["ledger/entries.json"] = json.dumps(entries).encode()
    _write(tmp_path / "forged.zip", _remanifest(files))
    with pytest.raises(
        TamperDetected, match=r"manifest\.json: not the manifest the ledger recorded"
    ):
        verify_pack(tmp_path / "forged.zip")


def _forged(files: dict[str, bytes], tmp_path: Path) -> str:
    from governance.ground.errors import TamperDetected

    _write(tmp_path / "forged.zip", _remanifest(files))
    with pytest.raises(TamperDetected) as caught:
        verify_pack(tmp_path / "forged.zip")
    return str(caught.value)


def test_entries_removed_and_manifest_recomputed_are_caught(pack, tmp_path):
    files = _members(pack)
    entries = json.loads(files["ledger/entries.json"])
    kept = [
        e
        for e in entries
        if e["action"] not in (Action.KILLSWITCH_TRIPPED, Action.APPROVAL_GRANTED)
    ]
    files["ledger/entries.json"] = json.dumps(kept).encode()
    manifest = json.loads(files["manifest.json"])
    manifest["entries"] = [e["seq"] for e in kept]
    files["manifest.json"] = json.dumps(manifest).encode()
    assert "not the manifest the ledger recorded" in _forged(files, tmp_path)
    # Even with the export entry rewritten to match, its inclusion proof fails.
    export = json.loads(files["ledger/export.json"])
    export["payload"]["entries"] = manifest["entries"]
    files = _remanifest(files)
    export["payload"]["manifest_sha256"] = sha256_bytes(files["manifest.json"])
    export["payload_hash"] = sha256_bytes(canonical_json(export["payload"]))
    files["ledger/export.json"] = json.dumps(export).encode()
    _write(tmp_path / "forged2.zip", files)
    from governance.ground.errors import TamperDetected

    with pytest.raises(
        TamperDetected, match=r"ledger/export\.json: seq \d+: not in the witnessed log"
    ):
        verify_pack(tmp_path / "forged2.zip")


@pytest.mark.parametrize("member", ["index.html", "config/run.yaml", "environment.json", "policy"])
def test_members_not_named_by_an_entry_are_bound_too(pack, tmp_path, member):
    files = _members(pack)
    name = next(n for n in files if n.startswith(member))
    files[name] = files[name] + b"\n<!-- rewritten -->\n"
    assert "not the manifest the ledger recorded" in _forged(files, tmp_path)


def test_relabelled_entry_or_member_and_an_added_entry_are_caught(pack, tmp_path):
    files = _members(pack)
    name = next(n for n in files if n.startswith("artifacts/"))
    relabelled = {**files, name.replace("artifacts/", "artifacts/x"): files[name]}
    del relabelled[name]
    assert "not the manifest the ledger recorded" in _forged(relabelled, tmp_path)
    entries = json.loads(files["ledger/entries.json"])
    entries[0]["action"] = Action.APPROVAL_REFUSED
    assert "not the manifest" in _forged(
        {**files, "ledger/entries.json": json.dumps(entries).encode()}, tmp_path
    )
    from governance.evidence.proof import check_sealed

    manifest = json.loads(files["manifest.json"])
    from governance.ground.errors import TamperDetected

    with pytest.raises(TamperDetected, match=r"entries\.json: seq \d+: not in the witnessed log"):
        check_sealed(files, manifest, entries)  # the manifest binding aside, the proof fails


def test_tampered_pack_index_claims_no_verification_it_cannot_make(pack, tmp_path, capsys):
    """Edit one member and re-zip: ``evidence verify`` exits 3, and the static ``index.html``
    (written at export, unchanged) never showed a green VERIFIED badge to begin with: it states
    what was verified at export and sends the auditor to ``alphagate evidence verify``."""
    files = _members(pack)
    files["config/run.yaml"] = files["config/run.yaml"] + b"# edited after export\n"
    _write(tmp_path / "tampered.zip", files)
    capsys.readouterr()
    assert main(["evidence", "verify", str(tmp_path / "tampered.zip")]) == 3
    index = files["index.html"].decode()
    assert "VERIFIED" not in index and 'class="badge pass"' not in index
    assert ">VERIFY OFFLINE</span>" in index  # the badge names the act, in the neutral tone
    assert "at export" in index and "alphagate evidence verify" in index
    assert "cannot tell" in index  # the page says it is no proof of the pack's integrity


def test_a_file_that_is_no_zip_is_a_user_mistake_a_damaged_zip_is_not(pack, tmp_path, capsys):
    """Passing the wrong file (a config, the index page) to ``evidence verify`` is exit 2 with
    one line naming it; a zip cut short (what a tamperer leaves) stays exit 3."""
    wrong = tmp_path / "run.yaml"
    wrong.write_text("policy: {file: policy.yaml}\n")
    capsys.readouterr()
    assert main(["evidence", "verify", str(wrong)]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and str(wrong) in lines[0] and "not a zip" in lines[0]
    cut = tmp_path / "cut.zip"
    cut.write_bytes(pack.read_bytes()[:-200])
    assert main(["evidence", "verify", str(cut)]) == 3
    assert "cut.zip" in capsys.readouterr().err
