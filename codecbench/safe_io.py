"""Reading untrusted files and writing results, with one-line errors.

Reads (checkpoints, model folders, manifests): only regular files are opened, and a FIFO is opened
without blocking (``O_NONBLOCK``) so that checking it cannot hang; sizes are bounded by the bytes
actually read, never by ``st_size`` (a device or a file under /proc reports 0 and never ends, a
sparse file reports terabytes it does not hold).

YAML (configs, protocols): at most ``MAX_YAML_BYTES``, and aliases may not expand to more than
``MAX_YAML_VALUES`` values (an "alias bomb" composes in microseconds but expands exponentially when
the values are used) nor refer to themselves.

Writes (run folders, reports): an ``OSError`` of the file system (disk full, file size limit,
read-only, a file where a folder should be) becomes a ``CannotWrite`` naming the path, which the
command line prints as one line (exit 2).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from codecbench.errors import CodecbenchError

CHUNK = 1 << 20


class UnsafeFile(CodecbenchError):
    """A file to read is not a regular file, or larger than allowed."""


class CannotWrite(CodecbenchError):
    """A result could not be written (disk full, read-only, no permission, a file in the path)."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISDIR, "a folder"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path: str | os.PathLike, what: str = "") -> int:
    """A read-only descriptor of ``path`` when it is a regular file (links followed); ``UnsafeFile``
    otherwise, at once (a FIFO is opened without waiting for a writer). The caller closes it."""
    label = f"{what} {path}".strip()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise UnsafeFile(f"{label}: no such file") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFile(f"{label}: symlink loop") from None
        if exc.errno == errno.EISDIR:
            raise UnsafeFile(f"{label}: not a regular file (a folder)") from None
        raise UnsafeFile(f"{label}: cannot open ({exc.strerror})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise UnsafeFile(f"{label}: not a regular file ({_kind(mode)})")
    os.set_blocking(fd, True)
    return fd


def read_bounded(path: str | os.PathLike, max_bytes: int, what: str = "") -> bytes:
    """The bytes of a regular file of at most ``max_bytes`` (counted while reading)."""
    fd = open_regular(path, what)
    parts, n = [], 0
    try:
        while chunk := os.read(fd, min(CHUNK, max_bytes + 1 - n)):
            parts.append(chunk)
            n += len(chunk)
            if n > max_bytes:
                raise UnsafeFile(f"{what} {path}: more than {max_bytes} bytes; at most {max_bytes} are read".strip())
    finally:
        os.close(fd)
    return b"".join(parts)


def hash_regular(path: str | os.PathLike, h, what: str = "") -> None:
    """Feed a regular file into the hash object ``h`` (it ends: regular files do)."""
    fd = open_regular(path, what)
    try:
        while chunk := os.read(fd, CHUNK):
            h.update(chunk)
    finally:
        os.close(fd)


MAX_YAML_BYTES = 4 << 20
MAX_YAML_VALUES = 100_000


def read_yaml(path: str | os.PathLike, what: str = "YAML file") -> Any:
    """The document of a YAML file (safe constructors), its size and alias expansion bounded; every
    problem is a one-line ``ConfigError`` naming the file."""
    import yaml

    from codecbench.errors import ConfigError

    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{what} not found: {p}")
    try:
        text = read_bounded(p, MAX_YAML_BYTES, what).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not valid YAML (not UTF-8: {exc.reason})") from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_values(node, str(p))
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML ({str(exc).splitlines()[0]})") from None
    except RecursionError:
        raise ConfigError(f"{p}: not valid YAML (nested too deeply)") from None
    finally:
        loader.dispose()


def _expanded_values(root: Any, source: str) -> int:
    """The number of values ``root`` holds with every alias expanded, counted without expanding (each
    node's count memoised); more than ``MAX_YAML_VALUES`` or a recursive alias is a ``ConfigError``."""
    import yaml

    from codecbench.errors import ConfigError

    counted: dict[int, int] = {}
    inside: set[int] = set()

    def count(node: Any) -> int:
        key = id(node)
        if key in counted:
            return counted[key]
        if key in inside:
            raise ConfigError(f"{source}: a YAML alias refers to a value that contains it (recursive)")
        inside.add(key)
        children = node.value if isinstance(node, yaml.SequenceNode) else \
            [x for pair in node.value for x in pair] if isinstance(node, yaml.MappingNode) else []
        total = 1
        for child in children:
            total += count(child)
            if total > MAX_YAML_VALUES:
                raise ConfigError(f"{source}: YAML aliases expand to more than {MAX_YAML_VALUES} values (an alias "
                                  "bomb?); write the values out")
        inside.discard(key)
        counted[key] = total
        return total

    return count(root)


def path_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be read as a file ('missing file: ...', 'symlink loop: ...', 'not a regular
    file: ...'), or None. Nothing is opened."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return f"missing file: {path}"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"symlink loop: {path}"
        if exc.errno == errno.ENOTDIR:
            return f"missing file: {path} (a file where a folder should be)"
        return f"cannot open {path}: {exc.strerror}"
    if not stat.S_ISREG(st.st_mode):
        return f"not a regular file: {path} ({_kind(st.st_mode)})"
    return None


# -- writes ---------------------------------------------------------------------------------------
# Errors of the file system that the user fixes (space, quota, permissions, paths); others keep
# their traceback.
USER_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR,
               errno.EISDIR, errno.ENAMETOOLONG, errno.ELOOP, errno.EEXIST}
_HINTS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
          errno.EFBIG: "the file size limit (ulimit -f) is reached", errno.EROFS: "the file system is read-only",
          errno.ENOTDIR: "a file stands where a folder should be"}


