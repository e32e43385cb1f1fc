"""Metric interface and registry metadata (after VERSA: one file per metric family, metadata per metric).

A metric computes one or more named outputs (columns) for one reference/degraded pair:
``compute(x: MetricInput) -> {output: float | Failure}``. Raising ``MetricFailure`` fails all its
outputs with that reason. Never return a made-up number for a failure (no 0.0, 1.0 or NaN).

Metrics with ``batched=True`` (model-based: speaker, ASR, DNSMOS) run in the model-metric stage,
get whole batches through ``compute_batch`` and may use the GPU; the others (signal metrics) run per
item in a CPU worker pool. Metrics with ``needs_encoder=True`` (token stability) run in the codec
stage, beside the loaded codec: their inputs carry ``MetricInput.encode``, the codec's encoder. A metric is created per run from its name and options
(``codecbench.metrics.registry.create``); ``setup(device, workdir)`` gives it the device and the run
folder before first use.

A metric owns what it knows beyond its per-item values, all optional:
- ``streams``: side-record streams it appends to through the run folder (``RunFolder(workdir)
  .append_records``; e.g. ASR transcripts), keyed by (codec, utt_id);
- ``folders``: per-item array folders it saves into (``RunFolder(workdir).save_arrays``; e.g. ABX
  features). Merging shards copies both; it never writes a path of its own;
- ``aggregate(corpus)``: corpus-level summary rows, files and summary.md tables
  (``codecbench.metrics.corpus``), e.g. corpus WER, ABX, pooled codebook utilization;
- ``numerics(device)``: what decides its values on this machine, for environment.json.
"""

from __future__ import annotations

import copy
import functools
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from codecbench.errors import Unavailable
from codecbench.schema import Option  # noqa: F401 (declared here by metrics; also codecs' options)
from codecbench.types import CodecInfo, Failure, FailureKind, Utterance

if TYPE_CHECKING:
    from codecbench.metrics.corpus import Aggregate, Corpus


class MetricFailure(Exception):
    """The metric could not be computed for this item; the message is the recorded reason."""

    def __init__(self, reason: str, kind: FailureKind = FailureKind.FAILED):
        super().__init__(reason)
        self.kind = FailureKind(kind)

    def failure(self) -> Failure:
        return Failure(self.kind, str(self))


class MetricUnavailable(MetricFailure, Unavailable):
    """The metric cannot run here (package or model missing): an ``Unavailable`` that is also a
    ``MetricFailure`` of kind unavailable, so metric code catching either records it as unavailable."""

    def __init__(self, reason: str):
        super().__init__(reason, FailureKind.UNAVAILABLE)


def failure_of(exc: Exception) -> Failure:
    """The recorded failure for an exception raised while computing: a ``MetricFailure`` as it says,
    ``Unavailable`` as unavailable, anything else (a bug) as failed with its type and message."""
    if isinstance(exc, MetricFailure):
        return exc.failure()
    if isinstance(exc, Unavailable):
        return Failure.unavailable(str(exc))
    return Failure.failed(f"{type(exc).__name__}: {exc}")


@dataclass(frozen=True)
class Output:
    """One column a metric writes."""

    name: str
    higher_is_better: bool | None = True
    unit: str = ""
    description: str = ""


