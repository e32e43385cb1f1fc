"""A run is data: the benchmark config (YAML or command-line options) in one schema.

    bench.yaml / options ──► BenchConfig ──resolve()──► resolved BenchConfig (defaults, environment
    fallbacks, device, every metric and codec option filled in) ──► config.yaml in the run folder

Each field of ``BenchConfig`` is declared once, with its type, default, help and validator
(``codecbench.schema.setting``): YAML files and Python callers are checked against it
(``validate``), and the options of ``run`` and ``score`` are generated from it (``schema.add_options``).
Adding a field is one ``setting(...)`` line here (plus its use); see docs/architecture.md.
Resolution (defaults, environment fallbacks, names) is ``codecbench.pipeline.resolve``.

The resolved config is written to the run folder as ``config.yaml`` in the same schema a user writes,
so ``codecbench run --config RUN/config.yaml --out RUN`` repeats (or resumes) the run exactly.
``identity()`` holds everything that can change a value: the run id is derived from it (and the
utterance ids); a run folder refuses to resume with a different one, except that it may grow
(``extension_diff``: more utterances, languages or codecs keep the rows already computed).
"""

from __future__ import annotations

import copy
import difflib
import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from codecbench.device import DEVICE_PATTERN
from codecbench.errors import ConfigError
from codecbench.schema import (
    Assignments,
    Choice,
    Flag,
    Invalid,
    Kind,
    Names,
    Number,
    Text,
    Whole,
    check_fields,
    setting,
    settings,
    short,
)

ENGINES = ("local", "ray")  # pipeline.EXECUTORS names their executors
# dataset formats (data/loaders.load_dataset's readers); "pairs": a ref/deg pair list (pair scoring)
DATASET_FORMATS = ("auto", "manifest", "folder", "commonvoice", "fleurs", "librispeech", "hf", "lhotse", "pairs")
DATASET_ROLES = ("audio", "id", "lang", "text", "speaker")  # a 🤗 dataset's columns by role
TRACKERS = ("wandb", "mlflow")  # codecbench/report/trackers.py
RUN_ID = r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}"  # a folder name, never a path
LABEL = r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}"
# identity keys that select which rows a run has, not how each is computed: a run folder may grow in them
SELECTION = ("langs", "limit", "utterance_ids_sha256")
RUN, SCORE = ("run",), ("run", "score")


