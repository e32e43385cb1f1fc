"""Small builders shared by tests: a deterministic token codec and synthetic speech-like audio."""

from __future__ import annotations

import numpy as np

from codecbench.codecs.base import Codec
from codecbench.codecs.registry import CodecSpec
from codecbench.types import CodebookLevel, CodecInfo, Encoded

MULAW_INFO = CodecInfo(name="test-mulaw", family="test", sample_rate=8000, frame_rate=8000.0,
                       codebooks=(CodebookLevel(256, 8000.0),), nominal_bitrate=64000.0, causal=True)


class MulawCodec(Codec):
    """8-bit mu-law at 8 kHz: a real, deterministic token codec for tests."""

    def encode_native(self, wave, lengths):
        mu = 255.0
        y = np.sign(wave) * np.log1p(mu * np.minimum(np.abs(wave), 1.0)) / np.log1p(mu)
        codes = np.clip(np.round((y + 1) / 2 * mu), 0, 255).astype(np.int64)
        return Encoded(codes=[codes], frames=[np.asarray(lengths)])

    def decode_native(self, encoded, lengths):
        mu = 255.0
        y = encoded.codes[0] / mu * 2 - 1
        return (np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu).astype(np.float32)


class NanCodec(MulawCodec):
    def decode_native(self, encoded, lengths):
        out = super().decode_native(encoded, lengths)
        out[0, :10] = np.nan  # the first item of each batch goes bad
        return out


def mulaw_spec() -> CodecSpec:
    return CodecSpec(info=MULAW_INFO, load=lambda arg, device: MulawCodec(MULAW_INFO))


def nan_spec() -> CodecSpec:
    info = CodecInfo(**{**MULAW_INFO.__dict__, "name": "test-nan"})
    return CodecSpec(info=info, load=lambda arg, device: NanCodec(info))


def speechlike(seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    """Amplitude-modulated harmonic tone with noise: enough structure for every signal metric."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 12))
    env = 0.5 * (1 + np.sin(2 * np.pi * 3 * t)) ** 2
    return (0.2 * x * env + 0.005 * rng.standard_normal(len(t))).astype(np.float32)
