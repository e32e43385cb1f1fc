"""Mimi (Kyutai, Moshi's codec) through transformers' ``MimiModel``: 24 kHz, 12.5 Hz frames.

Variants: ``mimi-8cb`` (the 8 codebooks Moshi uses, 1.1 kbps) and ``mimi-32cb`` (all 32, 4.4 kbps);
2048 entries (11 bits) per codebook; the first is the semantic (distilled) codebook.
``NAME:/path/to/folder`` loads weights from a folder in the hub layout (config.json + model.safetensors).

What the adapter does: no normalisation, no chunking, not the streaming mode; the whole utterance in
one pass. Mimi is causal (causal convolutions, causal sliding-window attention), so each item is
only zero-padded on the right to whole frames (1920 samples) and valid frames get identical codes
batched or alone.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from codecbench.codecs._pretrained import (
    INSTALL_HINT,
    Weights,
    import_backend,
    pad_batch_tensor,
    require_equal,
    valid_frames,
)
from codecbench.codecs.base import TorchCodec
from codecbench.codecs.registry import CodecSpec
from codecbench.types import CodebookLevel, CodecInfo, Encoded

SAMPLE_RATE = 24000
FRAME_RATE = 12.5
HOP = 1920
CODEBOOK_SIZE = 2048
VARIANTS = (8, 32)
WEIGHTS = Weights("mimi", "kyutai/mimi", "89091b3e466eb6a9d11e537bf26b144f194978f7", "Mimi 24 kHz, transformers format")


def variant_name(n_q: int) -> str:
    return f"mimi-{n_q}cb"


def info_for(n_q: int) -> CodecInfo:
    return CodecInfo(
        name=variant_name(n_q), family="mimi", sample_rate=SAMPLE_RATE, channels=1, frame_rate=FRAME_RATE,
        codebooks=tuple(CodebookLevel(CODEBOOK_SIZE, FRAME_RATE) for _ in range(n_q)),
        nominal_bitrate=n_q * 11 * FRAME_RATE, causal=True, streaming=True,
        description=f"Mimi, first {n_q} of 32 codebooks (1 semantic), one pass (not streamed)",
        reference="moshi 0.2.13 MimiModel.encode/decode with the variant's codebooks (not streamed)",
    )


class MimiCodec(TorchCodec):
    def __init__(self, info: CodecInfo, model, device: str = "cpu"):
        super().__init__(info, device)
        self.model = model.to(self.device).eval()
        cfg = model.config
        self.n_q = len(info.codebooks)
        require_equal(info.name, "sampling_rate", SAMPLE_RATE, int(cfg.sampling_rate))
        require_equal(info.name, "frame_rate", FRAME_RATE, float(cfg.frame_rate))
        require_equal(info.name, "codebook_size", CODEBOOK_SIZE, int(cfg.codebook_size))
        require_equal(info.name, "causal", True, bool(cfg.use_causal_conv))
        if self.n_q > int(cfg.num_quantizers):
            raise ValueError(f"{info.name}: model has {cfg.num_quantizers} codebooks, asked for {self.n_q}")

    def _encode(self, x, lengths):
        x = pad_batch_tensor(x, lengths, HOP)
        codes = self.model.encode(x, num_quantizers=self.n_q, return_dict=True).audio_codes  # [B, n_q, F]
        codes = codes.cpu().numpy().astype(np.int64)
        frames = valid_frames(lengths, HOP)
        return Encoded(codes=[codes[:, q] for q in range(self.n_q)], frames=[frames] * self.n_q)

    def _decode(self, encoded: Encoded, lengths):
        import torch

        codes = torch.from_numpy(np.stack(encoded.codes, axis=1)).to(self.device)
        return self.model.decode(codes, return_dict=True).audio_values


def _loader(n_q: int):
    info = info_for(n_q)

    def load(arg: str | None, device: str) -> MimiCodec:
        transformers = import_backend("transformers", info.name)
        folder = WEIGHTS.resolve(arg, info.name)
        return MimiCodec(info, transformers.MimiModel.from_pretrained(str(folder)), device)

    return load


def specs() -> list[CodecSpec]:
    return [
        CodecSpec(info=info_for(n), load=_loader(n), requires=("torch", "transformers"), install_hint=INSTALL_HINT,
                  accepts_arg=True, check=partial(WEIGHTS.check, variant_name(n)))
        for n in VARIANTS
    ]


def models():
    return [WEIGHTS.model_spec(tuple(variant_name(n) for n in VARIANTS))]
