"""The architecture of an in-house codec, as a flat JSON-able dataclass (config.json of a checkpoint)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from codecbench.errors import CodecbenchError

KINDS = ("rvq", "fsq", "vae")
FORMAT = "codecbench-inhouse"
FORMAT_VERSION = 2  # 2: frame-rate STFT encoder + iSTFT decoder (1 was a SEANet waveform model)


class CheckpointMismatch(CodecbenchError, ValueError):
    """A checkpoint or config does not match what was asked for (kind, architecture, tensors)."""


@dataclass
class ModelConfig:
    """Frame-rate codec: log-STFT encoder -> bottleneck at ``sample_rate / frame_hop`` Hz -> ConvNeXt
    decoder predicting STFT magnitude and phase, inverted by iSTFT (Vocos-style head).

    All convolutions run at the code frame rate: the encoder stacks ``frame_hop / stft_hop`` STFT
    frames into one input vector, and the decoder head predicts that many STFT frames per step.
    """

    kind: str = "rvq"
    sample_rate: int = 16000
    n_fft: int = 640  # analysis and synthesis window (40 ms at 16 kHz)
    stft_hop: int = 160  # STFT hop (100 Hz)
    frame_hop: int = 320  # samples per code frame (50 Hz); a multiple of stft_hop
    dim: int = 256  # ConvNeXt width (all blocks at the frame rate)
    mlp_ratio: int = 3
    encoder_blocks: int = 3
    decoder_blocks: int = 6
    kernel_size: int = 7  # depthwise convolution over frames
    # Inference only: fast Griffin-Lim iterations from the predicted phase, making it consistent with
    # the predicted magnitude (0: the network's phase as is). A config without the field means 0.
    phase_iters: int = 32
    latent_dim: int = 64  # encoder output per frame (RVQ input size, VAE latent size)
    # RVQ
    n_quantizers: int = 16
    codebook_size: int = 256
    ema_decay: float = 0.99
    dead_code_threshold: float = 0.1  # EMA usage per step below which an entry is restarted
    quantizer_dropout: float = 0.5  # share of training steps with a random number of quantizers
    # FSQ
    fsq_levels: tuple[int, ...] = (8, 5, 5, 5)
    fsq_codebooks: int = 12
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes; not architecture

    def __post_init__(self) -> None:
        self.fsq_levels = tuple(int(v) for v in self.fsq_levels)
        if self.kind not in KINDS:
            raise CheckpointMismatch(f"unknown model kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if self.frame_hop % self.stft_hop:
            raise CheckpointMismatch(f"frame_hop {self.frame_hop} is not a multiple of stft_hop {self.stft_hop}")

    # -- derived ----------------------------------------------------------------------------------
    @property
    def hop_length(self) -> int:
        return self.frame_hop

    @property
    def stft_per_frame(self) -> int:
        return self.frame_hop // self.stft_hop

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def fsq_codebook_size(self) -> int:
        return math.prod(self.fsq_levels)

    @property
    def bottleneck_dim(self) -> int:
        """Channels the encoder emits: FSQ needs one per level per codebook; VAE mean and log-variance."""
        if self.kind == "fsq":
            return self.fsq_codebooks * len(self.fsq_levels)
        if self.kind == "vae":
            return 2 * self.latent_dim
        return self.latent_dim

    def codebook_sizes(self, n_quantizers: int | None = None) -> list[int]:
        if self.kind == "rvq":
            n = self.n_quantizers if n_quantizers is None else n_quantizers
            return [self.codebook_size] * n
        if self.kind == "fsq":
            return [self.fsq_codebook_size] * self.fsq_codebooks
        return []

    def bitrate(self, n_quantizers: int | None = None) -> float | None:
        """Nominal bits per second (None for the continuous VAE)."""
        sizes = self.codebook_sizes(n_quantizers)
        if not sizes:
            return None
        return self.frame_rate * sum(math.log2(s) for s in sizes)

    # -- JSON -------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise CheckpointMismatch(f"config has unknown field(s) {unknown}; not an in-house model config "
                                     f"of format {FORMAT} v{FORMAT_VERSION}")
        return cls(**{"phase_iters": 0, **d})  # saved before phase refinement existed: decoded as then


@dataclass
class AugmentConfig:
    """Probabilities per crop (0: off) and the ranges parameters are drawn from (uniformly)."""

    reverb: float = 0.0
    rt60: tuple[float, float] = (0.1, 0.5)
    noise: float = 0.0
    snr_db: tuple[float, float] = (5.0, 40.0)
    level: float = 0.0
    level_db: tuple[float, float] = (-45.0, -1.0)
    clip: float = 0.0
    clip_db: tuple[float, float] = (1.0, 12.0)
    mulaw: float = 0.0
    lowpass: float = 0.0
    lowpass_hz: tuple[float, float] = (3000.0, 7500.0)
    highpass: float = 0.5  # share of band-limited crops that are also high-passed
    codec: float = 0.0  # share of crops taken from the codec copies (applied by the dataset)

    @property
    def active(self) -> bool:
        return any(getattr(self, k) > 0 for k in ("reverb", "noise", "level", "clip", "mulaw", "lowpass", "codec"))

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> AugmentConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in names})


AUGMENT_PRESETS = {  # --augment NAME: the probabilities of the robust recipe (ranges at their defaults)
    "none": AugmentConfig(),
    "robust": AugmentConfig(reverb=0.15, noise=0.3, level=0.5, clip=0.08, mulaw=0.1, lowpass=0.35, codec=0.12),
}
