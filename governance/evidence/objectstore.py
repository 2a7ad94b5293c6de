"""An archive's second location: a local folder, or an S3 object store (``s3://BUCKET/PREFIX``).

:func:`location` parses ``archive create --dir``. A :class:`Folder` writes a file once and
makes it read-only; an :class:`S3` location (boto3, the optional ``s3`` extra; its endpoint
and credentials from boto3's own environment: ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID`` ...)
writes an object once (``If-None-Match: *``: an existing key is never replaced) with its
SHA-256 checksum, and, when the bucket has S3 Object Lock, in compliance mode until the
archive's retention ends (a legal hold instead under ``records.legal_hold``): then the store
itself refuses a deletion inside the retention, whoever asks (SEC rule 17a-4(f)'s
write-once storage). Reading back returns the bytes (for the caller to hash and verify
as an auditor would) and the checksum the store computed on receipt.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from governance.ground.errors import Forbidden, InputError, TamperDetected
from governance.ground.files import RECORD_MODE

__all__ = ["S3", "Folder", "locate", "location"]


@dataclass(frozen=True)
class Folder:
    """A local folder (``archive create --dir DIR``)."""

    root: Path

    def url(self, name: str) -> str:
        return str((self.root / name).resolve())

    def exists(self, name: str) -> bool:
        return (self.root / name).exists()

    def put_once(self, name: str, data: bytes, until: dt.date | None) -> dict:
        path = self.root / name
        with open(path, "xb") as fh:  # never over an existing file
            fh.write(data)
        os.chmod(path, RECORD_MODE)
        return {}

    def read(self, name: str, version_id: str | None = None) -> tuple[bytes, None] | None:
        try:
            return (self.root / name).read_bytes(), None
        except FileNotFoundError:
            return None

    def delete(self, name: str, version_id: str | None = None) -> None:
        (self.root / name).unlink(missing_ok=True)


@dataclass(frozen=True)
class S3:
    """A bucket and key prefix (``archive create --dir s3://BUCKET/PREFIX``)."""

    bucket: str
    prefix: str

    def client(self):
        try:
            import boto3
        except ImportError:
            raise InputError("--dir s3://...: needs boto3 (pip install 'alphagate[s3]')") from None
        return boto3.client("s3")

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def url(self, name: str) -> str:
        return f"s3://{self.bucket}/{self.key(name)}"

    def exists(self, name: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client().head_object(Bucket=self.bucket, Key=self.key(name))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise InputError(f"--dir {self.url(name)}: {exc}") from None
        return True

    def _locked(self, client) -> bool:
        from botocore.exceptions import ClientError

        try:
            conf = client.get_object_lock_configuration(Bucket=self.bucket)
        except ClientError:
            return False
        return conf.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"

    def put_once(self, name: str, data: bytes, until: dt.date | None) -> dict:
        """Write ``data`` at ``name`` unless the key exists; return what the store recorded
        (version id, checksum, lock)."""
        from botocore.exceptions import ClientError

        client = self.client()
        extra: dict = {}
        locked = self._locked(client)
        if locked and until is None:
            extra["ObjectLockLegalHoldStatus"] = "ON"
        elif locked:  # the lock ends when the retention does (the day after retain_until)
            end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
            extra.update(ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=end)
        try:
            put = client.put_object(
                Bucket=self.bucket, Key=self.key(name), Body=data, IfNoneMatch="*",
                ChecksumAlgorithm="SHA256", **extra,
            )  # fmt: skip
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "PreconditionFailed":
                raise Forbidden(f"archive {self.url(name)}: exists already; an archive is"
                                " written once and never replaced") from None  # fmt: skip
            raise InputError(f"--dir {self.url(name)}: {exc}") from None
        lock = "legal_hold" if "ObjectLockLegalHoldStatus" in extra else extra.get("ObjectLockMode")
        return {"version_id": put.get("VersionId"), "object_lock": lock}

    def read(self, name: str, version_id: str | None) -> tuple[bytes, str | None] | None:
        """The object's bytes and the SHA-256 the store holds for it; None when gone."""
        from botocore.exceptions import ClientError

        args = {"VersionId": version_id} if version_id else {}
        try:
            got = self.client().get_object(
                Bucket=self.bucket, Key=self.key(name), ChecksumMode="ENABLED", **args
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "NoSuchVersion", "404"):
                return None
            raise TamperDetected(f"archive {self.url(name)}: unreadable ({exc})") from None
        stored = got.get("ChecksumSHA256")
        digest = base64.b64decode(stored).hex() if stored else None
        return got["Body"].read(), digest

    def delete(self, name: str, version_id: str | None) -> None:
        args = {"VersionId": version_id} if version_id else {}
        self.client().delete_object(Bucket=self.bucket, Key=self.key(name), **args)


def location(where: str | Path) -> Folder | S3:
    """The second location ``--dir`` names."""
    text = str(where)
    if text.startswith("s3://"):
        parsed = urlparse(text)
        if not parsed.netloc:
            raise InputError(f"--dir {text}: no bucket (s3://BUCKET/PREFIX)")
        return S3(parsed.netloc, parsed.path.strip("/"))
    root = Path(text)
    if not root.is_dir():
        raise InputError(f"--dir {root}: folder does not exist")
    return Folder(root)


def locate(recorded: str) -> tuple[Folder | S3, str]:
    """The location and name of an archive from its recorded path or URL."""
    if recorded.startswith("s3://"):
        parsed = urlparse(recorded)
        prefix, _, name = parsed.path.strip("/").rpartition("/")
        return S3(parsed.netloc, prefix), name
    path = Path(recorded)
    return Folder(path.parent), path.name
