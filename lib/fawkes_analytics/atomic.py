"""Atomic file writes: readers see the old file or the new one, never half of either.

Every published file (data.json, CSVs, run.json, delivery state, the HTTP cache, the metrics
state) goes through here: a temporary file in the same folder, flushed to disk, renamed
over the target; on any error the temporary file is removed.

File modes: every published file gets one mode, :func:`file_mode`. It is
``FAWKES_ANALYTICS_FILE_MODE`` (octal, e.g. ``0640``) when set, else what the process umask
gives an ordinary new file (``0o666 & ~umask``: 0644 under the usual umask 022). Folders get
the same bits plus the search bit wherever reading is allowed (0644 -> 0755, 0640 -> 0750).
Without this, files made by ``mkstemp`` would be 0600 while report.html is 0644, and a web
server serving the reports folder could read the page but not its data.

A full disk raises :class:`~fawkes_analytics.errors.DiskFull` naming the file, never a bare
``OSError`` halfway through a write.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from . import settings
from .errors import DiskFull, ParameterError

FILE_MODE_ENV = "FAWKES_ANALYTICS_FILE_MODE"


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (/proc), else swapped."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    current = os.umask(0o022)
    os.umask(current)
    return current


def file_mode() -> int:
    """The mode of published files: ``$FAWKES_ANALYTICS_FILE_MODE`` or ``0o666 & ~umask``."""
    raw = settings.get("FILE_MODE")
    if not raw:
        return 0o666 & ~_umask()
    try:
        mode = int(raw, 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o666 or mode & 0o600 != 0o600:
        raise ParameterError(FILE_MODE_ENV, f"{raw!r} is not a file mode for published files", "octal 0600 to 0666")
    return mode


def dir_mode(mode: int | None = None) -> int:
    """The folder mode matching a file mode: read bits gain the search (x) bit."""
    mode = file_mode() if mode is None else mode
    return mode | ((mode & 0o444) >> 2)


def apply_modes(root: str | os.PathLike) -> None:
    """Give every file under ``root`` the published file mode and every folder the folder mode."""
    mode = file_mode()
    folder = dir_mode(mode)
    root = Path(root)
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        os.chmod(path, folder if path.is_dir() else mode)


def is_disk_full(exc: BaseException | None) -> bool:
    """True when ``exc`` (or what caused it) is 'no space left on device' or 'quota exceeded'."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, DiskFull):
            return True
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically, with the published file mode, and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, file_mode())
        os.replace(temporary, path)
    except BaseException as exc:
        Path(temporary).unlink(missing_ok=True)
        if is_disk_full(exc) and not isinstance(exc, DiskFull):
            raise DiskFull(str(path), str(exc)) from exc
        raise
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically and return the path."""
    return write_bytes(path, text.encode("utf-8"))
