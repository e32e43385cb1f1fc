"""EnCodec (Défossez et al. 2022) through transformers' ``EncodecModel``: 24 kHz mono and 48 kHz stereo.

Variants: ``encodec-24k-{1.5,3,6,12,24}kbps`` and ``encodec-48k-{3,6,12,24}kbps``; the bandwidth picks
the number of residual codebooks (1024 entries, 10 bits each): n_q = kbps * 1000 / (10 * frame_rate).
``NAME:/path/to/folder`` loads weights from a folder in the hub layout (config.json + model.safetensors).

What the adapters do: exactly what the ``encodec`` package (the authors' code, ``EncodecModel.forward``)
computes for one file, checked by tests/test_parity_codecs.py on random weights (codes equal, waves
within float32 rounding):

* 24 kHz (causal, ``normalize=False``, no chunking): the whole utterance in one pass at its exact
  length (the convolutions reflect-pad their last partial frame themselves, as in the library), so
  items of different lengths are encoded one length at a time; decoding runs the padded batch (the
  decoder is causal). No loudness normalisation.
* 48 kHz (non-causal, ``normalize=True``): the library's 1 s chunks every 0.99 s, the last chunk as
  long as what is left (not padded); each chunk divided by the RMS of its mono mix (+1e-8) before
  the encoder and multiplied back after the decoder; chunks overlap-added with the linear
  cross-fade; output cropped to the input. Full chunks of the whole batch run as one tensor, short
  last chunks grouped by length. The model is stereo: mono input is duplicated to both channels and
  the two decoded channels are averaged back to mono. Bits: the codes of every real frame (a chunk
  of n samples has ceil(n / 320) frames) plus the 32-bit float scale per chunk that the library's
  file format (``encodec.compress``) stores; so the measured rate is ~1 % above nominal (overlap)
  plus the scales (~0.03 kbps).

transformers' documented feature-extractor path instead pads the last chunk to a full second (its
RMS then includes the padding, and 150 frames are sent for it); we don't (docs/codecs.md).
"""

from __future__ import annotations

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
HOP = 320  # samples per frame at both rates (strides 8*5*4*2)

WEIGHTS = {
    24000: Weights("encodec-24k", "facebook/encodec_24khz", "c1dbe2ae3f1de713481a3b3e7c47f357092ee040",
                   "EnCodec 24 kHz mono (causal), transformers format"),
    # No verifiable commit hash for the 48 kHz repository was found: it follows `main`.
    48000: Weights("encodec-48k", "facebook/encodec_48khz", None, "EnCodec 48 kHz stereo (non-causal), transformers format"),
}
BANDWIDTHS = {24000: (1.5, 3.0, 6.0, 12.0, 24.0), 48000: (3.0, 6.0, 12.0, 24.0)}


def _fmt(kbps: float) -> str:
    return f"{kbps:g}kbps"


def variant_name(sr: int, kbps: float) -> str:
    return f"encodec-{sr // 1000}k-{_fmt(kbps)}"


def info_for(sr: int, kbps: float) -> CodecInfo:
    frame_rate = sr / HOP
    n_q = int(round(kbps * 1000 / (10 * frame_rate)))
    causal = sr == 24000
    desc = ("EnCodec 24 kHz, causal, one pass, no normalisation" if causal else
            "EnCodec 48 kHz stereo (mono duplicated, output averaged), 1 s chunks, per-chunk RMS scale")
    return CodecInfo(
        name=variant_name(sr, kbps), family="encodec", sample_rate=sr, channels=1, frame_rate=frame_rate,
        codebooks=tuple(CodebookLevel(CODEBOOK_SIZE, frame_rate) for _ in range(n_q)),
        nominal_bitrate=n_q * 10 * frame_rate, causal=causal, streaming=causal, description=desc,
        reference="encodec 0.1.1 EncodecModel.forward at this bandwidth" + ("" if causal else
                  " (1 s chunks, the last one unpadded, RMS scale per chunk; stereo output averaged)"),
    )