@dataclass
class MetricSpec:
    """One metric of a run and its options (resolved: every declared option present)."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)

    def to_yaml(self) -> str | dict[str, Any]:
        return {"name": self.name, **self.options} if self.options else self.name

    @classmethod
    def of(cls, m: Any) -> MetricSpec:
        """A name, a ``{name: ..., OPTION: VALUE}`` mapping or a MetricSpec (else ``Invalid``)."""
        if isinstance(m, MetricSpec):
            return m
        if isinstance(m, str) and m.strip():
            return cls(m.strip())
        if isinstance(m, dict) and isinstance(m.get("name"), str) and all(isinstance(k, str) for k in m):
            return cls(m["name"], {k: v for k, v in m.items() if k != "name"})
        raise Invalid(f"must list metrics: a metric is a name or {{name: ..., OPTION: VALUE}}, not {short(m)}")


@dataclass
class CodecEntry:
    """One codec of a run: the registered name, its argument (``NAME:ARG``, e.g. a checkpoint folder),
    its options and a display label. The label (default: ``NAME[:ARG]``) names the codec's rows: the
    codec column of every table, plot, LaTeX row, compare id and JUnit name.

    Written ``LABEL=NAME[:ARG]`` on the command line, or ``{name, label, arg, options}`` in YAML; a
    one-file codec (``codecs/from_file.py``) is ``FILE.py[:CLASS]`` or ``{file: FILE.py, name: CLASS}``."""

    name: str
    arg: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    label: str | None = None

    @property
    def target(self) -> str:
        """What the codec registry loads: ``NAME`` or ``NAME:ARG``."""
        return self.name if self.arg is None else f"{self.name}:{self.arg}"

    @property
    def key(self) -> str:
        """The codec column of its rows."""
        return self.label or self.target

    def __str__(self) -> str:
        return f"{self.label}={self.target}" if self.label else self.target

    @classmethod
    def parse(cls, text: str) -> CodecEntry:
        """``[LABEL=]NAME[:ARG]`` (a '=' after the ':' belongs to ARG, e.g. a path)."""
        head, sep, rest = text.partition("=")
        label = None
        if sep and ":" not in head and "/" not in head:
            label, text = head.strip(), rest
        name, sep, arg = text.partition(":")
        return cls(name.strip(), arg.strip() if sep else None, {}, label).checked()

    @classmethod
    def of(cls, c: Any) -> CodecEntry:
        """A ``[LABEL=]NAME[:ARG]`` string, a ``{name, label, arg, options}`` mapping or a CodecEntry."""
        if isinstance(c, CodecEntry):
            return c.checked()
        if isinstance(c, str):
            return cls.parse(c)
        if isinstance(c, dict) and isinstance(c.get("file"), str) and set(c) <= {"file", "name", "label", "options"}:
            c = {**{k: v for k, v in c.items() if k != "file"}, "name": c["file"], "arg": c.get("name")}
        if isinstance(c, dict) and isinstance(c.get("name"), str) and set(c) <= {"name", "label", "arg", "options"}:
            options = c.get("options") or {}
            if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
                raise Invalid(f"has options of {c['name']!r} that are not a mapping of names to values: {short(options)}")
            arg = c.get("arg")
            if arg is not None and (isinstance(arg, bool) or not isinstance(arg, (str, int, float))):
                raise Invalid(f"has an arg of {c['name']!r} that is not a text (e.g. a checkpoint folder): {short(arg)}")
            label = c.get("label")
            if label is not None and not isinstance(label, str):
                raise Invalid(f"has a label of {c['name']!r} that is not a text: {short(label)}")
            return cls(c["name"].strip(), None if arg is None else str(arg), dict(options), label).checked()
        raise Invalid("must list codecs: a codec is a name (e.g. opus-6kbps, ours-rvq:PATH, mine=ours-rvq:PATH, "
                      f"mycodec.py:MyCodec), {{name, label, arg, options}} or {{name: CLASS, file: PATH.py}}, not {short(c)}")

    def checked(self) -> CodecEntry:
        if not self.name:
            raise Invalid(f"has a codec without a name: {str(self)!r}")
        if self.label is not None and not re.fullmatch(LABEL, self.label):
            raise Invalid(f"has a bad label {self.label!r}: a label is letters, digits and . _ + - (starting with a "
                          "letter or digit, at most 64)")
        return self

    def to_yaml(self) -> str | dict[str, Any]:
        if not self.options:
            return str(self)
        return {"name": self.name, **({"label": self.label} if self.label else {}),
                **({"arg": self.arg} if self.arg is not None else {}), "options": self.options}


# -- kinds of the run's fields ------------------------------------------------------------------------
@dataclass(frozen=True)
class CodecList(Kind):
    describe = "a list of codecs"
    metavar = "[LABEL=]NAME[:ARG],..."

    def check(self, value: Any) -> list[CodecEntry]:
        items = [x.strip() for x in value.split(",") if x.strip()] if isinstance(value, str) else value
        if not isinstance(items, list):
            raise self.fail(value)
        if not items:
            raise Invalid("is empty (leave it out for the default set)")
        entries = [CodecEntry.of(c) for c in items]
        keys = [c.key for c in entries]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise Invalid(f"names {', '.join(twice)} twice (give each codec its own label: LABEL=NAME[:ARG])")
        return entries

    def parse(self, text: str) -> list[CodecEntry]:
        if not text.strip(", "):
            raise Invalid("needs at least one codec (leave it out for the default set)")
        return self.check(text)


@dataclass(frozen=True)
class MetricList(Kind):
    describe = "a list of metrics"
    metavar = "NAME,..."

    def check(self, value: Any) -> list[MetricSpec]:
        items = [x.strip() for x in value.split(",") if x.strip()] if isinstance(value, str) else value
        if not isinstance(items, list):
            raise self.fail(value)
        if not items:
            raise Invalid("is empty (leave it out for the default set)")
        return [MetricSpec.of(m) for m in items]

    def parse(self, text: str) -> list[MetricSpec]:
        if not text.strip(", "):
            raise Invalid("needs at least one metric (leave it out for the default set)")
        return self.check(text)


@dataclass(frozen=True)
class Shard(Kind):
    describe = "K/N with 1 <= K <= N"
    metavar = "K/N"

    def check(self, value: Any) -> str:
        m = re.fullmatch(r"(\d+)/(\d+)", value) if isinstance(value, str) else None
        if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
            raise self.fail(value)
        return value


def _save_audio(v: Any) -> Any:
    return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


@dataclass(frozen=True)
class Revisions(Kind):
    describe = "a mapping of codec names to weight revisions"

    def check(self, value: Any) -> dict[str, str]:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise self.fail(value)
        return {k: str(v) for k, v in value.items()}


@dataclass
class BenchConfig:
    """What a run computes (and, for the fields that are not part of the identity, how). Field names are
    the YAML keys; ``run`` and ``score`` options are generated from the fields that name them."""

    dataset: str | None = setting(
        None, Text("a string: a manifest, folder or built-in set (quote names YAML reads as numbers)"),
        "manifest (.jsonl/.csv/.json), dataset folder or built-in set (default: the embedded espeak-ng set)",
        commands=RUN)
    dataset_format: str = setting("auto", Choice(DATASET_FORMATS), "how to read --dataset; pairs: a ref/deg pair "
                                  "list", commands=RUN)
    # Pair scoring: the degraded side (Kaldi wav.scp or folder) matched by id to the dataset (the
    # reference side); the run scores these files instead of running codecs, and ``codecs`` holds
    # the one label of its ``codec`` column.
    degraded: str | None = setting(None, Text(), "pair scoring: the degraded side (wav.scp or folder)")
    langs: list[str] | None = setting(None, Names("language codes"), "comma-separated language codes to keep "
                                      "(default: every language)", commands=RUN, metavar="LANG,...")
    limit: int | None = setting(None, Whole(1), "at most N utterances per language", commands=RUN, metavar="N")
    codecs: list[CodecEntry] | None = setting(
        None, CodecList(), "comma-separated codecs: NAME, NAME:ARG for a local checkpoint, LABEL=NAME[:ARG] to name "
        "its rows (default: the default set)", commands=RUN)
    # Resolved: the weights each codec decodes with (content hash of an in-house checkpoint), by codec
    # label, so a changed checkpoint is another run; given in a config, another checkpoint is refused.
    codec_revisions: dict[str, str] | None = setting(None, Revisions(), "weights revision of each codec (resolved)")
    metrics: list[MetricSpec] | None = setting(
        None, MetricList(), "metric, column or family names (default: the default set)", commands=SCORE)
    batch_size: int = setting(8, Whole(1), "codec batch size", commands=RUN, metavar="N")
    max_batch_seconds: float = setting(160.0, Number(0, above=True), "cap on padded audio seconds per codec batch",
                                       commands=RUN, metavar="S")
    min_duration: float = setting(0.3, Number(0), "seconds below which utterances are failures", metavar="S")
    max_duration: float = setting(300.0, Number(0, above=True), "seconds above which utterances are failures, "
                                  "which bounds memory", commands=SCORE, metavar="S")
    device: str = setting("auto", Text("auto, cpu, cuda or cuda:N", DEVICE_PATTERN),
                          "auto, cpu, cuda, cuda:1, ...", commands=SCORE)
    workers: int | None = setting(None, Whole(0), "CPU metric worker processes (default: every CPU; the CPUs less "
                                  "one when a GPU runs the codecs or model metrics)",
                                  commands=SCORE, identity=False, metavar="N")
    save_audio: str = setting("4", Text("a number, 'all' or 'none'", r"\d+|all|none"),
                              "reconstructions to keep per (codec, language): N, 'all' or 'none'", commands=RUN,
                              identity=False, metavar="N|all|none", normalise=_save_audio)
    engine: str = setting("local", Choice(ENGINES), "executor", commands=SCORE, identity=False)
    ray_address: str | None = setting(None, Text(), "Ray cluster address (default: start a local instance)",
                                      commands=SCORE, identity=False, metavar="ADDRESS")
    shard: str | None = setting(None, Shard(), "run shard K of N of the (codec, utterance) work", commands=RUN,
                                identity=False)
    run_id: str | None = setting(None, Text("letters, digits and . _ + - (a name, never a path; at most 128, "
                                            "starting with a letter or digit)", RUN_ID),
                                 "name of the run (default: derived from the configuration)", commands=SCORE,
                                 identity=False, metavar="NAME")
    offline: bool = setting(False, Flag(), "never contact a model hub (HF_HUB_OFFLINE=1)", commands=RUN,
                            identity=False)
    # A named metric that cannot run here stops the run (exit 2); a default one is recorded as
    # unavailable. None: true when the config or command line names the metrics.
    require_metrics: bool | None = setting(None, Flag(), "stop when a metric cannot run here", identity=False)
    # -- reading 🤗 datasets and Lhotse manifests (codecbench/data/hf.py, lhotse_manifests.py) --------
    dataset_columns: dict[str, str] | None = setting(
        None, Assignments(Text(), "ROLE=COLUMN"), "a 🤗 dataset's columns by role: audio, id, lang, text, speaker "
        "(default: found by name)", commands=RUN)
    dataset_lang: str | None = setting(None, Text(), "every utterance's language (a set without one, or naming it "
                                       "otherwise, e.g. English)", commands=RUN, metavar="CODE")
    # Resolved: the 🤗 dataset read, a hub commit or a save_to_disk fingerprint; given, another is refused.
    dataset_revision: str | None = setting(None, Text(), "the 🤗 hub dataset's revision to read (default: the "
                                           "latest; the commit read is recorded)", commands=RUN, metavar="REV")
    # -- experiment trackers (codecbench/report/trackers.py): where the finished run is also logged --------
    log_to: list[str] | None = setting(None, Names("trackers", Choice(TRACKERS)), "also log the finished run to these "
                                       "trackers (WANDB_MODE=offline and MLFLOW_TRACKING_URI work); a tracker that "
                                       "fails is a warning", commands=RUN, identity=False, metavar="wandb,mlflow")
    log_project: str | None = setting(None, Text(), "the W&B project / MLflow experiment (default: codecbench)",
                                      commands=RUN, identity=False, metavar="NAME")
    # Pair scoring: the bitrate of the scored reconstructions (kbps), by codec label; a codec states its own.
    bitrate: dict[str, float] | None = setting(
        None, Assignments(Number(0, above=True, unit="kbps"), "CODEC=KBPS"),
        "pairs: the bitrate of the degraded files, so reports place them on the rate axis", commands=("score",))

    def __post_init__(self) -> None:
        # Python callers may write codecs and metrics as strings or mappings, as in YAML.
        for key, entry in (("metrics", MetricSpec.of), ("codecs", CodecEntry.of)):
            value = getattr(self, key)
            if isinstance(value, list):
                try:
                    setattr(self, key, [entry(x) for x in value])
                except Invalid as exc:
                    raise ConfigError(f"{key} {exc}") from None

    # -- reading -------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> BenchConfig:
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping of keys (dataset, codecs, metrics, ...)")
        valid = settings(cls)
        unknown = sorted(set(map(str, data)) - set(valid))
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {', '.join(map(repr, unknown))}; valid keys: "
                              f"{', '.join(valid)}{did_you_mean(unknown[0], valid)}")
        cfg = cls()
        for key, value in data.items():
            object.__setattr__(cfg, key, value)  # checked (and converted) by validate
        cfg.validate(source)
        return cfg

    @classmethod
    def load(cls, path: str | os.PathLike) -> BenchConfig:
        from codecbench.safe_io import read_yaml

        return cls.from_dict(read_yaml(path, "config file") or {}, str(path))

    def override(self, **values: Any) -> BenchConfig:
        """A copy with the given (non-None) values replacing the file's: options win over the file."""
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
            try:
                spec.options[key] = yaml.safe_load(raw) if raw else ""
            except yaml.YAMLError:
                spec.options[key] = raw
        return new

    def validate(self, source: str) -> None:
        """Every field against its declaration (type and range), then the rules between fields; names
        are checked at resolution. Raises a one-line ConfigError."""
        check_fields(self, source)
        problem = next((p for rule in _RULES if (p := rule(self))), None)
        if problem:
            raise ConfigError(f"{source}: {problem}")

    # -- writing -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["metrics"] = None if self.metrics is None else [m.to_yaml() for m in self.metrics]
        d["codecs"] = None if self.codecs is None else [c.to_yaml() for c in self.codecs]
        return d

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def codec(self, key: str) -> CodecEntry:
        """The codec whose rows are named ``key`` (its label)."""
        return next(c for c in self.codecs or [] if c.key == key)

    @property
    def codec_keys(self) -> list[str]:
        return [c.key for c in self.codecs or []]

    def identity(self) -> dict[str, Any]:
        """Everything that can change a value (for a resolved config): the run id hashes this. Each codec
        by label with what its rows are computed with: name, argument and options (``codecs``) and
        weights revision (``codec_revisions``)."""
        from codecbench.metrics.registry import get_metric

        d = {k: v for k, v in self.to_dict().items() if settings(BenchConfig)[k][0].identity}
        d["device"] = "cuda" if str(self.device).startswith("cuda") else "cpu"
        d["metrics"] = [{"name": m.name, **_identity_options(get_metric(m.name).options, m.options)}
                        for m in self.metrics or []]
        d["codecs"] = {c.key: {"codec": c.target, "options": _identity_options(_codec_options(c), c.options)}
                       for c in self.codecs or []}
        return d


