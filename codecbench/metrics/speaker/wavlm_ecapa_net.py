"""The speaker-verification model codec and TTS papers cite as "WavLM-TDNN" / "SIM with WavLM-large":
ECAPA-TDNN on a learned weighted sum of WavLM-large's hidden states (UniSpeech's
``downstreams/speaker_verification/models/ecapa_tdnn.py``, ``ECAPA_TDNN_SMALL(feat_dim=1024,
feat_type='wavlm_large')``, checkpoint ``wavlm_large_finetune.pth``), in plain torch.

- WavLM is transformers' ``WavLMModel``; the checkpoint's fairseq/UniSpeech parameter names
  (``feature_extract.model.*``) are renamed to transformers' (``wavlm_state``) and the WavLM sizes are
  read off the tensors (``wavlm_config``), so any such checkpoint loads without a config file;
- the hidden states are the inputs of the 24 transformer layers plus the final layer-normed output
  (25 for WavLM-large: what s3prl's WavLM expert hooks), softmax-weighted by ``feature_weight``;
- the ECAPA-TDNN head keeps UniSpeech's parameter names (``layer1.conv``, ``layer2.Res2Conv1dReluBn``,
  ``pooling.linear1``, ...): instance norm over time, Conv1d+ReLU+BN, three SE-Res2 blocks (dilation 2,
  3, 4), 1x1 conv over their concatenation, attentive statistics pooling, BN, linear (256-d).
Built lazily so that importing codecbench does not import torch.
"""

from __future__ import annotations

import re
from typing import Any

PREFIX = "feature_extract.model."
RENAMES = (  # UniSpeech / fairseq WavLM name -> transformers WavLMModel name (after the prefix)
    (r"^feature_extractor\.conv_layers\.(\d+)\.0\.", r"feature_extractor.conv_layers.\1.conv."),
    (r"^feature_extractor\.conv_layers\.(\d+)\.2\.1\.", r"feature_extractor.conv_layers.\1.layer_norm."),
    (r"^feature_extractor\.conv_layers\.0\.2\.", r"feature_extractor.conv_layers.0.layer_norm."),
    (r"^layer_norm\.", "feature_projection.layer_norm."),
    (r"^post_extract_proj\.", "feature_projection.projection."),
    (r"^encoder\.pos_conv\.0\.weight_g$", "encoder.pos_conv_embed.conv.parametrizations.weight.original0"),
    (r"^encoder\.pos_conv\.0\.weight_v$", "encoder.pos_conv_embed.conv.parametrizations.weight.original1"),
    (r"^encoder\.pos_conv\.0\.bias$", "encoder.pos_conv_embed.conv.bias"),
    (r"\.self_attn\.relative_attention_bias\.", ".attention.rel_attn_embed."),
    (r"\.self_attn\.grep_linear\.", ".attention.gru_rel_pos_linear."),
    (r"\.self_attn\.grep_a$", ".attention.gru_rel_pos_const"),
    (r"\.self_attn\.", ".attention."),
    (r"\.self_attn_layer_norm\.", ".layer_norm."),
    (r"\.fc1\.", ".feed_forward.intermediate_dense."),
    (r"\.fc2\.", ".feed_forward.output_dense."),
    (r"^mask_emb$", "masked_spec_embed"),
)
UNUSED = ("label_embs_concat", "final_proj", "project_q", "quantizer", "mask_emb")


def wavlm_state(state: dict[str, Any]) -> dict[str, Any]:
    """The WavLM tensors of a UniSpeech checkpoint under transformers' names (training-only ones dropped)."""
    out = {}
    for key, value in state.items():
        if not key.startswith(PREFIX):
            continue
        k = key[len(PREFIX):]
        if k.split(".")[0] in UNUSED:
            continue
        for pattern, repl in RENAMES:
            k = re.sub(pattern, repl, k)
        out[k] = value
    return out


