"""The UTMOS22 strong learner (Saeki et al. 2022, "UTMOS: UTokyo-SaruLab System for VoiceMOS Challenge
2022") in plain torch, with the parameter names of SpeechMOS's ``utmos22_strong`` state dict:

    wave (16 kHz) -> wav2vec 2.0 base (fairseq layout: conv feature encoder with a group norm in its
    first layer, post-LN transformer, weight-normed convolutional position embedding)
    -> [frames ++ domain embedding ++ judge embedding] -> BLSTM -> Linear-ReLU-Linear per frame
    -> mean over frames * 2 + 3.

Batching with padding changes nothing: the first layer's group norm (per channel, over time) takes its
statistics over each item's own frames, frames past an item's end are zeroed before the position
convolution (where a single item sees the convolution's zero padding), attention ignores them, the
BLSTM is packed (its backward pass starts at each item's last frame) and the mean is over valid frames.
This module imports torch: the metric imports it only when it loads the model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class UtmosConfig:
    """Sizes of the network; the defaults are UTMOS22 strong's (config.json may override them)."""

    conv_layers: tuple[tuple[int, int, int], ...] = ((512, 10, 5),) + ((512, 3, 2),) * 4 + ((512, 2, 2),) * 2
    hidden: int = 768
    layers: int = 12
    heads: int = 12
    ffn: int = 3072
    pos_conv_kernel: int = 128
    pos_conv_groups: int = 16
    domain_dim: int = 128
    judge_dim: int = 128
    lstm_hidden: int = 512
    proj_hidden: int = 2048
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> UtmosConfig:
        known = {f.name for f in fields(cls)} - {"extra"}
        kw = {k: v for k, v in d.items() if k in known}
        if "conv_layers" in kw:
            kw["conv_layers"] = tuple(tuple(int(x) for x in layer) for layer in kw["conv_layers"])
        return cls(**kw, extra={k: v for k, v in d.items() if k not in known})

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("extra")
        d["conv_layers"] = [list(x) for x in self.conv_layers]
        return d


def frame_lengths(lengths, conv_layers):
    """Frames of the conv feature encoder for each sample length (no padding: floor((L - k) / s) + 1)."""
    out = torch.as_tensor(lengths)
    for _, k, s in conv_layers:
        out = torch.div(out - k, s, rounding_mode="floor") + 1
    return out.clamp(min=0)


def mask_of(lengths, t):
    return torch.arange(t, device=lengths.device)[None, :] < lengths[:, None]  # [B, T] True = valid


class MaskedGroupNorm(nn.Module):
    """GroupNorm(C, C) (one channel per group: mean and variance over time) over valid frames only."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x, mask):  # x [B, C, T], mask [B, T]
        m = mask[:, None, :].to(x.dtype)
        n = m.sum(-1, keepdim=True).clamp(min=1)
        mean = (x * m).sum(-1, keepdim=True) / n
        var = (((x - mean) * m) ** 2).sum(-1, keepdim=True) / n
        return (x - mean) / torch.sqrt(var + self.eps) * self.weight[:, None] + self.bias[:, None]


class ConvBlock(nn.Module):
    """fairseq ``ConvFeatureExtractionModel`` block: Conv1d(no bias) -> Dropout -> [GroupNorm] -> GELU,
    its modules at the indices of fairseq's nn.Sequential (0: conv, 2: norm)."""

    def __init__(self, n_in: int, n_out: int, k: int, s: int, norm: bool):
        super().__init__()
        self.k, self.s = k, s
        self.add_module("0", nn.Conv1d(n_in, n_out, k, stride=s, bias=False))
        if norm:
            self.add_module("2", MaskedGroupNorm(n_out))

    def forward(self, x, lengths):
        x = getattr(self, "0")(x)
        lengths = torch.div(lengths - self.k, self.s, rounding_mode="floor") + 1
        if hasattr(self, "2"):
            x = getattr(self, "2")(x, mask_of(lengths, x.shape[-1]))
        return F.gelu(x), lengths


class FeatureExtractor(nn.Module):
    def __init__(self, conv_layers):
        super().__init__()
        blocks, n_in = [], 1
        for i, (dim, k, s) in enumerate(conv_layers):
            blocks.append(ConvBlock(n_in, dim, k, s, norm=i == 0))
            n_in = dim
        self.conv_layers = nn.ModuleList(blocks)

    def forward(self, wave, lengths):  # [B, T] -> [B, C, frames]
        x = wave[:, None, :]
        for block in self.conv_layers:
            x, lengths = block(x, lengths)
        return x, lengths


