"""SNAC (Siuzdak et al. 2024, multi-scale neural audio codec) through the ``snac`` package.

Variants: ``snac-24k`` (speech, 3 levels), ``snac-32k`` and ``snac-44k`` (4 levels). Codes are
multi-rate: level l runs at ``sample_rate / (hop * vq_strides[l])`` Hz (coarse to fine), each with
4096 entries (12 bits); every ``CodebookLevel`` carries its own frame rate and ``Encoded.codes[l]``
its own frame count. ``CodecInfo.frame_rate`` is the finest level's rate. Nominal bitrate is
12 bits x the sum of the level rates (24k: 0.98 kbps, 32k: 1.9 kbps, 44k: 2.6 kbps).
``NAME:/path/to/folder`` loads a folder in the hub layout (config.json + pytorch_model.bin).

What the adapter does: what the ``snac`` package's ``SNAC.forward`` computes for one file: zero-pad
to a multiple of ``hop x lcm(coarsest stride, attention window)`` samples (24k: 2048 = 85 ms; 32k/44k:
12288 = 0.38 s / 0.28 s), encode, decode every code, crop to the input; checked by
tests/test_parity_codecs.py on random weights. Every code of the padded input is sent, so the measured
bitrate counts them (the decoder needs them). SNAC is non-causal (its 32/44 kHz models attend within
windows of 32 frames), so each group of items with the same padded length runs as one tensor.

The decoder's noise injection (``NoiseBlock``: ``randn * linear(x)``) draws, per item, from a generator
seeded with ``noise_seed`` (option, recorded in ``CodecInfo.options``; 0 by default), so an item gets
the noise ``torch.manual_seed(noise_seed)`` gives the library on the CPU, batched or alone, every
run (see ``_compat``).
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np

from codecbench.codecs._compat import SeededNoise, patch_snac_noise
from codecbench.codecs._pretrained import (
    Weights,
    groups,
    import_backend,
    padded_length,
    require_equal,
)
from codecbench.codecs.base import TorchCodec
from codecbench.codecs.registry import CodecSpec
from codecbench.types import CodebookLevel, CodecInfo, Encoded

INSTALL_HINT = "pip install 'codecbench[codecs]' (the `snac` package)"
CODEBOOK_SIZE = 4096
NOISE_SEED = 0  # the decoder noise's seed (CodecInfo.options)

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
                    f"one pass, decoder noise seeded ({NOISE_SEED})",
        reference="snac 1.2.1 SNAC.forward (noise from torch.manual_seed(noise_seed) on the CPU)",
        options=(("noise_seed", NOISE_SEED),),
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
        self.multiple = hop * math.lcm(strides[0], window or 1)  # SNAC.preprocess pads to this
        self.noise = SeededNoise(dict(info.options)["noise_seed"])
        self.noise_blocks = patch_snac_noise(self.model, self.noise)

    def _encode(self, x, lengths):
        import torch

        padded = np.array([padded_length(int(n), self.multiple) for n in lengths])
        frames = [padded // (self.hop * s) for s in self.strides]
        out = [np.zeros((len(lengths), int(f.max(initial=1))), dtype=np.int64) for f in frames]
        for idx in groups(padded):
            n = int(padded[idx[0]])
            xg = x[list(idx), :, :n]
            codes = self.model.encode(torch.nn.functional.pad(xg, (0, n - xg.shape[-1])))
            for level, c in zip(out, codes, strict=True):
                level[idx, : c.shape[-1]] = c.cpu().numpy()
        return Encoded(codes=out, frames=frames)

    def _decode(self, encoded: Encoded, lengths):
        import torch

        fine = encoded.frames[-1]  # finest level, stride 1
        y = torch.zeros((len(fine), int(fine.max(initial=1)) * self.hop), device=self.device)
        for idx in groups(fine):
            f = int(fine[idx[0]])
            levels = [torch.from_numpy(np.ascontiguousarray(c[idx, : f // s])).to(self.device)
                      for c, s in zip(encoded.codes, self.strides, strict=True)]
            self.noise.start(len(idx))
            out = self.model.decode(levels).reshape(len(idx), -1)
            y[list(idx), : out.shape[-1]] = out
        return y


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
