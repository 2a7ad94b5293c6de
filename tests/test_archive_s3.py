"""Archives in an S3 object store (issue 27, item 8): ``archive create --dir s3://BUCKET/PREFIX``
against a real S3 API, moto's server on 127.0.0.1 (the ``dev`` extra), through boto3.

The copy is read back from the store and verified there (its bytes re-hashed, the store's own
SHA-256 checksum compared, the pack verified as an auditor would). In a bucket with Object Lock
the object is locked in compliance mode until the retention ends, so the store itself refuses
a deletion inside it; in a bucket without, ``archive verify`` catches the deletion.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

import pytest

from tests.helpers_e2e import cli_out
from tests.helpers_identity import enrol_cast, tiny_version

moto_server = pytest.importorskip("moto.server", reason="moto (the dev extra) is not installed")
boto3 = pytest.importorskip("boto3")

NAME = "kept"


@pytest.fixture
def s3(monkeypatch):
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for key, value in (("AWS_ENDPOINT_URL", f"http://{host}:{port}"),
                       ("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):  # fmt: skip
        monkeypatch.setenv(key, value)
    try:
        yield boto3.client("s3")
    finally:
        server.stop()


def _archive(workspace, monkeypatch, s3, capsys, bucket: str, lock: bool) -> dict:
    enrol_cast(workspace, monkeypatch=monkeypatch)
    tiny_version(workspace, NAME)
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=lock)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    code, doc, err = cli_out(capsys, "archive", "create", "--strategy", NAME, "--from", today,
                             "--to", today, "--dir", f"s3://{bucket}/alphagate/archives",
                             "--as", "rita", "--json")  # fmt: skip
    assert code == 0, err
    return doc


def _key(doc) -> str:
    return f"alphagate/archives/{NAME}-{doc['from']}-{doc['to']}.zip"


def test_the_copy_in_the_store_is_read_back_verified_and_locked(workspace, monkeypatch, s3, capsys):
    doc = _archive(workspace, monkeypatch, s3, capsys, "locked", lock=True)
    key = _key(doc)
    assert doc["path"] == f"s3://locked/{key}" and doc["object_lock"] == "COMPLIANCE"
    got = s3.get_object(Bucket="locked", Key=key, VersionId=doc["version_id"],
                        ChecksumMode="ENABLED")  # fmt: skip
    data = got["Body"].read()
    assert hashlib.sha256(data).hexdigest() == doc["sha256"] and len(data) == doc["size"]
    assert base64.b64decode(got["ChecksumSHA256"]).hex() == doc["sha256"]  # the store's own
    until = dt.date.fromisoformat(doc["retain_until"])
    assert got["ObjectLockRetainUntilDate"].date() == until + dt.timedelta(days=1)
    code, shown, err = cli_out(capsys, "archive", "verify", "--json")
    assert code == 0 and [a["state"] for a in shown["archives"]] == ["held"], err

    from botocore.exceptions import ClientError

    # 1. Archive the same period again: the key exists, the store is never written over.
    code, _, err = cli_out(capsys, "archive", "create", "--strategy", NAME, "--from",
                           doc["from"], "--to", doc["to"], "--dir",
                           "s3://locked/alphagate/archives")  # fmt: skip
    assert code == 4 and "never replaced" in err, err
    # 2. Delete the locked version with the store's own API: refused by S3 Object Lock.
    with pytest.raises(ClientError, match="AccessDenied"):
        s3.delete_object(Bucket="locked", Key=key, VersionId=doc["version_id"])
    # 3. Write a kinder object over the key, then hide it behind a delete marker: the record
    #    names the version it verified, which is still there.
    s3.put_object(Bucket="locked", Key=key, Body=b"a kinder story")
    s3.delete_object(Bucket="locked", Key=key)
    code, shown, err = cli_out(capsys, "archive", "verify", "--json")
    assert code == 0 and [a["state"] for a in shown["archives"]] == ["held"], err
    # 4. The product's own disposal inside the retention: refused.
    code, _, err = cli_out(capsys, "archive", "dispose", "--archive", str(doc["ledger_entry"]),
                           "--as", "rita")  # fmt: skip
    assert code == 4 and "under retention" in err, err


def test_a_deletion_from_a_bucket_without_lock_is_caught(workspace, monkeypatch, s3, capsys):
    doc = _archive(workspace, monkeypatch, s3, capsys, "plain", lock=False)
    assert doc["object_lock"] is None
    s3.delete_object(Bucket="plain", Key=_key(doc))
    code, shown, err = cli_out(capsys, "archive", "verify", "--json")
    assert [a["state"] for a in shown["archives"]] == ["missing"], err
    assert code == 3 and f"s3://plain/{_key(doc)}" in err and "is missing" in err, err
