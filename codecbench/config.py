"""A run is data: the benchmark config (YAML or CLI flags), resolved once, in one place.

    bench.yaml / CLI flags ──► BenchConfig ──resolve()──► resolved BenchConfig (defaults, environment
    fallbacks, device, every metric option filled in) ──► config.yaml in the run folder

The resolved config is written to the run folder as ``config.yaml`` in the same schema a user writes,
so ``codecbench run --config RUN/config.yaml --out RUN`` repeats (or resumes) the run exactly.
Environment variables (``Option.env`` of each metric option, e.g. ``CODECBENCH_WHISPER_MODEL``) are
fallbacks read here and nowhere else. ``identity()`` holds everything that can change a value: the
run id is derived from it, and a run folder refuses to resume with a different one.
"""

from __future__ import annotations

import copy
import difflib
import math
import os
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from codecbench.errors import ConfigError, UnknownName

ENGINES = ("local", "ray")
# Keys that only change how a run is scheduled, never a value: not part of its identity.
EXECUTION_KEYS = ("workers", "engine", "ray_address", "run_id", "offline", "save_audio", "shard", "require_metrics")


@dataclass
class MetricSpec:
    """One metric of a run and its options (resolved: every declared option present)."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)

    def to_yaml(self) -> str | dict[str, Any]:
        return {"name": self.name, **self.options} if self.options else self.name


@dataclass
class BenchConfig:
    """What a run computes (and, for the execution keys, how). Field names are the YAML keys."""

    dataset: str | None = None  # manifest, folder or built-in set; None: the embedded espeak-ng demo set
    dataset_format: str = "auto"  # "pairs": dataset is a JSONL of id/ref/deg (or a reference side, see degraded)
    # Pair scoring: the degraded side (Kaldi wav.scp or folder) matched by id to the dataset (the
    # reference side); the run scores these files instead of running codecs, and ``codecs`` holds
    # the one label of its ``codec`` column.
    degraded: str | None = None
    langs: list[str] | None = None
    limit: int | None = None  # at most N utterances per language
    codecs: list[str] | None = None  # NAME or NAME:ARG (e.g. ours-rvq:/path/to/ckpt); None: default set
    # Resolved: the weights each codec decodes with (content hash of an in-house checkpoint), so a
    # changed checkpoint is another run; given in a config, another checkpoint is refused.
    codec_revisions: dict[str, str] | None = None
    metrics: list[MetricSpec] | None = None  # None: the default set
    batch_size: int = 8
    max_batch_seconds: float = 160.0
    min_duration: float = 0.3  # seconds; shorter utterances are failures
    max_duration: float = 300.0  # seconds; longer utterances are failures (bounded memory; see README)
    device: str = "auto"
    workers: int | None = None  # CPU metric processes; None: every core (cores - 1 with a GPU)
    save_audio: str = "4"  # reconstructions kept per (codec, language): N, "all" or "none"
    engine: str = "local"
    ray_address: str | None = None
    shard: str | None = None  # "K/N": this run does shard K of N of the (codec, utterance) work
    run_id: str | None = None
    offline: bool = False
    # A named metric that cannot run here stops the run (exit 2); a default one is recorded as
    # unavailable. None: true when the config or command line names the metrics.
    require_metrics: bool | None = None

    def __post_init__(self) -> None:
        # Python callers may write metrics as names or {name: ..., OPTION: ...} mappings, as in YAML.
        if self.metrics is not None:
            self.metrics = [m if isinstance(m, MetricSpec) else _metric_entry(m, "metrics") for m in self.metrics]

    # -- reading -------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> BenchConfig:
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping of keys (dataset, codecs, metrics, ...)")
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - valid)
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {', '.join(map(repr, unknown))}; valid keys: "
                              f"{', '.join(sorted(valid))}{_did_you_mean(unknown[0], valid)}")
        kw = dict(data)
        if kw.get("codecs") is not None:
            kw["codecs"] = [_codec_entry(c, source) for c in _as_list(kw["codecs"], "codecs", source)]
        if kw.get("metrics") is not None:
            kw["metrics"] = [_metric_entry(m, source) for m in _as_list(kw["metrics"], "metrics", source)]
        if kw.get("langs") is not None:
            kw["langs"] = [str(x) for x in _as_list(kw["langs"], "langs", source)]
        if kw.get("save_audio") is not None:
            kw["save_audio"] = str(kw["save_audio"]).lower() if isinstance(kw["save_audio"], bool) else str(kw["save_audio"])
        cfg = cls(**kw)
        cfg.validate(source)
        return cfg

    @classmethod
    def load(cls, path: str | os.PathLike) -> BenchConfig:
        import yaml

        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{p}: not valid YAML ({str(exc).splitlines()[0]})") from exc
        return cls.from_dict(data, str(p))

    def override(self, **values: Any) -> BenchConfig:
        """A copy with the given (non-None) values replacing the file's: CLI flags win over the file."""
        new = copy.deepcopy(self)
        for k, v in values.items():
            if v is not None:
                setattr(new, k, v)
        new.validate("command line")
        return new

    def with_metric_options(self, assignments: list[str]) -> BenchConfig:
        """Apply ``--metric-opt NAME.OPTION=VALUE`` (VALUE parsed as YAML: numbers, booleans, strings)."""
        import yaml

        from codecbench.metrics.registry import default_names, resolve_names

        new = copy.deepcopy(self)
        if new.metrics is None:
            new.metrics = [MetricSpec(n) for n in default_names()]
        for a in assignments:
            m = re.fullmatch(r"([\w.-]+?)\.(\w+)=(.*)", a)
            if not m:
                raise ConfigError(f"--metric-opt {a!r}: expected NAME.OPTION=VALUE, e.g. wer.model=large-v3")
            name, key, raw = m.groups()
            targets = resolve_names([name])
            if len(targets) > 1:
                raise ConfigError(f"--metric-opt {a!r}: {name!r} names a family ({', '.join(targets)}); "
                                  "give the option to one of them")
            spec = next((s for s in new.metrics if resolve_names([s.name])[0] == targets[0]), None)
            if spec is None:
                raise ConfigError(f"--metric-opt {a!r}: metric {name!r} is not in this run's metrics")
            spec.options[key] = yaml.safe_load(raw) if raw else ""
        return new

    def validate(self, source: str) -> None:
        """Numeric and enumerated fields; names are checked at resolution."""
        def bad(key: str, why: str) -> ConfigError:
            return ConfigError(f"{source}: {key} {why}")

        if self.codecs is not None and not self.codecs:
            raise bad("codecs", "is empty (leave it out for the default set)")
        if self.codec_revisions is not None and not (
                isinstance(self.codec_revisions, dict) and all(isinstance(k, str) for k in self.codec_revisions)):
            raise bad("codec_revisions", f"must map codec names to revisions, not {self.codec_revisions!r}")
        if self.metrics is not None and not self.metrics:
            raise bad("metrics", "is empty (leave it out for the default set)")
        if self.langs is not None and not self.langs:
            raise bad("langs", "is empty (leave it out for every language)")
        for key in ("batch_size",):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise bad(key, f"must be a whole number >= 1, not {v!r}")
        if self.limit is not None and (not isinstance(self.limit, int) or self.limit < 1):
            raise bad("limit", f"must be a whole number >= 1, not {self.limit!r}")
        if self.workers is not None and (not isinstance(self.workers, int) or self.workers < 0):
            raise bad("workers", f"must be a whole number >= 0, not {self.workers!r}")
        for key in ("max_batch_seconds", "min_duration", "max_duration"):
            v = getattr(self, key)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0 or \
                    (key != "min_duration" and v == 0):
                raise bad(key, f"must be a positive finite number of seconds, not {v!r}")
        if self.min_duration >= self.max_duration:
            raise bad("min_duration", f"({self.min_duration}) must be below max_duration ({self.max_duration})")
        if not re.fullmatch(r"\d+|all|none", str(self.save_audio)):
            raise bad("save_audio", f"must be a number, 'all' or 'none', not {self.save_audio!r}")
        if self.engine not in ENGINES:
            raise bad("engine", f"must be one of {', '.join(ENGINES)}, not {self.engine!r}")
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", str(self.device)):
            raise bad("device", f"must be auto, cpu, cuda or cuda:N, not {self.device!r}")
        if self.shard is not None:
            m = re.fullmatch(r"(\d+)/(\d+)", str(self.shard))
            if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
                raise bad("shard", f"must be K/N with 1 <= K <= N, not {self.shard!r}")
        if self.dataset_format not in ("auto", "manifest", "folder", "commonvoice", "fleurs", "librispeech", "pairs"):
            raise bad("dataset_format", f"unknown format {self.dataset_format!r}")
        if self.degraded is not None and self.dataset_format not in ("auto", "pairs"):
            raise bad("degraded", f"scores pairs: dataset_format must be auto or pairs, not {self.dataset_format!r}")
        if self.dataset_format == "pairs" or self.degraded is not None:
            if not self.dataset:
                raise bad("dataset", "must name the reference side (wav.scp, folder or pairs JSONL) for pair scoring")
            if self.codecs is not None and len(self.codecs) != 1:
                raise bad("codecs", f"holds the one label of scored pairs, not {len(self.codecs)} names")

    # -- writing -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["metrics"] = None if self.metrics is None else [m.to_yaml() for m in self.metrics]
        return d

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def identity(self) -> dict[str, Any]:
        """Everything that can change a value (for a resolved config): the run id hashes this."""
        from codecbench.metrics.registry import get_metric

        d = {k: v for k, v in self.to_dict().items() if k not in EXECUTION_KEYS}
        d["device"] = "cuda" if str(self.device).startswith("cuda") else "cpu"
        d["metrics"] = [{"name": m.name, **{k: v for k, v in m.options.items()
                                           if get_metric(m.name).options.get(k) is None
                                           or get_metric(m.name).options[k].identity}}
                        for m in self.metrics or []]
        return d


