"""One way to replace a file: readers see the old file or the whole new one, never part.

It never replaces a record: the product writes every record read-only (the artifact store's
files, archives: :data:`RECORD_MODE`), and :func:`write_atomic` refuses a read-only target
(:class:`Forbidden`, exit 4), so no command's ``--out`` can overwrite evidence kept under
retention. Disposal after retention is governance/evidence/disposal.py's, and only there.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from governance.ground.errors import Forbidden

#: The mode of a record: read-only for everyone (no write bit is what marks a record).
RECORD_MODE = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


def is_record(path: str | Path) -> bool:
    """True when ``path`` is an existing file without any write bit: a record."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return False
    return stat.S_ISREG(mode) and not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


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

    Raises
    ------
    Forbidden
        ``path`` is a record (:func:`is_record`): it is never replaced.
    """
    path = Path(path)
    if is_record(path):
        raise Forbidden(f"{path}: a record (read-only) is never replaced; write elsewhere")
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


def file_stamps(*paths: Path) -> tuple | None:
    """``(inode, size, mtime, ctime)`` of each file in nanoseconds, or None if one is
    missing: equal stamps mean the files were not replaced or written since (a shell that
    rewrites a file and sets its mtime back still moves its ctime)."""
    try:
        stats = [os.stat(p) for p in paths]
    except FileNotFoundError:
        return None
    return tuple((s.st_ino, s.st_size, s.st_mtime_ns, s.st_ctime_ns) for s in stats)


#: ``{paths: (their stamps, what read(*paths) returned)}`` (:func:`kept_unless_changed`).
_KEPT: dict[tuple[Path, ...], tuple[tuple, object]] = {}


def kept_unless_changed(paths: tuple[Path, ...], read):
    """``read(*paths)``, or what it returned last time while every file keeps its
    :func:`file_stamps` (stamped before reading: a change during the read is a new stamp;
    a missing file is never kept)."""
    stamp = file_stamps(*paths)
    kept = _KEPT.get(paths)
    if stamp is not None and kept is not None and kept[0] == stamp:
        return kept[1]
    value = read(*paths)
    if stamp is not None:
        _KEPT[paths] = (stamp, value)
    return value
