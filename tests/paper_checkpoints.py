"""Tiny random-init checkpoints of the paper-protocol models in their real layouts, built locally (no
hub access): UTMOS22 strong (SpeechMOS's state dict, with a config.json of smaller sizes), a
transformers WavLMForXVector folder (config.json + model.safetensors + preprocessor_config.json) and
UniSpeech's ECAPA-TDNN-on-WavLM checkpoint (``{"model": state dict}`` under fairseq/UniSpeech names).
Their outputs are meaningless; they exercise loading, batching and padding."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.asr_checkpoints import save_tiny_ctc

UTMOS_TINY = dict(conv_layers=[[16, 10, 5], [16, 3, 2], [16, 2, 2]], hidden=32, layers=2, heads=2, ffn=64,
                  pos_conv_kernel=16, pos_conv_groups=2, domain_dim=8, judge_dim=8, lstm_hidden=16, proj_hidden=32)


def _randomize(module, std: float, seed: int) -> None:
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.state_dict().items():
            if p.dtype.is_floating_point:
                p.copy_(torch.randn(p.shape, generator=g) * std)
                if "running_var" in name or name.endswith("weight_g"):
                    p.abs_().add_(0.5)


def build_utmos(folder: Path, fmt: str = "pt", seed: int = 0) -> Path:
    """``folder/utmos.pt`` (torch.save of the state dict, as SpeechMOS releases it) or
    ``folder/model.safetensors``, with ``config.json`` holding the tiny sizes. Returns the weight file."""
    import torch

    from codecbench.metrics.mos.utmos_net import Utmos22Strong, UtmosConfig

    folder.mkdir(parents=True, exist_ok=True)
    model = Utmos22Strong(UtmosConfig.from_dict(UTMOS_TINY))
    _randomize(model, 0.6, seed)  # scores then differ between inputs by ~1 MOS
    (folder / "config.json").write_text(json.dumps(UTMOS_TINY))
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    if fmt == "safetensors":
        from safetensors.torch import save_file

        save_file(state, str(folder / "model.safetensors"))
        return folder / "model.safetensors"
    torch.save(state, folder / "utmos.pt")
    return folder / "utmos.pt"


def _wavlm_config(norm: str = "layer"):
    from transformers import WavLMConfig

    return WavLMConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                       conv_dim=(16, 16, 16), conv_stride=(5, 2, 2), conv_kernel=(10, 3, 2), conv_bias=False,
                       num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4, feat_extract_norm=norm,
                       do_stable_layer_norm=norm == "layer", tdnn_dim=(16, 16, 16), tdnn_kernel=(5, 3, 1),
                       tdnn_dilation=(1, 2, 1), xvector_output_dim=12, num_buckets=32, max_bucket_distance=64)


def build_wavlm_xvector(folder: Path, norm: str = "layer", seed: int = 0) -> Path:
    """A transformers WavLMForXVector folder (hub layout)."""
    import torch
    from transformers import Wav2Vec2FeatureExtractor, WavLMForXVector

    torch.manual_seed(seed)
    model = WavLMForXVector(_wavlm_config(norm)).eval()
    _randomize(model, 0.2, seed)
    model.save_pretrained(folder)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                             return_attention_mask=True).save_pretrained(folder)
    return folder


# transformers WavLMModel name -> UniSpeech/fairseq name (the inverse of what the loader does, written
# out independently; the names are those of UniSpeech's WavLM.py modules)
TO_UNISPEECH = (
    (r"^feature_extractor\.conv_layers\.(\d+)\.conv\.", r"feature_extractor.conv_layers.\1.0."),
    (r"^feature_extractor\.conv_layers\.(\d+)\.layer_norm\.", r"feature_extractor.conv_layers.\1.2.1."),
    (r"^feature_projection\.layer_norm\.", "layer_norm."),
    (r"^feature_projection\.projection\.", "post_extract_proj."),
    (r"^encoder\.pos_conv_embed\.conv\.parametrizations\.weight\.original0$", "encoder.pos_conv.0.weight_g"),
    (r"^encoder\.pos_conv_embed\.conv\.parametrizations\.weight\.original1$", "encoder.pos_conv.0.weight_v"),
    (r"^encoder\.pos_conv_embed\.conv\.bias$", "encoder.pos_conv.0.bias"),
    (r"\.attention\.rel_attn_embed\.", ".self_attn.relative_attention_bias."),
    (r"\.attention\.gru_rel_pos_linear\.", ".self_attn.grep_linear."),
    (r"\.attention\.gru_rel_pos_const$", ".self_attn.grep_a"),
    (r"\.attention\.", ".self_attn."),
    (r"(layers\.\d+)\.layer_norm\.", r"\1.self_attn_layer_norm."),
    (r"\.feed_forward\.intermediate_dense\.", ".fc1."),
    (r"\.feed_forward\.output_dense\.", ".fc2."),
    (r"^masked_spec_embed$", "mask_emb"),
)


def build_wavlm_ecapa(path: Path, fmt: str = "pth", seed: int = 0) -> Path:
    """UniSpeech's checkpoint layout: ``{"model": {feature_extract.model.* (WavLM), feature_weight,
    layer1..4, conv, pooling, bn, linear}}`` (``.pth``), or the same state dict as ``.safetensors``."""
    import torch
    from transformers import WavLMModel

    from codecbench.metrics.speaker.wavlm_ecapa_net import head_class

    cfg = _wavlm_config("layer")
    wavlm = WavLMModel(cfg).eval()
    _randomize(wavlm, 0.2, seed)
    state = {}
    for k, v in wavlm.state_dict().items():
        if k.startswith("feature_extractor.conv_layers.0.layer_norm") and cfg.feat_extract_norm == "group":
            k = k.replace("layer_norm", "2")
        for pattern, repl in TO_UNISPEECH:
            k = re.sub(pattern, repl, k)
        state["feature_extract.model." + k] = v
    head = head_class()(feat_num=cfg.num_hidden_layers + 1, feat_dim=32, channels=16, emb_dim=8, scale=4,
                        bottleneck=8, attention_channels=8, cat_channels=24).eval()
    _randomize(head, 0.3, seed + 1)
    state.update(head.state_dict())
    state["loss_calculator.projection.weight"] = torch.zeros(3, 8)  # training-only tensors the loader ignores
    state = {k: v.contiguous() for k, v in state.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save({"model": state, "epoch": 7}, path)
    return path


LETTERS = ["<pad>", "<s>", "</s>", "<unk>", "|", "E", "T", "A", "O", "N", "I", "H", "S", "R", "D", "L", "U", "M", "W",
           "C", "F", "G", "Y", "P", "B", "V", "K", "'", "X", "J", "Q", "Z"]  # hubert-large-ls960-ft's vocabulary


def build_hubert_ctc(folder: Path, seed: int = 0) -> Path:
    """A 1-layer HubertForCTC over LibriSpeech's upper-case letters (the layout of
    facebook/hubert-large-ls960-ft: config.json, vocab.json, tokenizer and feature extractor configs)."""
    import torch
    from transformers import HubertConfig, HubertForCTC

    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    return save_tiny_ctc(folder, LETTERS, HubertConfig, HubertForCTC)


def write_spelling(path: Path) -> Path:
    """A two-entry stand-in for Whisper's normalizer.json (British -> American spellings)."""
    path.write_text(json.dumps({"colour": "color", "realise": "realize"}))
    return path


def librispeech(folder: Path, texts: list[str], seconds: float = 1.5) -> Path:
    """A LibriSpeech-layout folder (speaker/chapter/*.flac + .trans.txt) of speech-like 16 kHz audio."""
    from helpers import speechlike

    from codecbench import audio

    chapter = folder / "84" / "121123"
    chapter.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, text in enumerate(texts):
        uid = f"84-121123-{i:04d}"
        audio.save(chapter / f"{uid}.flac", speechlike(seconds + 0.2 * i, 16000, seed=i), 16000)
        lines.append(f"{uid} {text}")
    (chapter / "84-121123.trans.txt").write_text("\n".join(lines) + "\n")
    return folder