# -- resolution -------------------------------------------------------------------------------
def resolve(cfg: BenchConfig) -> BenchConfig:
    """Defaults, environment fallbacks, device and every metric option filled in; user errors raise
    here (one line each), before any work."""
    from codecbench.codecs.base import resolve_device
    from codecbench.metrics.registry import default_names, get_metric

    out = copy.deepcopy(cfg)
    if out.require_metrics is None:
        out.require_metrics = cfg.metrics is not None
    device = resolve_device(cfg.device)
    if device.startswith("cuda"):
        _require_cuda(device)
    out.device = device
    if out.dataset and ":" not in out.dataset and Path(out.dataset).exists():
        out.dataset = str(Path(out.dataset).resolve())  # config.yaml re-runs from any folder
    if out.degraded is not None:
        out.dataset_format = "pairs"
        if Path(out.degraded).exists():
            out.degraded = str(Path(out.degraded).resolve())
    if out.dataset_format == "pairs" and out.codecs is None:
        from codecbench.data.pairs import pair_label

        out.codecs = [pair_label(out.degraded or out.dataset or "")]
    if out.codecs is None:
        from codecbench.codecs.registry import default_codecs

        out.codecs = default_codecs()
    dupes = sorted({c for c in out.codecs if out.codecs.count(c) > 1})
    if dupes:
        raise ConfigError(f"codec listed twice: {', '.join(dupes)}")
    out.codec_revisions = _codec_revisions(out.codecs, cfg.codec_revisions, out.dataset_format == "pairs")
    specs = cfg.metrics if cfg.metrics is not None else [MetricSpec(n) for n in default_names()]
    out.metrics = resolve_metrics(specs, device)
    cpus = available_cpus()
    if out.workers is None:
        # On a GPU the main process feeds the codecs and model metrics, which takes a core: the pool
        # gets the others. On the CPU every stage competes for the same cores: the pool gets all of
        # them (the OS shares them with the main process), so no core idles while the pool has a
        # backlog, at the end of a run above all (measured on 2 cores, default run: idle core time
        # 20% -> 11%). Scoring pairs with signal metrics only, the main process just reads files.
        model_work = out.dataset_format != "pairs" or any(get_metric(s.name).info().batched for s in out.metrics)
        out.workers = max(1, cpus - int(model_work and not device.startswith("cpu")))
    elif out.workers > cpus:  # more processes than CPUs only cost memory (--workers 100000: ~1,100 started)
        import sys

        print(f"codecbench: note: workers {out.workers} capped at {cpus}, the CPUs this process may use",
              file=sys.stderr)
        out.workers = cpus
    return out


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask: taskset, cgroups cpusets, SLURM allocations)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _codec_revisions(codecs: list[str], given: dict[str, str] | None, pairs: bool) -> dict[str, str] | None:
    """Each codec's weights revision (None when no codec has one); a given one must match (revisions of
    codecs not in the list are ignored: a run's config.yaml reused with other codecs)."""
    from codecbench.codecs.registry import codec_revision

    found = {} if pairs else {c: r for c in codecs if (r := codec_revision(c)) is not None}
    for name, rev in (given or {}).items():
        if name in codecs and found.get(name) != str(rev):  # others: a file reused with other codecs
            raise ConfigError(f"codec {name!r}: the config is for weights revision {rev}, but they are "
                              f"{found.get(name) or 'unknown'} here (another checkpoint); leave codec_revisions "
                              "out to score this one as a new run")
    return found or None


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
            resolved.append(MetricSpec(name, resolve_options(get_metric(name), spec.options, device)))
    return resolved


