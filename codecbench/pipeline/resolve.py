"""Resolution, the first step of a run: a ``BenchConfig`` with every default, environment fallback,
device, codec and metric option filled in, and every user error raised (one line each) before any work.

Environment variables (``Option.env`` of each metric or codec option, e.g.
``CODECBENCH_WHISPER_MODEL``) are fallbacks read here and nowhere else. The resolved config is what
the plan hashes into the run id and writes as the run folder's ``config.yaml``.
"""

from __future__ import annotations

import copy
import math
import os
import sys
from pathlib import Path
from typing import Any

from codecbench.config import BenchConfig, CodecEntry, MetricSpec, did_you_mean
from codecbench.device import usable_device
from codecbench.errors import ConfigError, UnknownName
from codecbench.schema import Option


def resolve(cfg: BenchConfig) -> BenchConfig:
    """Defaults, environment fallbacks, device and every option filled in; user errors raise here."""
    from codecbench.metrics.registry import default_names

    out = copy.deepcopy(cfg)
    if out.require_metrics is None:
        out.require_metrics = cfg.metrics is not None
    device = out.device = usable_device(cfg.device)
    if out.dataset and ":" not in out.dataset and Path(out.dataset).exists():
        out.dataset = str(Path(out.dataset).resolve())  # config.yaml re-runs from any folder
    if out.degraded is not None:
        out.dataset_format = "pairs"
        if Path(out.degraded).exists():
            out.degraded = str(Path(out.degraded).resolve())
    out.codecs = _codecs(out, device)
    specs = cfg.metrics if cfg.metrics is not None else [MetricSpec(n) for n in default_names()]
    out.metrics = resolve_metrics(specs, device)
    out.workers = _workers(out)
    return out


def _codecs(cfg: BenchConfig, device: str) -> list[CodecEntry]:
    """The run's codecs with their options resolved and weights revisions recorded (``cfg.codec_revisions``)."""
    pairs = cfg.dataset_format == "pairs"
    if cfg.codecs is not None:
        codecs = cfg.codecs
    elif pairs:
        from codecbench.data.pairs import pair_label

        codecs = [CodecEntry(pair_label(cfg.degraded or cfg.dataset or ""))]
    else:
        from codecbench.codecs.registry import default_codecs

        codecs = [CodecEntry.parse(n) for n in default_codecs()]
    codecs = [c if pairs else _absolute(c) for c in codecs]  # a one-file codec: config.yaml re-runs from anywhere
    keys = [c.key for c in codecs]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ConfigError(f"codec listed twice: {', '.join(twice)}")
    if pairs:
        unknown = sorted(set(cfg.bitrate or {}) - {c.key for c in codecs})
        if unknown:
            raise ConfigError(f"bitrate names {', '.join(unknown)}, but the scored pairs are labelled "
                              f"{codecs[0].key}")
        cfg.codec_revisions = None
        return codecs
    from codecbench.codecs.registry import get_spec

    codecs = [CodecEntry(c.name, c.arg, resolve_options(c.name, get_spec(c.target).options, c.options, device,
                                                       "codec"), c.label) for c in codecs]
    cfg.codec_revisions = _codec_revisions(codecs, cfg.codec_revisions)
    _warn_same_codec(codecs, cfg.codec_revisions or {})
    return codecs


def _absolute(c: CodecEntry) -> CodecEntry:
    """A one-file codec's path made absolute (``codecs/from_file.py``); other codecs unchanged."""
    from codecbench.codecs.from_file import absolute, is_file_codec

    if not is_file_codec(c.target):
        return c
    name, _, _ = absolute(c.target).partition(":")
    return CodecEntry(name, c.arg, c.options, c.label)


def _codec_revisions(codecs: list[CodecEntry], given: dict[str, str] | None) -> dict[str, str] | None:
    """Each codec's weights revision by label (None when no codec has one); a given one must match
    (revisions of codecs not in the list are ignored: a run's config.yaml reused with other codecs)."""
    from codecbench.codecs.registry import codec_revision

    found = {c.key: r for c in codecs if (r := codec_revision(c.target)) is not None}
    keys = {c.key for c in codecs}
    for name, rev in (given or {}).items():
        if name in keys and found.get(name) != str(rev):
            raise ConfigError(f"codec {name!r}: the config is for weights revision {rev}, but they are "
                              f"{found.get(name) or 'unknown'} here (another checkpoint); leave codec_revisions "
                              "out to score this one as a new run")
    return found or None


