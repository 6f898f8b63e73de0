"""Temporary run folders (``.tmp-<run id>``): created locked, published by rename, swept when stale.

A run writes into ``reports/<report>/.tmp-<run id>/`` and renames it into place when it is
complete, so nothing half-written is ever visible under a run id. While the run is alive its
process holds an exclusive ``flock`` on ``.tmp-<run id>/.owner``; the lock disappears with
the process, however it ends (SIGKILL, OOM killer, power cut on local disks). The next run
of the report removes every ``.tmp-*`` folder whose lock nobody holds (and leftovers of the
atomic ``latest`` swap), so crashed runs leave nothing behind for long.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from pathlib import Path

OWNER_FILE = ".owner"
WORK_PREFIX = ".tmp-"
LATEST_SWAP_PREFIX = ".latest-"
UNLOCKED_GRACE_SECONDS = 600.0  # a folder without a lock file younger than this may be starting up


class WorkFolder:
    """A temporary run folder and the lock that says its run is alive."""

    def __init__(self, base: Path, run_id: str) -> None:
        self.path = Path(base) / f"{WORK_PREFIX}{run_id}"
        self.path.mkdir()
        self._fd: int | None = os.open(self.path / OWNER_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(self._fd, str(os.getpid()).encode())

    def publish(self, target: Path) -> Path:
        """Rename the folder to ``target`` (atomic) and drop the lock."""
        os.rename(self.path, target)
        (target / OWNER_FILE).unlink(missing_ok=True)
        self._release()
        self.path = target
        return target

    def discard(self) -> None:
        """Remove the folder and everything in it (a run that must leave nothing behind)."""
        shutil.rmtree(self.path, ignore_errors=True)
        self._release()

    def _release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _abandoned(folder: Path, now: float) -> bool:
    owner = folder / OWNER_FILE
    try:
        fd = os.open(owner, os.O_RDWR)
    except FileNotFoundError:
        try:
            return now - folder.stat().st_mtime > UNLOCKED_GRACE_SECONDS
        except FileNotFoundError:
            return False
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False  # its run is alive
    finally:
        os.close(fd)
    return True


def sweep(base: Path) -> list[Path]:
    """Remove abandoned ``.tmp-*`` folders and ``.latest-*`` swap links under ``base``."""
    removed: list[Path] = []
    now = time.time()
    base = Path(base)
    if not base.is_dir():
        return removed
    for folder in base.glob(f"{WORK_PREFIX}*"):
        if folder.is_dir() and not folder.is_symlink() and _abandoned(folder, now):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    for link in base.glob(f"{LATEST_SWAP_PREFIX}*"):
        try:
            if link.is_symlink() and now - link.lstat().st_mtime > 60:
                link.unlink()
                removed.append(link)
        except FileNotFoundError:
            continue
    return removed