def resolve_options(proto, given: dict[str, Any], device: str) -> dict[str, Any]:
    """A metric's options: given > environment fallback > default (which may depend on the device)."""
    declared = proto.options
    unknown = sorted(set(given) - set(declared))
    if unknown:
        valid = ", ".join(sorted(declared)) or "none"
        raise UnknownName(f"metric {proto.name!r} has no option {', '.join(map(repr, unknown))}; its options: {valid}"
                          f"{_did_you_mean(unknown[0], declared)}")
    out: dict[str, Any] = {}
    for key, opt in declared.items():
        if key in given:
            value, origin = given[key], "config"
        elif opt.env and os.environ.get(opt.env) not in (None, ""):
            value, origin = os.environ[opt.env], f"environment variable {opt.env}"
        else:
            out[key] = opt.default_for(device)
            continue
        out[key] = _coerce(value, opt, f"{proto.name}.{key} (from {origin})")
    return out


def _coerce(value: Any, opt, what: str) -> Any:
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


def _require_cuda(device: str) -> None:
    try:
        import torch
    except ImportError as exc:
        raise ConfigError(f"device {device!r}: torch is not installed") from exc
    if not torch.cuda.is_available():
        raise ConfigError(f"device {device!r}: no CUDA device is available here (use --device cpu or auto)")
    index = int(device.split(":")[1]) if ":" in device else 0
    if index >= torch.cuda.device_count():
        raise ConfigError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) here")


