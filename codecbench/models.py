"""Every pretrained model a metric or codec needs: where it comes from and where it is cached.

Modules listed in ``MODEL_MODULES`` expose ``models() -> list[ModelSpec]``, and plugins add theirs
through the ``codecbench.models`` entry points (``MODELS``, a ``codecbench.registry.Registry``);
``codecbench models`` lists them and ``codecbench models download NAMES`` prefetches them for offline clusters; ``--config FILE`` lists
(``codecbench models --config``) or downloads (``models download --config``) what a run config uses,
e.g. each language's ASR model.
``HF_HUB_OFFLINE=1`` (or ``--offline``) makes every load use the local cache only.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from codecbench import has_module
from codecbench.errors import Unavailable
from codecbench.registry import Registry

MODEL_MODULES = (
    "codecbench.metrics.speaker",
    "codecbench.metrics.asr",
    "codecbench.metrics.dnsmos",
    "codecbench.metrics.mos",
    "codecbench.metrics.visqol",
    "codecbench.codecs.encodec",
    "codecbench.codecs.dac",
    "codecbench.codecs.mimi",
    "codecbench.codecs.snac",
    "codecbench.codecs.inhouse",
)


ModelMissing = Unavailable  # a model is not available locally and cannot be fetched (the message says how to get it)


def missing_reason(locate: Callable[[], object]) -> str | None:
    """Why ``locate()`` (finding a model's files, fetching them where allowed) raised ``ModelMissing``,
    or None when it found them: a metric's ``find_unavailable``."""
    try:
        locate()
    except ModelMissing as exc:
        return str(exc)
    return None
ENTRY_POINT_GROUP = "codecbench.models"


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
            if not has_module(self.bundled_in):
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
    kwargs = dict(revision=revision, allow_patterns=list(allow_patterns) if allow_patterns else None,
                  cache_dir=str(cache_dir) if cache_dir else None)
    how = "run `codecbench models download` where the hub is reachable, or pass a local folder"
    try:
        return snapshot_download(repo_id, local_files_only=True, **kwargs)
    except Exception as exc:
        if offline():
            raise ModelMissing(f"model {repo_id}@{revision or 'main'} is not cached and the hub is off (offline); {how}") from exc
    if not hub_reachable():  # fail at once instead of huggingface_hub's retries when there is no network
        raise ModelMissing(f"model {repo_id}@{revision or 'main'} is not cached and the hub cannot be reached; {how}")
    try:
        return snapshot_download(repo_id, **kwargs)
    except Exception as exc:
        raise ModelMissing(f"model {repo_id}@{revision or 'main'} is not available ({type(exc).__name__}); {how}") from exc


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the hub endpoint ($HF_ENDPOINT) can be opened."""
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout=timeout).close()
    except OSError:
        return False
    return True


def resolve_local_or_hub(source: str, revision: str | None = None, allow_patterns=None) -> str:
    """``source`` is a local folder (used as is) or a hub id (snapshot, offline-aware)."""
    if os.path.isdir(source):
        return source
    return hub_snapshot(source, revision, allow_patterns)


MODELS: Registry[ModelSpec] = Registry("model", ENTRY_POINT_GROUP, MODEL_MODULES, "models", ModelSpec,
                                      hint=" `codecbench models` lists them.")


def all_models() -> dict[str, ModelSpec]:
    """Every model by name: the built-in modules' and the plugins' (``codecbench.models`` entry points)."""
    return MODELS.all()


def is_cached(spec: ModelSpec, cache_dir: Path | None = None) -> bool | None:
    """Whether the model is available without a download (None: cannot tell for custom fetchers)."""
    if spec.bundled_in is not None:
        return has_module(spec.bundled_in)
    if spec.hub_id is not None and spec.fetch is None:
        try:
            from huggingface_hub import snapshot_download

            snapshot_download(spec.hub_id, revision=spec.revision,
                              allow_patterns=list(spec.allow_patterns) if spec.allow_patterns else None,
                              cache_dir=str(cache_dir) if cache_dir else None, local_files_only=True)
            return True
        except Exception:
            return False
    return None


def _source(spec: ModelSpec) -> str:
    if spec.bundled_in is not None:
        return f"in package {spec.bundled_in}"
    if spec.hub_id is not None:
        return f"{spec.hub_id}@{(spec.revision or 'main')[:12]}"
    return "custom download"


def configured_models(config_path: str | None, metric_names: list[str] | None = None) -> list[dict]:
    """The models a resolved run config would use: per metric and per codec, with the local state."""
    from codecbench.codecs.registry import get_spec
    from codecbench.config import BenchConfig, MetricSpec
    from codecbench.metrics.registry import create
    from codecbench.pipeline.resolve import resolve

    cfg = load_run_config(config_path) if config_path else BenchConfig()
    if metric_names:
        cfg = cfg.override(metrics=[MetricSpec.of(n) for n in metric_names])
    cfg = resolve(cfg)
    rows = []
    for spec in cfg.metrics or []:
        m = create(spec.name, spec.options)
        if hasattr(m, "model_rows"):  # a metric with several models (wer: one per language)
            rows += m.model_rows()
            continue
        info = m.info()
        reason = m.unavailable_reason()
        if not info.model and reason is None:
            continue
        rows.append({"used_by": m.name, "kind": "metric", "model": info.model, "revision": info.revision,
                     "options": spec.options, "available": reason is None, "reason": reason})
    for entry in cfg.codecs or []:
        spec = get_spec(entry.target)
        reason = spec.unavailable_reason()
        rows.append({"used_by": entry.key, "kind": "codec", "model": entry.target, "revision": None,
                     "options": entry.options, "available": reason is None, "reason": reason})
    return rows


def cmd_models(args) -> int:
    import json

    if getattr(args, "config", None) or getattr(args, "metrics", None):
        rows = configured_models(args.config, args.metrics)
        if args.json:
            print(json.dumps(rows, indent=1, default=str))
            return 0
        header = f"{'used by':<22} {'model':<52} {'revision':<13} state"
        print(header)
        print("-" * len(header))
        for r in rows:
            state = "available" if r["available"] else f"missing: {r['reason']}"
            print(f"{r['used_by']:<22} {str(r['model']):<52} {(r['revision'] or '-')[:12]:<13} {state}")
        if args.config:
            _dataset_note(args.config)
        return 0
    cache = Path(args.cache_dir) if getattr(args, "cache_dir", None) else None
    specs = all_models()
    rows = [{"name": s.name, "used_by": list(s.used_by), "source": _source(s), "hub_id": s.hub_id,
             "revision": s.revision, "bundled_in": s.bundled_in, "cached": is_cached(s, cache),
             "description": s.description} for s in specs.values()]
    if getattr(args, "json", False):
        print(json.dumps(rows, indent=1))
        return 0
    header = f"{'name':<26} {'cached':<7} {'source':<52} used by"
    print(header)
    print("-" * len(header))
    for r in rows:
        cached = {True: "yes", False: "no", None: "?"}[r["cached"]]
        print(f"{r['name']:<26} {cached:<7} {r['source']:<52} {', '.join(r['used_by'])}")
    return 0


def load_run_config(path: str):
    """A run config or a paper protocol file (``configs/protocols/*.yaml``: its run config)."""
    from codecbench.protocol.spec import load_run_config as load

    return load(path)


def _dataset_note(config_path: str) -> None:
    from codecbench.protocol.spec import dataset_note

    dataset_note(config_path)


def download_configured(config_path: str | None, metric_names: list[str] | None, cache: Path | None) -> int:
    """Prefetch what a run config (or a paper protocol) needs: each metric's configured models (e.g.
    each language's ASR model at its revision; metrics without their own ``prefetch``: the models
    listed for them), each codec's weights, and, for a protocol, say where its dataset comes from."""
    import sys

    from codecbench.config import BenchConfig, MetricSpec
    from codecbench.metrics.registry import create
    from codecbench.pipeline.resolve import resolve

    cfg = load_run_config(config_path) if config_path else BenchConfig()
    if metric_names:
        cfg = cfg.override(metrics=[MetricSpec.of(n) for n in metric_names])
    cfg = resolve(cfg)
    specs = all_models()
    failed = 0

    def attempt(who: str, label: str, fetch) -> None:
        nonlocal failed
        try:
            for lab, path in fetch():
                print(f"{who}: {lab}: {path}")
        except ModelMissing as exc:
            failed += 1
            print(f"{who}: {label}: missing: {exc}", file=sys.stderr)
        except Exception as exc:  # a download error names the model, never a bare traceback
            failed += 1
            print(f"{who}: {label}: failed: {type(exc).__name__}: {exc}", file=sys.stderr)

    for spec in cfg.metrics or []:
        m = create(spec.name, spec.options)
        if hasattr(m, "prefetch"):
            attempt(m.name, "models", lambda m=m: m.prefetch(cache))
            continue
        for s in specs.values():
            if m.name in s.used_by and s.bundled_in is None:
                attempt(m.name, s.name, lambda s=s: [(s.name, s.download(cache))])
    done: set[str] = set()
    for entry in cfg.codecs or []:
        for s in specs.values():
            if entry.name in s.used_by and s.bundled_in is None and entry.arg is None and s.name not in done:
                done.add(s.name)  # variants share weights (dac-16k, dac-16k-2cb)
                attempt(entry.key, s.name, lambda s=s: [(s.name, s.download(cache))])
    if config_path:
        _dataset_note(config_path)
    return 1 if failed else 0


def cmd_models_download(args) -> int:
    import sys

    if args.offline:
        set_offline()
    if args.config or args.metrics:
        if args.names:
            raise ModelMissing("give model names or --config/--metrics, not both")
        return download_configured(args.config, args.metrics, Path(args.cache_dir) if args.cache_dir else None)
    if not args.names:
        raise ModelMissing("name the models to download (`codecbench models` lists them), 'all', or --config FILE")
    specs = all_models()
    names = [n for arg in args.names for n in arg.split(",") if n]
    names = list(specs) if names == ["all"] else names
    unknown = [n for n in names if n not in specs]
    if unknown:
        raise ModelMissing(f"unknown model(s): {', '.join(unknown)}; `codecbench models` lists them")
    cache = Path(args.cache_dir) if args.cache_dir else None
    failed = []
    for name in names:
        try:
            path = specs[name].download(cache)
            print(f"{name}: {path}")
        except ModelMissing as exc:
            if len(names) == 1:
                raise ModelMissing(f"{name}: {exc}") from exc
            failed.append(name)
            print(f"{name}: missing: {exc}", file=sys.stderr)
        except Exception as exc:  # a download error names the model, never a bare traceback
            failed.append(name)
            print(f"{name}: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
    return 1 if failed else 0


def register(subparsers) -> None:
    """``codecbench models`` (list, with local cache state) and ``codecbench models download``."""
    from codecbench.config import MetricList

    p = subparsers.add_parser("models", help="list pretrained models metrics and codecs use; download them")
    p.add_argument("--json", action="store_true")
    p.add_argument("--cache-dir", default=None, help="hub cache folder to inspect (default: the HF cache)")
    p.add_argument("--config", default=None, help="list the models this run config would use (local folders and "
                   "environment fallbacks included), with their state here")
    p.add_argument("--metrics", type=MetricList(), default=None,
                   help="with or without --config: the models these metrics would use")
    p.set_defaults(func=cmd_models)
    sub = p.add_subparsers(dest="models_command", metavar="SUBCOMMAND")
    d = sub.add_parser("download", help="prefetch models for offline use: NAMES (comma or space separated) or 'all'")
    d.add_argument("names", nargs="*", help="model names from `codecbench models`, or 'all'")
    d.add_argument("--config", default=None, help="download the models this run config uses (each language's "
                   "ASR model at its revision, MMS adapters of its languages)")
    d.add_argument("--metrics", type=MetricList(), default=None,
                   help="with or without --config: the models these metrics would use")
    d.add_argument("--cache-dir", default=None, help="download into this hub cache folder (default: the HF cache; "
                   "point HF_HUB_CACHE at it on the offline machine)")
    d.add_argument("--offline", action="store_true", help="only check the local cache (HF_HUB_OFFLINE=1)")
    d.set_defaults(func=cmd_models_download)
