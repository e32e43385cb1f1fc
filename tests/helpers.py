"""Small builders shared by tests: the example plugin's mu-law token codec, a NaN codec, speech-like audio."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from codecbench.codecs.registry import CodecSpec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "adapters" / "example-plugin" / "src"))
from codecbench_example import INFO as MULAW_INFO  # noqa: E402
from codecbench_example import MulawCodec  # noqa: E402

__all__ = ["MULAW_INFO", "mulaw_spec", "nan_spec", "speechlike"]


class NanCodec(MulawCodec):
    def decode_native(self, encoded, lengths):
        out = super().decode_native(encoded, lengths)
        out[0, :10] = np.nan  # the first item of each batch goes bad
        return out


def mulaw_spec() -> CodecSpec:
    return CodecSpec(info=MULAW_INFO, load=lambda arg, device: MulawCodec(MULAW_INFO))


def nan_spec() -> CodecSpec:
    info = replace(MULAW_INFO, name="test-nan")
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