def identity_diff(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ (metrics compared by name: ``metrics.wer.beam``)."""
    keys = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if k == "metrics" and isinstance(a, list) and isinstance(b, list):
            a, b = ({m["name"]: {x: y for x, y in m.items() if x != "name"} for m in v} for v in (a, b))
        if isinstance(a, dict) and isinstance(b, dict):
            keys += identity_diff(a, b, f"{prefix}{k}.")
        elif a != b:
            keys.append(f"{prefix}{k}")
    return keys


def _as_list(v: Any, key: str, source: str) -> list[Any]:
    if isinstance(v, str):
        return [x.strip() for x in v.split(",") if x.strip()]
    if not isinstance(v, list):
        raise ConfigError(f"{source}: {key} must be a list")
    return v


def _codec_entry(c: Any, source: str) -> str:
    if isinstance(c, str) and c.strip():
        return c.strip()
    if isinstance(c, dict) and isinstance(c.get("name"), str) and set(c) <= {"name", "arg"}:
        return f"{c['name']}:{c['arg']}" if c.get("arg") is not None else c["name"]
    raise ConfigError(f"{source}: a codec is a name (e.g. opus-6kbps, ours-rvq:PATH) or {{name, arg}}, not {c!r}")


def _metric_entry(m: Any, source: str) -> MetricSpec:
    if isinstance(m, str) and m.strip():
        return MetricSpec(m.strip())
    if isinstance(m, dict) and isinstance(m.get("name"), str):
        return MetricSpec(m["name"], {k: v for k, v in m.items() if k != "name"})
    raise ConfigError(f"{source}: a metric is a name or {{name: ..., OPTION: VALUE}}, not {m!r}")


def _did_you_mean(name: str, valid) -> str:
    close = difflib.get_close_matches(name, list(valid), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