def _warn_same_codec(codecs: list[CodecEntry], revisions: dict[str, str]) -> None:
    """The same codec (name, weights and options) under two labels is scored twice: a warning."""
    seen: dict[str, str] = {}
    for c in codecs:
        what = repr((c.name, revisions.get(c.key) or c.arg, sorted(c.options.items())))
        if what in seen:
            weights = f" (weights revision {revisions[c.key][:12]})" if c.key in revisions else ""
            print(f"codecbench: warning: codecs {seen[what]} and {c.key} are the same codec {c.name}{weights} with the "
                  "same options: it is run and scored twice", file=sys.stderr)
        else:
            seen[what] = c.key


def _workers(cfg: BenchConfig) -> int:
    from codecbench.metrics.registry import get_metric

    cpus = available_cpus()
    if cfg.workers is None:
        # On a GPU the main process feeds the codecs and model metrics, which takes a core: the pool
        # gets the others. On the CPU every stage competes for the same cores: the pool gets all of
        # them (the OS shares them with the main process), so no core idles while the pool has a
        # backlog, at the end of a run above all (measured on 2 cores, default run: idle core time
        # 20% -> 11%). Scoring pairs with signal metrics only, the main process just reads files.
        model_work = cfg.dataset_format != "pairs" or any(get_metric(s.name).info().batched for s in cfg.metrics or [])
        return max(1, cpus - int(model_work and not str(cfg.device).startswith("cpu")))
    if cfg.workers > cpus:  # more processes than CPUs only cost memory (--workers 100000: ~1,100 started)
        print(f"codecbench: note: workers {cfg.workers} capped at {cpus}, the CPUs this process may use",
              file=sys.stderr)
        return cpus
    return cfg.workers


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask: taskset, cgroups cpusets, SLURM allocations)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def resolve_metrics(specs: list[MetricSpec], device: str) -> list[MetricSpec]:
    """Metric, output and family names to metric names, each with every declared option resolved."""
    from codecbench.metrics.registry import get_metric, resolve_names

    resolved: list[MetricSpec] = []
    for spec in specs:
        names = resolve_names([spec.name])
        if spec.options and len(names) > 1:
            raise ConfigError(f"metric {spec.name!r} names a family ({', '.join(names)}): give options to one of them")
        for name in names:
            if any(r.name == name for r in resolved):
                continue
            resolved.append(MetricSpec(name, resolve_options(name, get_metric(name).options, spec.options,
                                                             device)))
    return resolved


def resolve_options(name: str, declared: dict[str, Option], given: dict[str, Any], device: str,
                    what: str = "metric") -> dict[str, Any]:
    """The options of a metric (or codec: ``what``) called ``name``: given > environment fallback > default
    (which may depend on the device)."""
    unknown = sorted(set(given) - set(declared))
    if unknown:
        valid = ", ".join(sorted(declared)) or "none"
        raise UnknownName(f"{what} {name!r} has no option {', '.join(map(repr, unknown))}; its options: {valid}"
                          f"{did_you_mean(unknown[0], declared)}")
    out: dict[str, Any] = {}
    for key, opt in declared.items():
        if key in given:
            value, origin = given[key], "config"
        elif opt.env and os.environ.get(opt.env) not in (None, ""):
            value, origin = os.environ[opt.env], f"environment variable {opt.env}"
        else:
            out[key] = opt.default_for(device)
            continue
        out[key] = _coerce(value, opt, f"{name}.{key} (from {origin})")
    return out


def _coerce(value: Any, opt: Option, what: str) -> Any:
    try:
        if opt.kind is bool and isinstance(value, str):
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            value = value.lower() in ("true", "1", "yes")
        elif opt.kind is dict:
            if not isinstance(value, dict):
                raise ValueError(value)
        elif opt.kind in (int, float):
            value = opt.kind(value)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(value)
        else:
            value = opt.kind(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what}: expected {opt.kind.__name__}, got {value!r}") from exc
    if opt.choices is not None and value not in opt.choices:
        raise ConfigError(f"{what}: {value!r} is not one of {', '.join(map(str, opt.choices))}")
    return value
