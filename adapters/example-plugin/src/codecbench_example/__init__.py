"""An example codec plugin: G.711-style 8-bit mu-law at 8 kHz (a token codec with one codebook).

Its entry points (pyproject.toml): ``specs`` in ``codecbench.codecs``, ``models`` in
``codecbench.models`` (what ``codecbench models`` lists and ``models download`` fetches). A metric
plugin would name a ``metrics()`` function in ``codecbench.metrics`` the same way."""

from __future__ import annotations

import numpy as np

from codecbench.codecs.base import Codec
from codecbench.codecs.registry import CodecSpec
from codecbench.models import ModelSpec
from codecbench.types import CodebookLevel, CodecInfo, Encoded

MU = 255.0
INFO = CodecInfo(name="example-mulaw-8k", family="example", sample_rate=8000, frame_rate=8000.0,
                 codebooks=(CodebookLevel(256, 8000.0),), nominal_bitrate=64000.0, causal=True, streaming=True,
                 description="8-bit mu-law at 8 kHz (example plugin)")


class MulawCodec(Codec):
    def encode_native(self, wave: np.ndarray, lengths: np.ndarray) -> Encoded:
        y = np.sign(wave) * np.log1p(MU * np.minimum(np.abs(wave), 1.0)) / np.log1p(MU)
        codes = np.clip(np.round((y + 1) / 2 * MU), 0, 255).astype(np.int64)
        return Encoded(codes=[codes], frames=[np.asarray(lengths)])

    def decode_native(self, encoded: Encoded, lengths: np.ndarray) -> np.ndarray:
        y = encoded.codes[0] / MU * 2 - 1
        return (np.sign(y) * np.expm1(np.abs(y) * np.log1p(MU)) / MU).astype(np.float32)


def specs() -> list[CodecSpec]:
    return [CodecSpec(info=INFO, load=lambda arg, device: MulawCodec(INFO, device))]


def models() -> list[ModelSpec]:
    """Mu-law has no trained weights: its "model" is the companding curve, which ships in this package.
    A plugin codec or metric with weights lists them here (``hub_id`` and a pinned ``revision``)."""
    return [ModelSpec(name="example-mulaw-curve", description="mu-law companding curve (ships in the plugin)",
                      used_by=("example-mulaw-8k",), bundled_in="codecbench_example")]
