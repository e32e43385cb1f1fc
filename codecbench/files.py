"""Temporary files for atomic writes that honour the umask (``tempfile.mkstemp`` always makes 0600).

Run folders live on shared machines: colleagues must be able to read what a run wrote, exactly as
the user's umask allows for any other file they create.
"""

from __future__ import annotations

import os
import secrets


def temp_file(folder: str | os.PathLike, prefix: str = ".tmp.", suffix: str = "") -> tuple[int, str]:
    """Create a new empty file in ``folder`` with mode 0666 & ~umask; returns (fd, path) like mkstemp."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        path = os.path.join(os.fspath(folder), f"{prefix}{secrets.token_hex(6)}{suffix}")
        try:
            return os.open(path, flags, 0o666), path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary file name in {folder}")