def describe_os_error(exc: OSError, path: str | os.PathLike | None = None, doing: str = "") -> str | None:
    """One line for a file-system error the user can fix, naming the path (``doing``: e.g. "cannot
    write"); None for anything else."""
    if exc.errno not in USER_ERRNOS:
        return None
    where = path if path is not None else exc.filename
    hint = _HINTS.get(exc.errno or 0)
    what = exc.strerror or os.strerror(exc.errno or 0)
    head = f"{doing} {where or 'a file'}".strip()
    return f"{head}: {what}" + (f" ({hint})" if hint else "")


@contextlib.contextmanager
def writing(path: str | os.PathLike) -> Iterator[None]:
    """Turn a file-system error while writing ``path`` into a one-line ``CannotWrite`` naming it."""
    try:
        yield
    except CannotWrite:
        raise
    except OSError as exc:
        line = describe_os_error(exc, exc.filename or path, "cannot write")
        if line is None:
            raise
        raise CannotWrite(line) from exc


def make_folder(path: str | os.PathLike) -> Path:
    """``mkdir -p`` with a one-line ``CannotWrite`` (a read-only place, a file in the path)."""
    p = Path(path)
    with writing(p):
        if p.exists() and not p.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(p))
        p.mkdir(parents=True, exist_ok=True)
    return p


# -- safetensors ----------------------------------------------------------------------------------
MAX_HEADER_BYTES = 16 << 20
DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8, "U32": 4,
               "U16": 2, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}


def _no_duplicates(pairs: list) -> dict:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate name {next(k for k in keys if keys.count(k) > 1)!r}")
    return dict(pairs)


def safetensors_header(path: str | os.PathLike) -> dict:
    """The JSON header of a safetensors file (name -> dtype, shape, data_offsets), checked as the
    format requires before anything is mapped: a regular file, the header length within the file
    and ``MAX_HEADER_BYTES``, every entry's bytes equal to its shape times its dtype's size, and the
    entries tiling the data exactly (no overlap, no gap, nothing beyond). ``UnsafeFile`` otherwise."""
    fd = open_regular(path, "weights")
    with os.fdopen(fd, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(8)
        if len(head) < 8:
            raise UnsafeFile(f"{path}: not a safetensors file (too short)")
        n = int.from_bytes(head, "little")
        if n > MAX_HEADER_BYTES or 8 + n > size:
            raise UnsafeFile(f"{path}: not a safetensors file (header of {n} bytes in a {size}-byte file)")
        raw = f.read(n)
    if len(raw) < n:
        raise UnsafeFile(f"{path}: not a safetensors file (the header is cut off)")
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError) as exc:
        raise UnsafeFile(f"{path}: safetensors header is not valid JSON ({exc})".replace("\n", " ")) from None
    if not isinstance(header, dict):
        raise UnsafeFile(f"{path}: safetensors header is not an object")
    meta = header.get("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise UnsafeFile(f"{path}: safetensors header: __metadata__ must map names to strings")
    data = size - 8 - n
    spans = []
    for name, t in header.items():
        if name == "__metadata__":
            continue
        bad = _entry_problem(t, data)
        if bad:
            raise UnsafeFile(f"{path}: safetensors header: tensor {name!r}: {bad}")
        spans.append((t["data_offsets"][0], t["data_offsets"][1], name))
    end = 0
    for start, stop, name in sorted(spans):
        if start != end:
            what = "overlaps the tensor before it" if start < end else f"leaves a gap of {start - end} bytes before it"
            raise UnsafeFile(f"{path}: safetensors header: tensor {name!r} {what}")
        end = stop
    if end != data:
        raise UnsafeFile(f"{path}: safetensors header: the tensors cover {end} of the {data} data bytes")
    return header


def _entry_problem(t: object, data: int) -> str | None:
    if not isinstance(t, dict) or set(t) != {"dtype", "shape", "data_offsets"}:
        return "expected an object of dtype, shape and data_offsets"
    if t["dtype"] not in DTYPE_BYTES:
        return f"unknown dtype {str(t['dtype'])[:20]!r}"
    shape, offsets = t["shape"], t["data_offsets"]
    if not isinstance(shape, list) or len(shape) > 16 or not all(type(x) is int and x >= 0 for x in shape):
        return f"shape must be a list of sizes >= 0, got {str(shape)[:40]}"
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(type(x) is int for x in offsets) \
            or not 0 <= offsets[0] <= offsets[1] <= data:
        return f"data_offsets {str(offsets)[:40]} outside the {data} data bytes"
    need = DTYPE_BYTES[t["dtype"]]
    for x in shape:
        need *= x
    if offsets[1] - offsets[0] != need:
        return f"{offsets[1] - offsets[0]} bytes for a {t['dtype']} tensor of shape {shape}, which takes {need}"
    return None