@dataclass(frozen=True)
class MetricInfo:
    """Where a value came from: recorded next to every figure in the run folder and summaries."""

    name: str
    outputs: tuple[Output, ...]
    description: str = ""
    needs_reference: bool = True
    needs_text: bool = False
    needs_codes: bool = False
    # Re-encodes audio with the run's codec (``MetricInput.encode``): runs in the codec stage, where the
    # codec is loaded (the codec's thread or actor), never in a worker pool; not applicable to pair scoring.
    needs_encoder: bool = False
    device: str = "cpu"  # "cpu", or "gpu" when it can use one
    sample_rate: int | None = None  # the rate the metric itself works at
    library: str = "codecbench"
    version: str = ""
    model: str | None = None
    revision: str | None = None  # of the model: a hub commit, "main" when unpinned, None for local folders
    mode: str | None = None
    batched: bool = False
    default: bool = True  # part of `codecbench run`'s default metric set
    # The top of the audio band the metric rates (Hz): references band-limited well below it are flagged
    # (codecbench.datachecks). None: the metric does not depend on a band (or declares none).
    band_hz: float | None = None
    # Languages the metric's model was trained on (e.g. ("en",); codecbench.metrics.language): a row in
    # another language keeps its value and gets a flag, the summary a note. (): language-independent or unknown.
    trained_languages: tuple[str, ...] = ()
    # Describes the reference, not the codec (the same value for every codec): runs in every run whatever
    # --metrics says, and is reported per language as a data check (codecbench.datachecks).
    data_check: bool = False
    # Describes cost (bits, time, code usage), not the sound: reported, never gated or plotted as quality.
    cost: bool = False

    # Outputs that exist only over a corpus (e.g. an LM's bits on held-out utterances): not row columns;
    # the metric's ``aggregate`` gives their per-utterance values (``Aggregate.values``), which compare gates.
    corpus_outputs: tuple[Output, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["outputs"] = [asdict(o) for o in self.outputs]
        d["corpus_outputs"] = [asdict(o) for o in self.corpus_outputs]
        return d


@dataclass
class MetricInput:
    """Everything a metric may look at for one (codec, utterance)."""

    ref: np.ndarray  # mono float32 reference at sample_rate
    deg: np.ndarray  # degraded signal at sample_rate; its length may differ from ref (pair scoring):
    # self-aligning metrics (PESQ, ViSQOL) use both as given, the others call audio.align_lengths
    sample_rate: int  # the source audio's rate (metrics resample to their own)
    utterance: Utterance
    codec: CodecInfo | None = None
    codes: list[np.ndarray] | None = None  # valid codes per codebook level
    bits: float | None = None  # measured payload bits (e.g. Opus packets)
    encode_seconds: float | None = None  # this item's share of its batch's encode time
    decode_seconds: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # The codec's encoder, for ``needs_encoder`` metrics in the codec stage only (None elsewhere):
    # ``encode(waves, sample_rate)`` -> per wave, its valid codes per codebook level (``Codec.encode_items``).
    encode: Callable[[list[np.ndarray], int], list[list[np.ndarray]]] | None = None

    @property
    def duration(self) -> float:
        return len(self.ref) / float(self.sample_rate)


Values = dict[str, "float | Failure"]


class Metric(ABC):
    """One metric family member. Subclasses set ``name`` and implement ``info`` and ``compute``."""

    name: str = ""
    options: ClassVar[dict[str, Option]] = {}  # what the user may set (config / --metric-opt)
    opts: dict[str, Any] = {}  # the resolved options of a configured instance (never mutated in place)
    streams: ClassVar[tuple[str, ...]] = ()  # side-record streams it appends to (<stream>.jsonl)
    folders: ClassVar[tuple[str, ...]] = ()  # per-item array folders it saves into (<folder>/<codec>/<utt>.npz)

    def configure(self, opts: dict[str, Any]) -> Metric:
        """A fresh instance with resolved options: registry prototypes are never set up or changed,
        so two runs in one process share no state."""
        new = copy.deepcopy(self)
        new.opts = dict(opts)
        new.__dict__.pop("_unavailable", None)  # other options, other models: checked again
        return new

    @abstractmethod
    def info(self) -> MetricInfo: ...

    def unavailable_reason(self) -> str | None:
        """Why this metric cannot run here (missing package, model or weights), or None: its
        ``find_unavailable`` asked once per configured instance (a check may look for weight files
        or resolve a hub revision)."""
        if "_unavailable" not in self.__dict__:
            self._unavailable = self.find_unavailable()
        return self._unavailable

    def find_unavailable(self) -> str | None:
        """The check behind ``unavailable_reason``: a metric that needs a package or model overrides it."""
        return None

    @abstractmethod
    def compute(self, x: MetricInput) -> Values: ...

    def compute_batch(self, xs: list[MetricInput]) -> list[Values]:
        """Batched metrics override this; the default loops, turning failures into values."""
        return [safe_compute(self, x) for x in xs]

    def setup(self, device: str = "cpu", workdir: str | None = None) -> None:
        """Called once before use in a run (load models here, not in __init__)."""

    def aggregate(self, corpus: Corpus) -> Aggregate | None:
        """Corpus-level figures of a run (see ``codecbench.metrics.corpus``); None: the metric has none.
        Called by the summary with the metric configured as in the run (no ``setup``: no models)."""
        return None

    def numerics(self, device: str) -> dict[str, Any]:
        """Sections for environment.json's ``numerics``: what decides this metric's values on this
        machine (e.g. the ASR compute type and what the CPU offers); {} when nothing beyond the rest."""
        return {}


def has_aggregate(metric: Metric) -> bool:
    return type(metric).aggregate is not Metric.aggregate


def fail_all(metric: Metric, failure: Failure) -> Values:
    return {o.name: failure for o in metric.info().outputs}


def safe_compute(metric: Metric, x: MetricInput) -> Values:
    """compute() with every exception turned into recorded failures of all outputs."""
    try:
        values = metric.compute(x)
    except Exception as exc:  # a metric bug must not end a run; the reason says what happened
        return fail_all(metric, failure_of(exc))
    return complete(metric, values)


def complete(metric: Metric, values: Values) -> Values:
    """Every declared output present (a missing one is a failure), values as floats or Failures (a
    non-finite number is a failure, never a score)."""
    out: Values = {}
    for o in metric.info().outputs:
        v = values.get(o.name, Failure.failed("not computed"))
        if not isinstance(v, Failure):
            v = float(v)
            if not np.isfinite(v):
                v = Failure.failed(f"non-finite value ({v})")
        out[o.name] = v
    return out


@functools.cache
def package_version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"
