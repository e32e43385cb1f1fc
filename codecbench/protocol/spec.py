"""A paper's evaluation protocol as data (``configs/protocols/NAME.yaml``): the dataset, the metrics
with their models, revisions and options (text normaliser included), the resampling, which summary
figure stands for each paper column (with its scale), which codec for each paper row, and the
published values with their source. ``validate`` checks all of it offline; ``to_config`` turns it into
the run config a ``codecbench run --protocol NAME`` executes.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codecbench.config import BenchConfig, ConfigError, MetricSpec

PROTOCOL_DIRS = ("configs/protocols",)  # relative to the working folder, then to the repository
RESAMPLING = "soxr-vhq"  # what codecbench.audio.resample does; a protocol must say it expects this
KEYS = {"name", "title", "source", "dataset", "resampling", "metrics", "columns", "rows", "notes"}


@dataclass
class Column:
    """A paper column: the summary figure that stands for it (``metric``: an output or corpus figure
    such as ``wer_corpus``), times ``scale`` (100 for a percentage)."""

    name: str
    metric: str
    scale: float = 1.0
    unit: str = ""
    decimals: int = 2


@dataclass
class Row:
    """A paper row: the codec that reproduces it and the paper's values by column."""

    label: str
    codec: str
    published: dict[str, float] = field(default_factory=dict)
    unverified: list[str] = field(default_factory=list)  # columns whose published value was not checked
    paper: dict[str, Any] = field(default_factory=dict)  # what the paper says about the row (token rate, ...)
    checked: str = ""


@dataclass
class Protocol:
    name: str
    title: str
    source: dict[str, Any]
    dataset: dict[str, Any]
    resampling: str
    metrics: list[MetricSpec]
    columns: list[Column]
    rows: list[Row]
    notes: str = ""
    path: str = ""

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def dataset_path(self, given: str | None = None) -> str | None:
        """The dataset folder: given on the command line, else the protocol's environment variable."""
        env = self.dataset.get("env")
        return given or self.dataset.get("path") or (os.environ.get(env) if env else None) or None

    def to_config(self, dataset: str | None = None) -> BenchConfig:
        """The run config of this protocol (every utterance: no limit)."""
        path = self.dataset_path(dataset)
        if not path:
            env = self.dataset.get("env")
            raise ConfigError(f"protocol {self.name}: give the {self.dataset.get('name', 'dataset')} folder with --dataset"
                              + (f" or set {env}" if env else "")
                              + (f" (download: {self.dataset['url']})" if self.dataset.get("url") else ""))
        codecs = list(dict.fromkeys(r.codec for r in self.rows))
        return BenchConfig(dataset=path, dataset_format=self.dataset.get("format", "auto"), codecs=codecs,
                           metrics=[MetricSpec(m.name, dict(m.options)) for m in self.metrics])


