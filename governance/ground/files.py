"""One way to replace a file: readers see the old file or the whole new one, never part."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(
    path: str | Path, data: bytes | str, *, mode: int = 0o644, durable: bool = True
) -> None:
    """Write ``data`` to ``path`` atomically and (unless ``durable=False``) durably.

    The bytes go to a temporary file in the same folder, are flushed and fsynced (a crash
    cannot leave an empty file where a checkpoint or key was), get ``mode`` (set before the
    file appears under its name: a private key, ``0o600``, is never readable by others),
    and replace ``path`` with ``os.replace``, atomic on POSIX and Windows. ``str`` is
    written as UTF-8. ``durable=False`` skips the fsync, for a hint that costs only a retry
    when a crash loses it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
