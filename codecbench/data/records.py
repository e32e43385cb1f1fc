"""Reading the user's list files (manifests, pair lists, Kaldi tables, transcripts): every mistake is
a one-line error naming the file and line, and the fields of an entry are type-checked.

* Text: UTF-8; a byte-order mark at the start is dropped (Excel and Notepad write one), a UTF-16
  file is refused as such, and bytes that are not UTF-8 (a Latin-1 export) name their line.
* Fields: ``id`` a string or a whole number (``0`` stays ``"0"``); paths strings; ``lang`` one
  language code (a string); ``text`` a string or a number (an all-digit transcript written as a JSON
  number is that transcript); ``speaker`` a string or a whole number.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from codecbench.errors import CodecbenchError

BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def read_text(path: str | os.PathLike, error: type[CodecbenchError], what: str = "file") -> str:
    """The file's text (UTF-8, BOM dropped); ``error`` naming the file and line otherwise."""
    from codecbench.safe_io import UnsafeFile, open_regular

    p = Path(path)
    try:
        with os.fdopen(open_regular(p, what), "rb") as f:
            raw = f.read()
    except UnsafeFile as exc:
        raise error(str(exc)) from None
    except OSError as exc:
        raise error(f"cannot read {p}: {exc.strerror}") from None
    if raw.startswith(UTF16_BOMS):
        raise error(f"{p}: UTF-16 text; save it as UTF-8")
    raw = raw.removeprefix(BOM)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise error(f"{p}:{line}: not UTF-8 (byte 0x{raw[exc.start]:02x} at column {col}); save the file as UTF-8") \
            from None


def read_lines(path: str | os.PathLike, error: type[CodecbenchError], what: str = "file") -> list[str]:
    """The file's lines (see ``read_text``); line ``i`` of the file is item ``i - 1``."""
    return read_text(path, error, what).splitlines()


def _short(v: Any) -> str:
    return f"{v!r:.60}"


def as_id(v: Any, where: str, error: type[CodecbenchError], key: str = "id") -> str:
    """An utterance id: a non-empty string, or a whole number written as one (``0`` -> ``"0"``)."""
    if isinstance(v, str) and v.strip():
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    raise error(f"{where}: '{key}' must be a string or a whole number, got {_short(v)}")


def as_path(v: Any, where: str, error: type[CodecbenchError], key: str = "path") -> str:
    if isinstance(v, str) and v.strip():
        return v
    raise error(f"{where}: '{key}' must be a file path (a string), got {_short(v)}")


def as_lang(v: Any, where: str, error: type[CodecbenchError], key: str = "lang") -> str | None:
    if v is None or isinstance(v, str):
        return v or None
    raise error(f"{where}: '{key}' must be one language code (a string), got {_short(v)}")


def as_text(v: Any, where: str, error: type[CodecbenchError], key: str = "text") -> str | None:
    """A transcript: a string, or a number (its JSON spelling: ``12345`` -> ``"12345"``)."""
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return json.dumps(v)
    raise error(f"{where}: '{key}' must be a transcript (a string), got {_short(v)}")


def as_speaker(v: Any, where: str, error: type[CodecbenchError], key: str = "speaker") -> str | None:
    if v is None or isinstance(v, str):
        return v or None
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    raise error(f"{where}: '{key}' must be a speaker name or number, got {_short(v)}")