def find(name_or_path: str) -> Path:
    """A protocol file: an existing path, or NAME in ./configs/protocols or the repository's."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    roots = [Path.cwd() / d for d in PROTOCOL_DIRS] + [Path(__file__).resolve().parents[2] / d for d in PROTOCOL_DIRS]
    for root in roots:
        for cand in (root / name_or_path, root / f"{name_or_path}.yaml"):
            if cand.is_file():
                return cand
    known = sorted({f.stem for r in roots if r.is_dir() for f in r.glob("*.yaml")})
    raise ConfigError(f"unknown protocol {name_or_path!r} (a file, or one of: {', '.join(known) or 'none found'})")


def is_protocol(data: Any) -> bool:
    return isinstance(data, dict) and "columns" in data and "rows" in data


def load(name_or_path: str) -> Protocol:
    from codecbench.safe_io import read_yaml

    path = find(name_or_path)
    return from_dict(read_yaml(path, "protocol") or {}, str(path))


def from_dict(data: dict[str, Any], source: str = "protocol") -> Protocol:
    """Parse (structure only; ``validate`` checks names and values against codecbench)."""
    def bad(msg: str) -> ConfigError:
        return ConfigError(f"{source}: {msg}")

    if not is_protocol(data):
        raise bad("not a protocol (needs columns: and rows:)")
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise bad(f"unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(KEYS))}")
    for key in ("name", "source", "dataset", "metrics"):
        if not data.get(key):
            raise bad(f"{key} is missing")
    if not isinstance(data["dataset"], dict) or not isinstance(data["source"], dict):
        raise bad("source and dataset must be mappings")
    columns = []
    for name, c in (data["columns"] or {}).items():
        if not isinstance(c, dict) or not isinstance(c.get("metric"), str):
            raise bad(f"columns.{name}: expected {{metric: NAME, scale: X}}, not {c!r}")
        extra = set(c) - {"metric", "scale", "unit", "decimals"}
        if extra:
            raise bad(f"columns.{name}: unknown key(s) {', '.join(sorted(extra))}")
        columns.append(Column(str(name), c["metric"], float(c.get("scale", 1.0)), str(c.get("unit", "")),
                              int(c.get("decimals", 2))))
    rows = []
    for i, r in enumerate(data["rows"] or []):
        if not isinstance(r, dict) or not r.get("label") or not r.get("codec"):
            raise bad(f"rows[{i}]: expected {{label, codec, published: {{COLUMN: value}}}}, not {r!r}")
        extra = set(r) - {"label", "codec", "published", "unverified", "paper", "checked"}
        if extra:
            raise bad(f"rows[{i}] ({r['label']}): unknown key(s) {', '.join(sorted(extra))}")
        rows.append(Row(str(r["label"]), str(r["codec"]), dict(r.get("published") or {}),
                        list(r.get("unverified") or []), dict(r.get("paper") or {}), str(r.get("checked") or "")))
    return Protocol(name=str(data["name"]), title=str(data.get("title") or data["name"]), source=data["source"],
                    dataset=data["dataset"], resampling=str(data.get("resampling") or ""),
                    metrics=_metrics(data["metrics"], source), columns=columns, rows=rows,
                    notes=str(data.get("notes") or ""), path=source)


def _metrics(entries: Any, source: str) -> list[MetricSpec]:
    from codecbench.schema import Invalid

    try:
        return [MetricSpec.of(m) for m in entries]
    except Invalid as exc:
        raise ConfigError(f"{source}: metrics {exc}") from None


def validate(p: Protocol) -> list[str]:
    """Everything checked offline (names, options, values); ConfigError lists the problems. Returns
    notes that are not errors (e.g. values marked unverified)."""
    from codecbench.codecs.registry import get_spec
    from codecbench.errors import CodecbenchError
    from codecbench.metrics.registry import output_owner
    from codecbench.pipeline.resolve import resolve_metrics

    problems, notes = [], []
    if p.resampling != RESAMPLING:
        problems.append(f"resampling is {p.resampling!r}; codecbench resamples with {RESAMPLING}")
    for key in ("paper", "table"):
        if not p.source.get(key):
            problems.append(f"source.{key} is missing (published values need their source)")
    if not isinstance(p.dataset.get("utterances"), int) or p.dataset["utterances"] < 1:
        problems.append("dataset.utterances must be the number of utterances the paper scored")
    try:
        metrics = resolve_metrics(p.metrics, "cpu")
    except CodecbenchError as exc:
        problems.append(f"metrics: {exc}")
        metrics = []
    names = {m.name for m in metrics}
    owners = output_owner()
    corpus = {"wer_corpus": "wer", "cer_corpus": "wer", "dwer_corpus": "wer", "dcer_corpus": "wer"}
    for c in p.columns:
        owner = owners.get(c.metric) or corpus.get(c.metric)
        if owner is None:
            problems.append(f"columns.{c.name}: {c.metric!r} is no metric output or corpus figure")
        elif owner not in names:
            problems.append(f"columns.{c.name}: {c.metric} comes from metric {owner!r}, which the protocol does not run")
        if not (math.isfinite(c.scale) and c.scale > 0):
            problems.append(f"columns.{c.name}: scale must be a positive number")
    cols = {c.name for c in p.columns}
    for r in p.rows:
        try:
            get_spec(r.codec)
        except CodecbenchError as exc:
            problems.append(f"rows.{r.label}: {exc}")
        for col, v in r.published.items():
            if col not in cols:
                problems.append(f"rows.{r.label}: published value for unknown column {col!r}")
            elif isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                problems.append(f"rows.{r.label}.{col}: published value must be a number, not {v!r}")
        for col in r.unverified:
            if col not in r.published:
                problems.append(f"rows.{r.label}: unverified column {col!r} has no published value")
        if r.unverified:
            notes.append(f"{r.label}: {', '.join(r.unverified)} not checked against the paper")
        if r.published and not r.checked:
            problems.append(f"rows.{r.label}: say how the published values were checked (checked:)")
    if problems:
        raise ConfigError(f"protocol {p.name} ({p.path}): " + "; ".join(problems))
    return notes


def load_run_config(path: str) -> BenchConfig:
    """A run config file or a protocol file (its run config; the dataset from its environment variable,
    or a placeholder when unset, since listing and downloading models need no audio)."""
    from codecbench.safe_io import read_yaml

    data = read_yaml(path, "config file")
    if not is_protocol(data):
        return BenchConfig.load(path)
    p = from_dict(data, path)
    return p.to_config(p.dataset_path() or f"<{p.dataset.get('name', 'dataset')}>")


def dataset_note(config_path: str) -> None:
    """For a protocol file: print (stderr) where its dataset is expected; codecbench downloads no datasets."""
    import sys

    from codecbench.safe_io import read_yaml

    data = read_yaml(config_path, "config file")
    if not is_protocol(data):
        return
    p = from_dict(data, config_path)
    path, d = p.dataset_path(), p.dataset
    present = bool(path) and Path(path).exists()
    where = f"{path} ({'present' if present else 'missing'})" if path else f"not set: --dataset or {d.get('env')}"
    print(f"dataset: {d.get('name')}, {d.get('utterances')} utterances: {where}"
          + (f"; download {d['url']}" if d.get("url") and not present else ""), file=sys.stderr)
