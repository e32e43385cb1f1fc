"""An exclusive lock on a folder: ``flock`` on a ``.lock`` file inside it, holding the holder's pid.

The kernel drops a flock when its holder exits or dies (kill -9 included), so a lock left by a
crashed run is never stale; the pid in the file only names the holder in the error. The file is
never removed: removing it would let a run that opened the old file and one that created a new
file both "hold" the lock.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from codecbench.errors import CodecbenchError

LOCK_FILE = ".lock"


class FolderLocked(CodecbenchError):
    """Another process holds the folder's lock."""


class FolderLock:
    def __init__(self, folder: Path):
        self.path = Path(folder) / LOCK_FILE
        self._file: IO[str] | None = None

    @property
    def held(self) -> bool:
        return self._file is not None

    def acquire(self, what: str = "another codecbench run") -> None:
        """Take the lock without waiting; a holder is a one-line ``FolderLocked`` naming its pid."""
        if self._file is not None:
            return
        f = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            f.close()
            raise FolderLocked(f"{self.path.parent} is in use by {what} (pid {holder}); wait for it to finish "
                               "or use another --out") from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        self._file = f

    def release(self) -> None:
        if self._file is not None:
            self._file.truncate(0)
            self._file.close()  # closing the only descriptor releases the flock
            self._file = None


def holder(folder: Path) -> int | None:
    """The pid holding ``folder``'s lock now, or None. Nothing is taken: on Linux the kernel's table
    of locks (/proc/locks) is read, so a run starting at that moment never finds the lock busy;
    elsewhere a non-blocking shared lock is tried and dropped at once."""
    path = Path(folder) / LOCK_FILE
    try:
        inode = os.stat(path).st_ino
        pid = int(path.read_text(encoding="utf-8").strip() or 0)
    except (OSError, ValueError):
        return None
    try:
        table = Path("/proc/locks").read_text()
    except OSError:
        return (pid or -1) if _busy(path) else None
    for line in table.splitlines():
        f = line.split()  # "1: FLOCK  ADVISORY  WRITE 12345 fd:01:987654 0 EOF"
        if len(f) >= 6 and f[1] == "FLOCK" and f[5].rsplit(":", 1)[-1] == str(inode) and f[4] == str(pid):
            return pid
    return None


def _busy(path: Path) -> bool:
    with open(path, encoding="utf-8") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        return False
