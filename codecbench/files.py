"""Atomic writes that honour the umask (``tempfile.mkstemp`` always makes 0600).

Run folders live on shared machines: colleagues must be able to read what a run wrote, exactly as
the user's umask allows for any other file they create. Every file of a run folder is written by
``atomic_write``: a temporary file beside the target (mode 0666 & ~umask), filled, flushed to disk,
then renamed over the target, so a killed run never leaves half a file.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any


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


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Write ``path`` atomically: ``write(tmp)`` fills a temporary file of the same suffix beside it
    (a writer such as ``DataFrame.to_parquet`` or ``np.savez`` given a path), which is then synced
    and renamed over ``path``. The folder is created when missing. A full disk, a read-only folder or
    a file where a folder should be is a one-line ``safe_io.CannotWrite`` naming ``path``."""
    from codecbench.safe_io import make_folder, writing

    p = Path(path)
    make_folder(p.parent)
    with writing(p):
        fd, tmp = temp_file(p.parent, prefix=f".{p.name}.", suffix=p.suffix)
        os.close(fd)
        try:
            write(tmp)
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(tmp, p)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1, ensure_ascii=False, default=str) + "\n")
