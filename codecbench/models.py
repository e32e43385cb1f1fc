"""Every pretrained model a metric or codec needs: where it comes from and where it is cached.

Modules listed in ``MODEL_MODULES`` expose ``models() -> list[ModelSpec]``; ``codecbench models``
lists them and ``codecbench models download NAMES`` prefetches them for offline clusters.
``HF_HUB_OFFLINE=1`` (or ``--offline``) makes every load use the local cache only.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from codecbench import has_module

MODEL_MODULES = (
    "codecbench.metrics.speaker",
    "codecbench.metrics.asr",
    "codecbench.metrics.dnsmos",
    "codecbench.metrics.visqol",
    "codecbench.codecs.encodec",
    "codecbench.codecs.dac",
    "codecbench.codecs.mimi",
    "codecbench.codecs.snac",
    "codecbench.codecs.inhouse",
)


class ModelMissing(Exception):
    """A model is not available locally and cannot be fetched; the message names it and how to get it."""


@dataclass(frozen=True)
class ModelSpec:
    """One model: a hub repository at a pinned revision, or weights that ship inside a package."""

    name: str
    description: str
    used_by: tuple[str, ...]
    hub_id: str | None = None
    revision: str | None = None
    allow_patterns: tuple[str, ...] | None = None
    bundled_in: str | None = None  # a pip package that carries the weights (nothing to download)
    fetch: Callable[[Path | None], Path] | None = None  # custom download; default: hub snapshot

    def download(self, cache_dir: Path | None = None) -> Path:
        if self.fetch is not None:
            return self.fetch(cache_dir)
        if self.bundled_in is not None:
            if importlib.util.find_spec(self.bundled_in) is None:
                raise ModelMissing(f"{self.name}: weights ship in the '{self.bundled_in}' package: pip install {self.bundled_in}")
            return Path(importlib.util.find_spec(self.bundled_in).origin).parent
        return Path(hub_snapshot(self.hub_id, self.revision, self.allow_patterns, cache_dir))


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False")


def set_offline(flag: bool = True) -> None:
    """Make every hub load local-only (HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE)."""
    if flag:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"


def hub_snapshot(repo_id: str, revision: str | None = None, allow_patterns=None, cache_dir: Path | None = None) -> str:
    """A local folder with the repository's files; local-only when offline. ModelMissing otherwise."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:
        raise ModelMissing(f"{repo_id}: needs huggingface_hub (pip install huggingface_hub)") from exc
    try:
        return snapshot_download(
            repo_id, revision=revision, allow_patterns=list(allow_patterns) if allow_patterns else None,
            cache_dir=str(cache_dir) if cache_dir else None, local_files_only=offline(),
        )
    except Exception as exc:
        how = "run `codecbench models download` where the hub is reachable, or pass a local folder"
        raise ModelMissing(f"model {repo_id}@{revision or 'main'} is not available ({type(exc).__name__}); {how}") from exc


def resolve_local_or_hub(source: str, revision: str | None = None, allow_patterns=None) -> str:
    """``source`` is a local folder (used as is) or a hub id (snapshot, offline-aware)."""
    if os.path.isdir(source):
        return source
    return hub_snapshot(source, revision, allow_patterns)


def all_models() -> dict[str, ModelSpec]:
    found: dict[str, ModelSpec] = {}
    for mod_name in MODEL_MODULES:
        if not has_module(mod_name):
            continue
        mod = importlib.import_module(mod_name)
        for spec in getattr(mod, "models", lambda: [])():
            found[spec.name] = spec
    return found
