"""``reference-16k``: the input itself (resampled to 16 kHz with soxr when it is not at 16 kHz), the
"ground truth" row of codec papers' tables: its metrics are the ceiling a codec is measured against
(WER of the ASR model on clean speech, UTMOS of the recordings; STOI, PESQ and speaker similarity at
their identity values). For 16 kHz sources (LibriSpeech) the output is the input, sample for sample.
No codes, no bitrate."""

from __future__ import annotations

import numpy as np

from codecbench.codecs.base import Codec
from codecbench.codecs.registry import CodecSpec
from codecbench.types import CodecInfo, Encoded

INFO = CodecInfo(name="reference-16k", family="reference", sample_rate=16000,
                 description="the reference itself at 16 kHz (ground-truth row; no compression)")


class Reference(Codec):
    def encode_native(self, wave: np.ndarray, lengths: np.ndarray) -> Encoded:
        return Encoded(codes=None, frames=None, state=np.array(wave, dtype=np.float32, copy=True))

    def decode_native(self, encoded: Encoded, lengths: np.ndarray) -> np.ndarray:
        return encoded.state


def specs() -> list[CodecSpec]:
    return [CodecSpec(info=INFO, load=lambda arg, device: Reference(INFO, "cpu"))]