def wavlm_config(ws: dict[str, Any]):
    """A transformers ``WavLMConfig`` read off the (renamed) WavLM tensors."""
    from transformers import WavLMConfig

    conv = sorted(int(m.group(1)) for k in ws if (m := re.match(r"feature_extractor\.conv_layers\.(\d+)\.conv\.weight$", k)))
    layers = sorted({int(m.group(1)) for k in ws if (m := re.match(r"encoder\.layers\.(\d+)\.", k))})
    if not conv or not layers:
        raise ValueError("no WavLM tensors (feature_extract.model.*) in the checkpoint")
    w = [ws[f"feature_extractor.conv_layers.{i}.conv.weight"] for i in conv]
    kernels = [int(x.shape[-1]) for x in w]
    strides = [5 if k == 10 else 2 for k in kernels]  # wav2vec 2.0 / WavLM feature encoders: (10, 5), (3, 2), (2, 2)
    layer_norm = "feature_extractor.conv_layers.1.layer_norm.weight" in ws or len(conv) == 1
    pos_v = ws["encoder.pos_conv_embed.conv.parametrizations.weight.original1"]
    hidden = int(ws["feature_projection.projection.weight"].shape[0])
    heads = int(ws["encoder.layers.0.attention.gru_rel_pos_const"].shape[1])
    return WavLMConfig(
        conv_dim=[int(x.shape[0]) for x in w], conv_kernel=kernels, conv_stride=strides,
        conv_bias="feature_extractor.conv_layers.0.conv.bias" in ws,
        feat_extract_norm="layer" if layer_norm else "group", do_stable_layer_norm=layer_norm,
        hidden_size=hidden, num_hidden_layers=len(layers), num_attention_heads=heads,
        intermediate_size=int(ws["encoder.layers.0.feed_forward.intermediate_dense.weight"].shape[0]),
        num_conv_pos_embeddings=int(pos_v.shape[-1]), num_conv_pos_embedding_groups=hidden // int(pos_v.shape[1]),
        num_buckets=int(ws["encoder.layers.0.attention.rel_attn_embed.weight"].shape[0]),
        hidden_act="gelu", layer_norm_eps=1e-5,
    )