def _codec_options(c: CodecEntry) -> dict[str, Any]:
    if not c.options:
        return {}
    from codecbench.codecs.registry import get_spec

    return get_spec(c.target).options


def _identity_options(declared: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The options that can change a value (undeclared ones kept: they are refused at resolution)."""
    return {k: v for k, v in given.items() if declared.get(k) is None or declared[k].identity}


def _durations(c: BenchConfig) -> str | None:
    if c.min_duration >= c.max_duration:
        return f"min_duration ({c.min_duration}) must be below max_duration ({c.max_duration})"
    return None


def _degraded(c: BenchConfig) -> str | None:
    if c.degraded is not None and c.dataset_format not in ("auto", "pairs"):
        return f"degraded scores pairs: dataset_format must be auto or pairs, not {c.dataset_format!r}"
    return None


def _pairs(c: BenchConfig) -> str | None:
    if c.dataset_format != "pairs" and c.degraded is None:
        return "bitrate is for scored pairs (a codec states its own)" if c.bitrate else None
    if not c.dataset:
        return "dataset must name the reference side (wav.scp, folder or pairs JSONL) for pair scoring"
    if c.codecs is not None and len(c.codecs) != 1:
        return f"codecs holds the one label of scored pairs, not {len(c.codecs)} names"
    return None


def _columns(c: BenchConfig) -> str | None:
    unknown = sorted(set(c.dataset_columns or {}) - set(DATASET_ROLES))
    if unknown:
        return f"dataset_columns maps roles ({', '.join(DATASET_ROLES)}) to column names, not {', '.join(unknown)}"
    return None


_RULES = (_durations, _degraded, _pairs, _columns)  # rules between fields: a problem, or None


# -- identities: resuming and extending a run folder -----------------------------------------------
def upgrade_identity(ident: dict[str, Any]) -> dict[str, Any]:
    """A stored identity in today's form: before codec labels, ``codecs`` was the list of ``NAME[:ARG]``."""
    if not isinstance(ident.get("codecs"), list):
        return ident
    return {**ident, "codecs": {c: {"codec": c, "options": {}} for c in ident["codecs"]}}


def extension_diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Keys in which two identities differ for the rows they share: the selection (languages, limit,
    utterance ids) may differ, and only codecs (by label) in both are compared — so a run may grow by
    utterances, languages and codecs, while another metric option, checkpoint or codec behind a label
    is a different configuration."""
    a, b = ({k: v for k, v in upgrade_identity(x).items() if k not in SELECTION} for x in (old, new))
    common = set(a.get("codecs") or {}) & set(b.get("codecs") or {})
    for x in (a, b):
        for key in ("codecs", "codec_revisions"):
            x[key] = {k: v for k, v in (x.get(key) or {}).items() if k in common}
    return identity_diff(a, b)


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


def did_you_mean(name: str, valid) -> str:
    close = difflib.get_close_matches(name, list(valid), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
