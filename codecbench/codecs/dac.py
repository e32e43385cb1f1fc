"""Descript Audio Codec (Kumar et al. 2023) through transformers' ``DacModel``: 16, 24 and 44.1 kHz.

Variants: ``dac-16k`` (12 codebooks), ``dac-24k`` (32), ``dac-44k`` (9): every codebook of the model.
Fewer codebooks (the first n of the residual stack, a lower bitrate from the same weights):
``dac-16k-{2,4,8}cb``, ``dac-24k-{4,8,16}cb``, ``dac-44k-{2,4,6}cb``. ``NAME:/path/to/folder`` loads
weights from a folder in the hub layout (config.json + model.safetensors).

Frame rates are exact: sample rate / hop (16k: 16000/320 = 50 Hz, 24k: 24000/320 = 75 Hz,
44k: 44100/512 ≈ 86.13 Hz); codebooks have 1024 entries (10 bits).

What the adapter does: what descript-audio-codec's ``DAC.forward`` (the path of the authors' evaluation,
``scripts/get_samples.py``) computes for one file: zero-pad to whole frames, encode, decode every
frame, crop to the input; checked by tests/test_parity_codecs.py on random weights (codes equal,
waves within float32 rounding: we decode the codes, the library its straight-through latent). DAC is
non-causal, so each group of items with the same number of frames runs as one tensor. Not done: the
library's ``compress`` path (loudness normalised to -16 LUFS, 1 s windows without convolution padding,
a different computation) and the evaluation script's final step that rescales the reconstruction to
the input's loudness (it needs the reference at decode time); see docs/codecs.md.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np

from codecbench.codecs._pretrained import (
    INSTALL_HINT,
    Weights,
    groups,
    import_backend,
    require_equal,
    valid_frames,
)
from codecbench.codecs.base import TorchCodec
from codecbench.codecs.registry import CodecSpec
from codecbench.types import CodebookLevel, CodecInfo, Encoded

CODEBOOK_SIZE = 1024

# sample rate -> (hop, codebooks of the full model)
MODELS = {16000: (320, 12), 24000: (320, 32), 44100: (512, 9)}
FEWER = {16000: (2, 4, 8), 24000: (4, 8, 16), 44100: (2, 4, 6)}
WEIGHTS = {
    # Pinned where a commit hash could be found in public code that records the checkpoint it used;
    # the others follow `main` (no verifiable hash found).
    16000: Weights("dac-16k", "descript/dac_16khz", None, "DAC 16 kHz, transformers format"),
    24000: Weights("dac-24k", "descript/dac_24khz", "6ba020b5ba7d9d8076fb90db7e67f27e31980f6e", "DAC 24 kHz, transformers format"),
    44100: Weights("dac-44k", "descript/dac_44khz", None, "DAC 44.1 kHz, transformers format"),
}


def variant_name(sr: int, n_q: int | None = None) -> str:
    base = f"dac-{sr // 1000}k"
    return base if n_q is None or n_q == MODELS[sr][1] else f"{base}-{n_q}cb"


def info_for(sr: int, n_q: int | None = None) -> CodecInfo:
    hop, full = MODELS[sr]
    n_q = full if n_q is None else n_q
    rate = sr / hop
    return CodecInfo(
        name=variant_name(sr, n_q), family="dac", sample_rate=sr, channels=1, frame_rate=rate,
        codebooks=tuple(CodebookLevel(CODEBOOK_SIZE, rate) for _ in range(n_q)),
        nominal_bitrate=n_q * math.log2(CODEBOOK_SIZE) * rate, causal=False, streaming=False,
        description=f"DAC {sr / 1000:g} kHz, first {n_q} of {full} codebooks, one pass (DAC.forward)",
        reference="descript-audio-codec 1.0.0 DAC.forward(x, n_quantizers=the variant's codebooks): the path of "
                  "the authors' evaluation, without its final loudness matching; not DAC.compress",
    )


class DacCodec(TorchCodec):
    """One DAC model with its first ``n_q`` codebooks."""

    def __init__(self, info: CodecInfo, model, device: str = "cpu"):
        super().__init__(info, device)
        self.model = model.to(self.device).eval()
        cfg = model.config
        self.n_q = len(info.codebooks)
        self.hop = int(np.prod(cfg.downsampling_ratios))
        require_equal(info.name, "sampling_rate", info.sample_rate, int(cfg.sampling_rate))
        require_equal(info.name, "hop_length", round(info.sample_rate / info.frame_rate), self.hop)
        require_equal(info.name, "codebook_size", CODEBOOK_SIZE, int(cfg.codebook_size))
        require_equal(info.name, "decoder hop", self.hop, int(np.prod(cfg.upsampling_ratios)))
        if self.n_q > int(cfg.n_codebooks):
            raise ValueError(f"{info.name}: model has {cfg.n_codebooks} codebooks, asked for {self.n_q}")

    def _encode(self, x, lengths):
        import torch

        frames = valid_frames(lengths, self.hop)
        out = np.zeros((len(lengths), self.n_q, int(frames.max(initial=1))), dtype=np.int64)
        for idx in groups(frames):
            n = int(frames[idx[0]]) * self.hop  # the library's preprocess: zeros to whole frames
            xg = x[list(idx), :, :n]
            xg = torch.nn.functional.pad(xg, (0, n - xg.shape[-1]))
            codes = self.model.encode(xg, n_quantizers=self.n_q, return_dict=True).audio_codes[:, : self.n_q]
            out[idx, :, : codes.shape[-1]] = codes.cpu().numpy()
        return Encoded(codes=[out[:, q] for q in range(self.n_q)], frames=[frames] * self.n_q)

    def _decode(self, encoded: Encoded, lengths):
        import torch

        frames = encoded.frames[0]
        codes = np.stack(encoded.codes, axis=1)
        y = torch.zeros((len(frames), int(frames.max(initial=1)) * self.hop), device=self.device)
        for idx in groups(frames):
            f = int(frames[idx[0]])
            c = torch.from_numpy(np.ascontiguousarray(codes[idx, :, :f])).to(self.device)
            out = self.model.decode(audio_codes=c, return_dict=True).audio_values.reshape(len(idx), -1)
            y[list(idx), : out.shape[-1]] = out  # odd strides (16k/24k: 5) give f * hop - 1 per such layer
        return y


def _loader(sr: int, n_q: int | None):
    info = info_for(sr, n_q)

    def load(arg: str | None, device: str) -> DacCodec:
        transformers = import_backend("transformers", info.name)
        folder = WEIGHTS[sr].resolve(arg, info.name)
        return DacCodec(info, transformers.DacModel.from_pretrained(str(folder)), device)

    return load


def _variants() -> list[tuple[int, int | None]]:
    return [(sr, n) for sr in MODELS for n in (None, *FEWER[sr])]


def specs() -> list[CodecSpec]:
    return [
        CodecSpec(info=info_for(sr, n), load=_loader(sr, n), requires=("torch", "transformers"), install_hint=INSTALL_HINT,
                  accepts_arg=True, check=partial(WEIGHTS[sr].check, variant_name(sr, n)))
        for sr, n in _variants()
    ]


def models():
    return [w.model_spec(tuple(variant_name(s, n) for s, n in _variants() if s == sr)) for sr, w in WEIGHTS.items()]
