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
