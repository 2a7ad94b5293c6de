"""Content-addressed artifact store: every file is named by its SHA-256.

Layout::

    <workspace>/artifacts/<sha[:2]>/<sha>

Writes go to a temporary file in the store and are moved onto their hash name with
``os.replace``, which is atomic on POSIX and Windows: a crash leaves at worst a stray
``.tmp-*`` file, never a hash-named file with partial content. Stored files are made
read-only. Putting the same content twice is a no-op (the existing file is left alone, so
a tampered file stays tampered and :meth:`ArtifactStore.verify` keeps reporting it).

Reads re-hash: :meth:`ArtifactStore.read_bytes` raises :class:`TamperDetected` naming the
hash when the file no longer matches it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from governance.ground.canonical import canonical_json, sha256_file
from governance.ground.errors import InputError, TamperDetected
from governance.ground.files import RECORD_MODE
from governance.ground.workspace import Workspace

_SHA256 = re.compile(r"[0-9a-f]{64}")


def check_sha(sha: str) -> str:
    """Return ``sha`` if it is 64 lower-case hex digits, else raise :class:`InputError`."""
    if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        raise InputError(f"artifact hash {sha!r}: not a SHA-256 (64 lower-case hex digits)")
    return sha


@dataclass(frozen=True)
class ArtifactStore:
    """Files named by their SHA-256 under ``root``.

    Parameters
    ----------
    root : Path or str
        Store folder, ``Workspace.artifacts`` for a workspace (see :meth:`of`). Created on
        the first write.
    """

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @classmethod
    def of(cls, ws: Workspace) -> ArtifactStore:
        """The store of workspace ``ws``."""
        return cls(Path(ws.artifacts))

    # -- writing ---------------------------------------------------------------------

    def put_bytes(self, data: bytes) -> str:
        """Store ``data``; return its hex SHA-256."""
        sha = hashlib.sha256(data).hexdigest()
        if not self.exists(sha):
            tmp = self._temp_file()
            try:
                with open(tmp, "wb") as fh:
                    fh.write(data)
                    _sync(fh)
                self._publish(tmp, sha)
            finally:
                tmp.unlink(missing_ok=True)
        return sha

    def put_json(self, obj: Any) -> str:
        """Store the canonical JSON (RFC 8785) bytes of ``obj``; return their SHA-256."""
        return self.put_bytes(canonical_json(obj))

    def put_text(self, text: str) -> str:
        """Store ``text`` as UTF-8; return its SHA-256."""
        return self.put_bytes(text.encode("utf-8"))

    # -- reading ---------------------------------------------------------------------

    def path(self, sha: str) -> Path:
        """Where the artifact ``sha`` lives (whether or not it exists)."""
        check_sha(sha)
        return self.root / sha[:2] / sha

    def exists(self, sha: str) -> bool:
        """True when a file named ``sha`` is in the store (its content is not checked)."""
        return self.path(sha).is_file()

    def verify(self, sha: str) -> bool:
        """True when the artifact exists and its content still hashes to ``sha``."""
        p = self.path(sha)
        return p.is_file() and sha256_file(p) == sha

    def read_bytes(self, sha: str) -> bytes:
        """The content of artifact ``sha``, re-hashed.

        Raises
        ------
        TamperDetected
            The file is missing or its content no longer hashes to ``sha``.
        """
        p = self.path(sha)
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            raise TamperDetected(f"artifact {sha}: missing from the store {self.root}") from None
        if hashlib.sha256(data).hexdigest() != sha:
            raise TamperDetected(f"artifact {sha}: content no longer matches its hash")
        return data

    def read_json(self, sha: str) -> Any:
        """Parse the JSON artifact ``sha`` (after re-hashing it)."""
        return json.loads(self.read_bytes(sha))

    def copy_out(self, folder: Path | str, artifacts: dict[str, str]) -> dict[str, str]:
        """Copy artifacts ``{name: sha}`` to ``folder/name`` (re-hashed on the way);
        return ``{name: path}``.

        The store keeps the evidence; these readable copies are what people, the MLflow UI
        and downstream systems open. Their hashes are the ones the ledger entries record.
        """
        paths = {}
        for name, sha in artifacts.items():
            target = Path(folder) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self.read_bytes(sha))
            paths[name] = str(target)
        return paths

    # -- internals -------------------------------------------------------------------

    def _temp_file(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".tmp-", dir=self.root)
        os.close(fd)
        return Path(name)

    def _publish(self, tmp: Path, sha: str) -> None:
        dest = self.path(sha)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(tmp, RECORD_MODE)
        # Atomic: readers see either no file or the complete one. Two writers racing on
        # the same content both succeed; the second replaces identical bytes.
        os.replace(tmp, dest)


def _sync(fh) -> None:
    fh.flush()
    os.fsync(fh.fileno())
