"""EnCodec (Défossez et al. 2022) through transformers' ``EncodecModel``: 24 kHz mono and 48 kHz stereo.

Variants: ``encodec-24k-{1.5,3,6,12,24}kbps`` and ``encodec-48k-{3,6,12,24}kbps``; the bandwidth picks
the number of residual codebooks (1024 entries, 10 bits each): n_q = kbps * 1000 / (10 * frame_rate).
``NAME:/path/to/folder`` loads weights from a folder in the hub layout (config.json + model.safetensors).

What the adapters do, exactly:

* 24 kHz (causal, ``normalize=False``, no chunking in the original): the whole utterance is encoded in
  one pass. Each item is zero-padded on the right to whole frames (320 samples); since every
  convolution and the LSTM are causal, valid frames get identical codes batched or alone. No
  loudness normalisation.
* 48 kHz (non-causal, ``normalize=True``, 1 s chunks with 10 ms overlap in the original): we keep the
  original's processing: each item is cut into 1 s chunks every 0.99 s (the last chunk zero-padded
  to 1 s), each chunk is scaled by its own RMS before the encoder (the scale is side information,
  one float per chunk, not counted in the nominal bitrate) and multiplied back after the decoder,
  and chunks are overlap-added with the model's linear cross-fade. All chunks of a batch run as one
  tensor, so batched and single outputs agree. The model is stereo: mono input is duplicated to both
  channels and the two decoded channels are averaged back to mono. The codes of every chunk (150
  frames) are counted, so the measured rate is ~1 % above nominal (overlap) plus the padded last chunk.
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

    # -- 24 kHz: one pass ---------------------------------------------------------------------------
    def _encode(self, x, lengths):
        if self.chunked:
            return self._encode_chunked(x, lengths)
        x = pad_batch_tensor(x, lengths, HOP)
        if self.channels == 2:
            x = x.expand(-1, 2, -1)
        out = self.model.encode(x, bandwidth=self.bandwidth, return_dict=True)
        codes = out.audio_codes[0].cpu().numpy().astype(np.int64)  # [B, n_q, F]
        frames = valid_frames(lengths, HOP)
        return Encoded(codes=[codes[:, q] for q in range(codes.shape[1])], frames=[frames] * codes.shape[1])

    def _decode(self, encoded: Encoded, lengths):
        if self.chunked:
            return self._decode_chunked(encoded, lengths)
        import torch

        codes = torch.from_numpy(np.stack(encoded.codes, axis=1)).to(self.device)[None]  # [1, B, n_q, F]
        y = self.model.decode(codes, [None], return_dict=True).audio_values
        return y.mean(dim=1) if y.shape[1] == 2 else y

    # -- 48 kHz: the original's 1 s chunks, batched as one tensor ------------------------------------
    def _chunk_offsets(self, n: int) -> list[int]:
        return list(range(0, max(int(n), 1), self.chunk_stride))

    def _encode_chunked(self, x, lengths):
        import torch

        chunks, owners = [], []
        for b, n in enumerate(lengths):
            for off in self._chunk_offsets(n):
                c = x[b, :, off: min(off + self.chunk_length, int(n))]
                chunks.append(torch.nn.functional.pad(c, (0, self.chunk_length - c.shape[-1])))
                owners.append(b)
        batch = torch.stack(chunks)  # [N, 1, chunk]
        if self.channels == 2:
            batch = batch.expand(-1, 2, -1)
        # The original's normalisation (normalize=True), written out: RMS of the mono mix of each chunk.
        scale = batch.mean(dim=1, keepdim=True).pow(2).mean(dim=-1, keepdim=True).sqrt() + 1e-8
        emb = self.model.encoder(batch / scale)
        codes = self.model.quantizer.encode(emb, self.bandwidth).transpose(0, 1).cpu().numpy()  # [N, n_q, F]
        n_q, per_chunk = codes.shape[1], codes.shape[2]
        counts = np.bincount(np.asarray(owners), minlength=len(lengths))
        total = int(counts.max()) * per_chunk
        out = np.zeros((len(lengths), n_q, total), dtype=np.int64)
        scales = [[] for _ in lengths]
        for i, b in enumerate(owners):
            k = len(scales[b])
            out[b, :, k * per_chunk:(k + 1) * per_chunk] = codes[i]
            scales[b].append(float(scale[i].item()))
        frames = counts * per_chunk
        return Encoded(codes=[out[:, q] for q in range(n_q)], frames=[frames] * n_q,
                       state={"scales": scales, "frames_per_chunk": per_chunk})

    def _decode_chunked(self, encoded: Encoded, lengths):
        import torch

        per_chunk = encoded.state["frames_per_chunk"]
        codes = np.stack(encoded.codes, axis=1)  # [B, n_q, F]
        chunk_codes, scales, owners = [], [], []
        for b, item_scales in enumerate(encoded.state["scales"]):
            for k, s in enumerate(item_scales):
                chunk_codes.append(codes[b, :, k * per_chunk:(k + 1) * per_chunk])
                scales.append(s)
                owners.append(b)
        c = torch.from_numpy(np.stack(chunk_codes)).to(self.device)  # [N, n_q, F]
        y = self.model.decoder(self.model.quantizer.decode(c.transpose(0, 1)))
        y = y * torch.tensor(scales, device=self.device, dtype=y.dtype).view(-1, 1, 1)
        y = y.mean(dim=1)  # stereo -> mono
        items = []
        for b in range(len(lengths)):
            frames = [y[i][None] for i, o in enumerate(owners) if o == b]
            items.append(self.model._linear_overlap_add(frames, self.chunk_stride)[0])
        out = torch.zeros((len(items), max(t.shape[-1] for t in items)), device=self.device)
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