def _build():
    import torch
    import torch.nn.functional as F
    from torch import nn

    class Conv1dReluBn(nn.Module):
        def __init__(self, c_in, c_out, kernel_size=1, padding=0, dilation=1):
            super().__init__()
            self.conv = nn.Conv1d(c_in, c_out, kernel_size, 1, padding, dilation)
            self.bn = nn.BatchNorm1d(c_out)

        def forward(self, x):
            return self.bn(F.relu(self.conv(x)))

    class Res2Conv1dReluBn(nn.Module):
        def __init__(self, channels, kernel_size, padding, dilation, scale):
            super().__init__()
            self.width = channels // scale
            self.nums = scale if scale == 1 else scale - 1
            self.convs = nn.ModuleList([nn.Conv1d(self.width, self.width, kernel_size, 1, padding, dilation)
                                        for _ in range(self.nums)])
            self.bns = nn.ModuleList([nn.BatchNorm1d(self.width) for _ in range(self.nums)])

        def forward(self, x):
            spx = torch.split(x, self.width, 1)
            out, sp = [], None
            for i in range(self.nums):
                sp = spx[i] if i == 0 else sp + spx[i]
                sp = self.bns[i](F.relu(self.convs[i](sp)))
                out.append(sp)
            if self.nums != len(spx):
                out.append(spx[self.nums])
            return torch.cat(out, dim=1)

    class SEConnect(nn.Module):
        def __init__(self, channels, bottleneck=128):
            super().__init__()
            self.linear1, self.linear2 = nn.Linear(channels, bottleneck), nn.Linear(bottleneck, channels)

        def forward(self, x):
            s = torch.sigmoid(self.linear2(F.relu(self.linear1(x.mean(dim=2)))))
            return x * s.unsqueeze(2)

    class SERes2Block(nn.Module):
        def __init__(self, c_in, c_out, kernel_size, padding, dilation, scale, bottleneck):
            super().__init__()
            self.Conv1dReluBn1 = Conv1dReluBn(c_in, c_out)
            self.Res2Conv1dReluBn = Res2Conv1dReluBn(c_out, kernel_size, padding, dilation, scale)
            self.Conv1dReluBn2 = Conv1dReluBn(c_out, c_out)
            self.SE_Connect = SEConnect(c_out, bottleneck)
            self.shortcut = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else None

        def forward(self, x):
            residual = self.shortcut(x) if self.shortcut is not None else x
            return self.SE_Connect(self.Conv1dReluBn2(self.Res2Conv1dReluBn(self.Conv1dReluBn1(x)))) + residual

    class AttentiveStatsPool(nn.Module):
        def __init__(self, dim, attention_channels=128):
            super().__init__()
            self.linear1 = nn.Conv1d(dim, attention_channels, 1)
            self.linear2 = nn.Conv1d(attention_channels, dim, 1)

        def forward(self, x):
            alpha = torch.softmax(self.linear2(torch.tanh(self.linear1(x))), dim=2)
            mean = torch.sum(alpha * x, dim=2)
            var = torch.sum(alpha * x ** 2, dim=2) - mean ** 2
            return torch.cat([mean, torch.sqrt(var.clamp(min=1e-9))], dim=1)

    class EcapaHead(nn.Module):
        """UniSpeech's ECAPA_TDNN after its feature extractor; input [1, feat_dim, frames] of one item."""

        def __init__(self, feat_num, feat_dim=1024, channels=512, emb_dim=256, scale=8, bottleneck=128,
                     attention_channels=128, cat_channels=1536):
            super().__init__()
            self.feature_weight = nn.Parameter(torch.zeros(feat_num))
            self.instance_norm = nn.InstanceNorm1d(feat_dim)
            self.layer1 = Conv1dReluBn(feat_dim, channels, kernel_size=5, padding=2)
            self.layer2 = SERes2Block(channels, channels, 3, 2, 2, scale, bottleneck)
            self.layer3 = SERes2Block(channels, channels, 3, 3, 3, scale, bottleneck)
            self.layer4 = SERes2Block(channels, channels, 3, 4, 4, scale, bottleneck)
            self.conv = nn.Conv1d(channels * 3, cat_channels, 1)
            self.pooling = AttentiveStatsPool(cat_channels, attention_channels)
            self.bn = nn.BatchNorm1d(cat_channels * 2)
            self.linear = nn.Linear(cat_channels * 2, emb_dim)

        def forward(self, hidden_states):
            """hidden_states [feat_num, 1, frames, feat_dim] -> embedding [1, emb_dim]."""
            w = F.softmax(self.feature_weight, dim=-1)[:, None, None, None]
            x = (w * hidden_states).sum(dim=0).transpose(1, 2) + 1e-6
            x = self.instance_norm(x)
            out1 = self.layer1(x)
            out2 = self.layer2(out1)
            out3 = self.layer3(out2)
            out4 = self.layer4(out3)
            out = F.relu(self.conv(torch.cat([out2, out3, out4], dim=1)))
            return self.linear(self.bn(self.pooling(out)))

    return EcapaHead


_CLASS = None


def head_class():
    global _CLASS
    if _CLASS is None:
        _CLASS = _build()
    return _CLASS


def head_kwargs(state: dict[str, Any]) -> dict[str, int]:
    """The head's sizes read off its tensors."""
    l1 = state["layer1.conv.weight"]
    return {"feat_num": int(state["feature_weight"].shape[0]), "feat_dim": int(l1.shape[1]),
            "channels": int(l1.shape[0]), "emb_dim": int(state["linear.weight"].shape[0]),
            "scale": len([k for k in state if re.match(r"layer2\.Res2Conv1dReluBn\.convs\.\d+\.weight$", k)]) + 1,
            "bottleneck": int(state["layer2.SE_Connect.linear1.weight"].shape[0]),
            "attention_channels": int(state["pooling.linear1.weight"].shape[0]),
            "cat_channels": int(state["conv.weight"].shape[0])}
