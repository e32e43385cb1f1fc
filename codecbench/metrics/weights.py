"""Weights of a metric model from a local file, a local folder, a hub id at a revision, or a URL,
loaded without executing code: ``*.safetensors``, or ``torch.load(weights_only=True)`` for PyTorch
pickles (which refuses anything but tensors and plain containers).

A local file's revision is the SHA-256 of its bytes (``file_sha256``), recorded next to every figure
like a hub commit, so a changed checkpoint is another model. A URL download is cached under
``$CODECBENCH_CACHE/weights/`` and has the same content revision.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from codecbench.models import ModelMissing, hub_snapshot, offline

WEIGHT_EXTENSIONS = (".safetensors", ".pt", ".pth", ".ckpt", ".bin")
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def is_url(source: str) -> bool:
    return urlparse(source).scheme in ("http", "https")


def is_hub_id(source: str) -> bool:
    return bool(HUB_ID.fullmatch(source)) and not os.path.exists(source)


@functools.lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime: float) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (cached per path, size and modification time)."""
    st = os.stat(path)
    return _sha256(str(Path(path).resolve()), st.st_size, st.st_mtime)


def url_cache_path(url: str, cache_dir: Path | None = None) -> Path:
    from codecbench import cache_dir as default_cache

    name = os.path.basename(urlparse(url).path) or "weights"
    key = hashlib.sha1(url.encode()).hexdigest()[:10]
    return Path(cache_dir or Path(default_cache()) / "weights") / f"{key}-{name}"


def fetch_url(url: str, cache_dir: Path | None = None) -> Path:
    """The cached download of ``url`` (downloaded now unless offline or already there)."""
    path = url_cache_path(url, cache_dir)
    if path.is_file():
        return path
    if offline():
        raise ModelMissing(f"not cached ({path}) and downloads are off (offline)")
    import urllib.request

    from codecbench.files import temp_file

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_file(path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        with urllib.request.urlopen(url, timeout=30) as r, open(tmp, "wb") as f:  # noqa: S310 (http/https only)
            while block := r.read(1 << 20):
                f.write(block)
        os.replace(tmp, path)
    except OSError as exc:
        raise ModelMissing(f"{url} could not be downloaded ({type(exc).__name__}: {exc})") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def find_weights(folder: Path, preferred: tuple[str, ...] = ()) -> Path:
    """The one weight file in a folder (``preferred`` names first, then a single file by extension)."""
    for name in preferred:
        if (folder / name).is_file():
            return folder / name
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in WEIGHT_EXTENSIONS)
    safetensors = [p for p in found if p.suffix == ".safetensors"]
    found = safetensors or found
    if len(found) != 1:
        what = "no weight file" if not found else f"{len(found)} weight files ({', '.join(p.name for p in found)})"
        raise ModelMissing(f"{folder}: {what}; expected one of {', '.join(WEIGHT_EXTENSIONS)}")
    return found[0]


def resolve_weights(source: str, revision: str | None, patterns: tuple[str, ...],
                    preferred: tuple[str, ...] = (), cache_dir: Path | None = None) -> Path:
    """A local weight file for ``source``: a file, a folder holding one, a hub id (snapshot at
    ``revision`` of ``patterns``) or a URL (cached download). ModelMissing with the reason otherwise."""
    if is_url(source):
        return fetch_url(source, cache_dir)
    path = Path(source).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        return find_weights(path, preferred)
    if is_hub_id(source):
        return find_weights(Path(hub_snapshot(source, revision, patterns, cache_dir)), preferred)
    raise ModelMissing(f"{source} is not a file, a folder, a hub id (owner/name) or an http(s) URL")


def load_state_dict(path: str | os.PathLike, key: str | None = None) -> dict[str, Any]:
    """Tensors of a checkpoint, without executing code. ``key``: the sub-dictionary holding the
    state dict in a training checkpoint (e.g. ``model``), used when present."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return dict(load_file(str(path)))
    import pickle

    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, ValueError, EOFError) as exc:
        raise ModelMissing(f"{path} is not a PyTorch checkpoint of plain tensors (torch.load(weights_only=True) "
                           f"refused it: {str(exc).splitlines()[0][:200]}); convert it to safetensors") from exc
    if key and isinstance(obj, dict) and isinstance(obj.get(key), dict):
        obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(k, str) for k in obj):
        raise ModelMissing(f"{path} does not hold a state dict (a mapping of parameter names to tensors)")
    return {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def revision_of(source: str, revision: str | None, path: Path | None = None) -> str | None:
    """What a figure records as the model's revision: the hub revision for a hub id, else the
    content hash of the resolved file (None before it is resolved)."""
    if is_hub_id(source) and not is_url(source):
        return revision or "main"
    return f"sha256:{file_sha256(path)}" if path is not None and path.is_file() else None