class EncodecCodec(TorchCodec):
    """One EnCodec model at one bandwidth."""

    def __init__(self, info: CodecInfo, model, bandwidth: float, device: str = "cpu"):
        super().__init__(info, device)
        self.model = model.to(self.device).eval()
        self.bandwidth = bandwidth
        cfg = model.config
        require_equal(info.name, "sampling_rate", info.sample_rate, int(cfg.sampling_rate))
        require_equal(info.name, "codebook_size", CODEBOOK_SIZE, int(cfg.codebook_size))
        require_equal(info.name, "hop_length", HOP, int(np.prod(cfg.upsampling_ratios)))
        require_equal(info.name, "causal", info.causal, bool(cfg.use_causal_conv))
        if bandwidth not in [float(b) for b in cfg.target_bandwidths]:
            raise ValueError(f"{info.name}: bandwidth {bandwidth} not in {cfg.target_bandwidths}")
        self.channels = int(cfg.audio_channels)
        self.chunked = cfg.chunk_length is not None
        if self.chunked:
            self.chunk_length = int(cfg.chunk_length)
            self.chunk_stride = int(cfg.chunk_stride)
            if self.chunk_length % HOP:
                raise ValueError(f"{info.name}: chunk length {self.chunk_length} is not whole frames")

    def _codes(self, x):
        """[N, C, T] -> codes [N, n_q, F] (the encoder reflect-pads a last partial frame itself)."""
        if self.channels == 2:
            x = x.expand(-1, 2, -1)
        return self.model.quantizer.encode(self.model.encoder(x), self.bandwidth).transpose(0, 1)

    def _decode_codes(self, codes):
        """[N, n_q, F] -> [N, C, F * HOP]."""
        return self.model.decoder(self.model.quantizer.decode(codes.transpose(0, 1)))

    # -- 24 kHz: one pass per item length ------------------------------------------------------------
    def _encode(self, x, lengths):
        if self.chunked:
            return self._encode_chunked(x, lengths)
        frames = valid_frames(lengths, HOP)
        out = np.zeros((len(lengths), len(self.info.codebooks), int(frames.max(initial=1))), dtype=np.int64)
        for idx in groups(lengths):
            n = int(lengths[idx[0]])
            codes = self._codes(x[list(idx), :, :n]).cpu().numpy()
            out[idx, :, : codes.shape[-1]] = codes
        return Encoded(codes=[out[:, q] for q in range(out.shape[1])], frames=[frames] * out.shape[1])

    def _decode(self, encoded: Encoded, lengths):
        if self.chunked:
            return self._decode_chunked(encoded, lengths)
        import torch

        y = self._decode_codes(torch.from_numpy(np.stack(encoded.codes, axis=1)).to(self.device))
        return y.mean(dim=1) if y.shape[1] == 2 else y

    # -- 48 kHz: the library's chunks; equal-length chunks of the batch run as one tensor -------------
    def _chunks(self, n: int) -> list[tuple[int, int]]:
        """(offset, length) of each chunk, as ``encodec.EncodecModel.encode`` cuts them."""
        return [(off, min(self.chunk_length, n - off)) for off in range(0, max(int(n), 1), self.chunk_stride)]

    def _encode_chunked(self, x, lengths):
        import torch

        chunks = [(b, off, m) for b, n in enumerate(lengths) for off, m in self._chunks(int(n))]
        codes: dict[int, np.ndarray] = {}
        scales: dict[int, float] = {}
        for idx in groups([m for _, _, m in chunks]):
            m = chunks[idx[0]][2]
            batch = torch.stack([x[b, :, off: off + m] for b, off, _ in (chunks[i] for i in idx)])
            batch = torch.nn.functional.pad(batch, (0, m - batch.shape[-1]))  # the base's zeros past the end
            # the library's normalisation: RMS of the mono mix of each chunk, + 1e-8
            scale = batch.pow(2).mean(dim=-1, keepdim=True).sqrt() + 1e-8
            c = self._codes(batch / scale).cpu().numpy()
            for j, i in enumerate(idx):
                codes[int(i)], scales[int(i)] = c[j], float(scale[j].item())
        n_q = len(self.info.codebooks)
        per_item = [[i for i, ch in enumerate(chunks) if ch[0] == b] for b in range(len(lengths))]
        counts = [[codes[i].shape[-1] for i in ids] for ids in per_item]
        frames = np.array([sum(c) for c in counts], dtype=np.int64)
        out = np.zeros((len(lengths), n_q, int(frames.max(initial=1))), dtype=np.int64)
        for b, ids in enumerate(per_item):
            if ids:
                out[b, :, : frames[b]] = np.concatenate([codes[i] for i in ids], axis=-1)
        bits = frames * n_q * 10 + 32 * np.array([len(ids) for ids in per_item])  # + one float32 scale per chunk
        return Encoded(codes=[out[:, q] for q in range(n_q)], frames=[frames] * n_q, bits=bits.astype(np.float64),
                       state={"scales": [[scales[i] for i in ids] for ids in per_item], "chunk_frames": counts})

    def _decode_chunked(self, encoded: Encoded, lengths):
        import torch

        codes = np.stack(encoded.codes, axis=1)  # [B, n_q, F]
        chunks = []  # (item, first frame, frames, scale)
        for b, (counts, item_scales) in enumerate(zip(encoded.state["chunk_frames"], encoded.state["scales"], strict=True)):
            starts = np.cumsum([0, *counts[:-1]])
            chunks += [(b, int(s), int(f), sc) for s, f, sc in zip(starts, counts, item_scales, strict=True)]
        decoded: dict[int, torch.Tensor] = {}
        for idx in groups([f for _, _, f, _ in chunks]):
            c = torch.from_numpy(np.stack([codes[b, :, s: s + f] for b, s, f, _ in (chunks[i] for i in idx)]))
            y = self._decode_codes(c.to(self.device))
            y = y * torch.tensor([chunks[i][3] for i in idx], device=self.device, dtype=y.dtype).view(-1, 1, 1)
            for j, i in enumerate(idx):
                decoded[int(i)] = y[j]
        items = []
        for b in range(len(lengths)):
            parts = [decoded[i][None] for i, ch in enumerate(chunks) if ch[0] == b]
            # the library's output (stereo), then its two channels averaged to mono
            items.append(self.model._linear_overlap_add(parts, self.chunk_stride)[0].mean(dim=0) if parts
                         else torch.zeros(0, device=self.device))
        out = torch.zeros((len(items), max(1, *(t.shape[-1] for t in items))), device=self.device)
        for b, t in enumerate(items):
            out[b, : t.shape[-1]] = t
        return out


def _loader(sr: int, kbps: float):
    info = info_for(sr, kbps)

    def load(arg: str | None, device: str) -> EncodecCodec:
        transformers = import_backend("transformers", info.name)
        folder = WEIGHTS[sr].resolve(arg, info.name)
        model = transformers.EncodecModel.from_pretrained(str(folder))
        return EncodecCodec(info, model, kbps, device)

    return load


def specs() -> list[CodecSpec]:
    out = []
    for sr, bws in BANDWIDTHS.items():
        for kbps in bws:
            name = variant_name(sr, kbps)
            out.append(CodecSpec(info=info_for(sr, kbps), load=_loader(sr, kbps), requires=("torch", "transformers"),
                                 install_hint=INSTALL_HINT, accepts_arg=True,
                                 check=partial(WEIGHTS[sr].check, name)))
    return out


def models():
    return [w.model_spec(tuple(variant_name(sr, k) for k in BANDWIDTHS[sr])) for sr, w in WEIGHTS.items()]
