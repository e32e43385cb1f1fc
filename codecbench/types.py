"""The few types everything in codecbench speaks (see docs/architecture.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np


@dataclass
class Utterance:
    """One item of a dataset. ``source_sr`` is the audio file's own sample rate."""

    id: str
    path: str | None = None
    lang: str | None = None
    text: str | None = None
    speaker: str | None = None
    source_sr: int | None = None
    duration: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    audio: np.ndarray | None = None  # in-memory mono audio at source_sr (instead of a path)
    # Where the audio is when not the whole file at ``path``: a segment of it, or a row of an Arrow
    # file (codecbench.data.sources).
    source: dict[str, Any] | None = None


@dataclass(frozen=True)
class CodebookLevel:
    """One codebook: its number of entries and the rate at which it emits codes (Hz)."""

    size: int
    frame_rate: float


@dataclass(frozen=True)
class CodecInfo:
    """Static metadata of one codec variant, known without loading its weights."""

    name: str
    family: str
    sample_rate: int
    channels: int = 1
    frame_rate: float | None = None
    codebooks: tuple[CodebookLevel, ...] = ()
    latent_dim: int | None = None  # continuous latent size per frame (VAE codecs)
    nominal_bitrate: float | None = None  # bits per second; None for continuous codecs
    causal: bool = False
    streaming: bool = False
    description: str = ""
    # The reference computation this variant reproduces (parity-tested, docs/codecs.md), "" if none stated.
    reference: str = ""
    # Options that change its output besides the name's parts (e.g. SNAC's decoder noise seed).
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def has_tokens(self) -> bool:
        return bool(self.codebooks)

    @property
    def latent_rate(self) -> float | None:
        """Continuous values per second (VAE codecs), reported instead of a bitrate."""
        if self.latent_dim is None or self.frame_rate is None:
            return None
        return self.latent_dim * self.frame_rate

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "family": self.family,
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "frame_rate": self.frame_rate,
            "codebooks": [{"size": c.size, "frame_rate": c.frame_rate} for c in self.codebooks],
            "latent_dim": self.latent_dim,
            "latent_rate": self.latent_rate,
            "nominal_bitrate": self.nominal_bitrate,
            "causal": self.causal,
            "streaming": self.streaming,
            "description": self.description,
            "reference": self.reference,
            "options": dict(self.options),
        }


@dataclass
class Encoded:
    """What a codec's encoder produced for a batch, at the codec's native rate.

    ``codes[level]`` is an int array ``[B, F_level]`` (padded); ``frames[level][b]`` is how many of
    those frames are valid for item b. ``bits`` holds the real payload size per item where the
    codec has one (Opus packets). ``state`` is whatever the decoder needs besides codes
    (latents of a continuous codec, packets of Opus).
    """

    codes: list[np.ndarray] | None
    frames: list[np.ndarray] | None
    bits: np.ndarray | None = None
    state: Any = None

    def item_codes(self, b: int) -> list[np.ndarray] | None:
        """Valid codes of item b, one 1-D array per codebook level (padding cropped)."""
        if self.codes is None or self.frames is None:
            return None
        return [np.asarray(c[b, : int(f[b])]) for c, f in zip(self.codes, self.frames, strict=True)]


@dataclass
class Reconstruction:
    """A codec's output for a batch: waves at the input's rate, aligned to the input lengths."""

    wave: np.ndarray  # [B, T] float32, zero beyond lengths[b]
    lengths: np.ndarray  # [B] int
    sample_rate: int
    codes: list[list[np.ndarray]] | None  # per item, per codebook level, valid codes only
    bits: np.ndarray | None  # measured payload bits per item (None: derive from codes)
    encode_seconds: float
    decode_seconds: float

    def item(self, b: int) -> np.ndarray:
        return self.wave[b, : int(self.lengths[b])]


class FailureKind(str, Enum):
    """Why an output has no value. Stored in rows as ``<output>__kind`` beside the reason.

    - ``failed``: the metric (or codec, or input) failed for this item;
    - ``unavailable``: the metric cannot run here (package or model missing). Not a completed value:
      a later run with the model present computes it;
    - ``unreliable``: a value exists but cannot be trusted (e.g. the ASR cannot read the language);
    - ``not_applicable``: the metric does not apply (e.g. codebook usage of a continuous codec).
    """

    FAILED = "failed"
    UNAVAILABLE = "unavailable"
    UNRELIABLE = "unreliable"
    NOT_APPLICABLE = "not_applicable"


@dataclass(frozen=True)
class Failure:
    """An output without a value: its kind and the reason (never a 0, 1 or NaN posing as a score)."""

    kind: FailureKind
    reason: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", FailureKind(self.kind))

    @classmethod
    def failed(cls, reason: str) -> Failure:
        return cls(FailureKind.FAILED, reason)

    @classmethod
    def unavailable(cls, reason: str) -> Failure:
        return cls(FailureKind.UNAVAILABLE, reason)

    @classmethod
    def unreliable(cls, reason: str) -> Failure:
        return cls(FailureKind.UNRELIABLE, reason)

    @classmethod
    def not_applicable(cls, reason: str) -> Failure:
        return cls(FailureKind.NOT_APPLICABLE, reason)
