"""A one-file codec: frame-wise 6-bit quantisation of 16 kHz audio, run with
``codecbench run --codecs adapters/one-file/mycodec.py:Quant6`` (no package, no entry point)."""

import numpy as np

from codecbench.codecs.base import Codec
from codecbench.types import CodebookLevel, CodecInfo, Encoded

LEVELS = 64  # 6 bits per sample
HALF = 31  # mid-tread: 63 levels, zero exact


class Quant6(Codec):
    # The codec's metadata, read without building it; the base class resamples every input to
    # sample_rate and aligns the output with the input, so the methods below work at 16 kHz only.
    info = CodecInfo(name="quant6-16k", family="mine", sample_rate=16000, frame_rate=16000.0,
                     codebooks=(CodebookLevel(LEVELS, 16000.0),), nominal_bitrate=6 * 16000.0,
                     description="uniform 6-bit quantisation at 16 kHz (one-file example)")

    def encode_native(self, wave: np.ndarray, lengths: np.ndarray) -> Encoded:
        """wave: [batch, samples] float32 at 16 kHz, zero-padded; lengths: valid samples per item."""
        codes = np.round(np.clip(wave, -1.0, 1.0) * HALF).astype(np.int64) + HALF  # 0 .. 62; silence -> 31
        return Encoded(codes=[codes], frames=[np.asarray(lengths)])  # one codebook, one code per sample

    def decode_native(self, encoded: Encoded, lengths: np.ndarray) -> np.ndarray:
        return ((encoded.codes[0] - HALF) / HALF).astype(np.float32)