class WeightNormConv(nn.Module):
    """Conv1d with the weight norm of ``nn.utils.weight_norm(dim=2)`` (``weight_g``, ``weight_v``)."""

    def __init__(self, channels: int, kernel: int, groups: int):
        super().__init__()
        self.weight_g = nn.Parameter(torch.ones(1, 1, kernel))
        self.weight_v = nn.Parameter(torch.randn(channels, channels // groups, kernel) * 0.02)
        self.bias = nn.Parameter(torch.zeros(channels))
        self.pad, self.groups = kernel // 2, groups

    def forward(self, x):
        v = self.weight_v
        w = self.weight_g * v / v.norm(dim=(0, 1), keepdim=True)
        return F.conv1d(x, w, self.bias, padding=self.pad, groups=self.groups)


class PosConv(nn.Sequential):
    """fairseq's pos_conv: weight-normed conv, SamePad (drop the last frame for an even kernel), GELU."""

    def __init__(self, channels: int, kernel: int, groups: int):
        super().__init__(WeightNormConv(channels, kernel, groups))
        self.even = kernel % 2 == 0

    def forward(self, x):
        x = self[0](x)
        return F.gelu(x[:, :, :-1] if self.even else x)


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.v_proj, self.out_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)

    def forward(self, x, mask):  # x [B, T, C]; mask [B, T] True = valid
        b, t, c = x.shape
        h = self.heads

        def split(y):
            return y.view(b, t, h, c // h).transpose(1, 2)

        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])
        return self.out_proj(att.transpose(1, 2).reshape(b, t, c))


class EncoderLayer(nn.Module):
    """fairseq TransformerSentenceEncoderLayer with layer_norm_first=False (post-LN)."""

    def __init__(self, dim: int, heads: int, ffn: int):
        super().__init__()
        self.self_attn = SelfAttention(dim, heads)
        self.self_attn_layer_norm = nn.LayerNorm(dim)
        self.fc1, self.fc2 = nn.Linear(dim, ffn), nn.Linear(ffn, dim)
        self.final_layer_norm = nn.LayerNorm(dim)

    def forward(self, x, mask):
        x = self.self_attn_layer_norm(x + self.self_attn(x, mask))
        return self.final_layer_norm(x + self.fc2(F.gelu(self.fc1(x))))


class Encoder(nn.Module):
    def __init__(self, cfg: UtmosConfig):
        super().__init__()
        self.pos_conv = PosConv(cfg.hidden, cfg.pos_conv_kernel, cfg.pos_conv_groups)
        self.layer_norm = nn.LayerNorm(cfg.hidden)
        self.layers = nn.ModuleList([EncoderLayer(cfg.hidden, cfg.heads, cfg.ffn) for _ in range(cfg.layers)])

    def forward(self, x, mask):  # [B, T, C]
        x = x * mask[..., None].to(x.dtype)  # a single item sees the convolution's zero padding here
        x = self.layer_norm(x + self.pos_conv(x.transpose(1, 2)).transpose(1, 2))
        for layer in self.layers:
            x = layer(x, mask)
        return x


class Wav2Vec2(nn.Module):
    def __init__(self, cfg: UtmosConfig):
        super().__init__()
        conv_dim = cfg.conv_layers[-1][0]
        self.feature_extractor = FeatureExtractor(cfg.conv_layers)
        self.layer_norm = nn.LayerNorm(conv_dim)
        self.post_extract_proj = nn.Linear(conv_dim, cfg.hidden)
        self.encoder = Encoder(cfg)
        self.mask_emb = nn.Parameter(torch.zeros(cfg.hidden))  # unused at inference (fairseq remnant)

    def forward(self, wave, lengths):
        feats, frames = self.feature_extractor(wave, lengths)
        x = self.post_extract_proj(self.layer_norm(feats.transpose(1, 2)))
        mask = mask_of(frames, x.shape[1])
        return self.encoder(x, mask), frames


class Utmos22Strong(nn.Module):
    """UTMOS22 strong learner (without its phoneme encoder, as released); forward -> [B] MOS."""

    def __init__(self, cfg: UtmosConfig | None = None):
        super().__init__()
        cfg = cfg or UtmosConfig()
        self.cfg = cfg
        self.wav2vec2 = Wav2Vec2(cfg)
        self.domain_emb = nn.Parameter(torch.zeros(1, cfg.domain_dim))
        self.judge_emb = nn.Parameter(torch.zeros(1, cfg.judge_dim))
        self.blstm = nn.LSTM(cfg.hidden + cfg.domain_dim + cfg.judge_dim, cfg.lstm_hidden, batch_first=True,
                             bidirectional=True)
        self.projection = nn.Sequential(nn.Linear(2 * cfg.lstm_hidden, cfg.proj_hidden), nn.ReLU(),
                                        nn.Linear(cfg.proj_hidden, 1))

    def forward(self, wave, lengths):
        """wave [B, T] at 16 kHz, zero-padded; lengths [B] samples -> [B] predicted MOS."""
        x, frames = self.wav2vec2(wave, lengths)
        if int(frames.min()) < 1:
            raise ValueError("a wave is shorter than the feature encoder's receptive field")
        b, t, _ = x.shape
        x = torch.cat([x, self.domain_emb.expand(b, t, -1), self.judge_emb.expand(b, t, -1)], dim=2)
        packed = nn.utils.rnn.pack_padded_sequence(x, frames.cpu(), batch_first=True, enforce_sorted=False)
        y, _ = self.blstm(packed)
        y, _ = nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=t)
        score = self.projection(y)[..., 0]  # [B, T]
        m = mask_of(frames, t).to(score.dtype)
        return (score * m).sum(1) / frames.to(score.dtype) * 2 + 3
