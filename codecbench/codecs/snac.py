"""SNAC (Siuzdak et al. 2024, multi-scale neural audio codec) through the ``snac`` package.

Variants: ``snac-24k`` (speech, 3 levels), ``snac-32k`` and ``snac-44k`` (4 levels). Codes are
multi-rate: level l runs at ``sample_rate / (hop * vq_strides[l])`` Hz (coarse to fine), each with
4096 entries (12 bits); every ``CodebookLevel`` carries its own frame rate and ``Encoded.codes[l]``
its own frame count. ``CodecInfo.frame_rate`` is the finest level's rate. Nominal bitrate is
12 bits x the sum of the level rates (24k: 0.98 kbps, 32k: 1.9 kbps, 44k: 2.6 kbps).
``NAME:/path/to/folder`` loads a folder in the hub layout (config.json + pytorch_model.bin).

What the adapter does: no normalisation, no chunking (one pass). SNAC is non-causal and the 32/44 kHz
models attend within fixed windows of 32 frames, so each item is followed by ``TAIL_SECONDS`` of
silence plus one attention window before the encoder (then padded to SNAC's own multiple), and the
decoder sees each item's valid codes followed by the codes of silence (computed once at load),
padded to whole windows. The decoder's noise injection is made deterministic (see ``_compat``).
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np

from codecbench.codecs._compat import patch_snac_noise
from codecbench.codecs._pretrained import (
    Weights,
    import_backend,
    pad_batch_tensor,
    padded_length,
    require_equal,
    valid_frames,
)
from codecbench.codecs.base import TorchCodec
from codecbench.codecs.registry import CodecSpec
from codecbench.types import CodebookLevel, CodecInfo, Encoded

INSTALL_HINT = "pip install 'codecbench[codecs]' (the `snac` package)"
CODEBOOK_SIZE = 4096
TAIL_SECONDS = 0.5

# sample rate -> (hop, vq_strides, attention window in frames or None), as in the hub configs
MODELS = {
    24000: (512, (4, 2, 1), None),
    32000: (384, (8, 4, 2, 1), 32),
    44100: (384, (8, 4, 2, 1), 32),
}
# No verifiable commit hashes found for these repositories: they follow `main`.
WEIGHTS = {
    sr: Weights(f"snac-{sr // 1000}k", f"hubertsiuzdak/snac_{sr // 1000}khz", None,
                f"SNAC {sr / 1000:g} kHz (snac package format)", weight_files=("pytorch_model.bin",))
    for sr in MODELS
}


def variant_name(sr: int) -> str:
    return f"snac-{sr // 1000}k"


def info_for(sr: int) -> CodecInfo:
    hop, strides, window = MODELS[sr]
    levels = tuple(CodebookLevel(CODEBOOK_SIZE, sr / (hop * s)) for s in strides)
    return CodecInfo(
        name=variant_name(sr), family="snac", sample_rate=sr, channels=1, frame_rate=sr / hop, codebooks=levels,
        nominal_bitrate=math.log2(CODEBOOK_SIZE) * sum(c.frame_rate for c in levels), causal=False, streaming=False,
        description=f"SNAC {sr / 1000:g} kHz, {len(strides)} levels at strides {'/'.join(map(str, strides))}, "
                    f"one pass, {TAIL_SECONDS:g} s silence tail",
    )


class SnacCodec(TorchCodec):
    def __init__(self, info: CodecInfo, model, device: str = "cpu"):
        super().__init__(info, device)
        self.model = model.to(self.device).eval()
        hop, strides, window = MODELS[info.sample_rate]
        require_equal(info.name, "sampling_rate", info.sample_rate, int(model.sampling_rate))
        require_equal(info.name, "hop_length", hop, int(model.hop_length))
        require_equal(info.name, "vq_strides", list(strides), list(model.vq_strides))
        require_equal(info.name, "attn_window_size", window, model.attn_window_size)
        require_equal(info.name, "codebook_size", CODEBOOK_SIZE, int(model.codebook_size))
        self.hop, self.strides = hop, strides
        self.block = math.lcm(strides[0], window or 1)  # finest-level frames the model needs in whole multiples
        self.tail = int(TAIL_SECONDS * info.sample_rate) + (window or 0) * hop
        self.tail_frames = math.ceil(self.tail / hop)
        self.noise_blocks = patch_snac_noise(self.model)
        self.silence = self._silence_codes()

    def _codes(self, x) -> list[np.ndarray]:
        return [c.cpu().numpy().astype(np.int64) for c in self.model.encode(x)]

    def _silence_codes(self) -> list[int]:
        import torch

        with torch.inference_mode():
            n = padded_length(4 * self.tail, self.hop * self.block)
            codes = self._codes(torch.zeros(1, 1, n, device=self.device))
        return [int(c[0, c.shape[1] // 2]) for c in codes]

    def _encode(self, x, lengths):
        x = pad_batch_tensor(x, lengths, self.hop * self.block, self.tail)
        codes = self._codes(x)
        frames = [valid_frames(lengths, self.hop * s) for s in self.strides]
        return Encoded(codes=codes, frames=frames)

    def _decode(self, encoded: Encoded, lengths):
        import torch

        fine = padded_length(int(encoded.frames[-1].max(initial=1)), self.block, self.tail_frames)
        batch = len(lengths)
        levels = []
        for codes, frames, stride, silence in zip(encoded.codes, encoded.frames, self.strides, self.silence, strict=True):
            out = np.full((batch, fine // stride), silence, dtype=np.int64)
            for b in range(batch):
                n = int(frames[b])
                out[b, :n] = codes[b, :n]
            levels.append(torch.from_numpy(out).to(self.device))
        return self.model.decode(levels)


def _loader(sr: int):
    info = info_for(sr)

    def load(arg: str | None, device: str) -> SnacCodec:
        snac = import_backend("snac", info.name)
        folder = WEIGHTS[sr].resolve(arg, info.name)
        return SnacCodec(info, snac.SNAC.from_pretrained(str(folder)), device)

    return load


def specs() -> list[CodecSpec]:
    return [
        CodecSpec(info=info_for(sr), load=_loader(sr), requires=("torch", "snac"), install_hint=INSTALL_HINT,
                  accepts_arg=True, check=partial(WEIGHTS[sr].check, variant_name(sr)))
        for sr in MODELS
    ]


def models():
    return [w.model_spec((variant_name(sr),)) for sr, w in WEIGHTS.items()]
