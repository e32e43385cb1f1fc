"""Tiny random-init ASR checkpoints in the Hugging Face hub folder layout, built locally (no hub
access): a multilingual Whisper, a wav2vec2-CTC model and an MMS-style CTC model with per-language
adapters. Their transcripts are gibberish; they exercise loading, batching and routing."""

from __future__ import annotations

import json
from pathlib import Path

DEVANAGARI = list("कखगघचजटडतदनपबमयरलवसह") + ["ा", "ि", "ी", "ु", "े", "ो", "ं", "्"]


def _byte_chars() -> list[str]:
    """The 256 printable stand-ins of byte-level BPE vocabularies (GPT-2 / Whisper convention)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = [b for b in range(256) if b not in keep]
    return [chr(c) for c in keep] + [chr(256 + i) for i in range(len(extra))]


def build_whisper(folder: Path, seed: int = 0, stale: bool = False) -> Path:
    """A 2-layer, 16-wide multilingual Whisper (languages en, hi) with byte-level tokens and timestamp
    tokens, its feature extractor (80 mels) and generation config (max 16 tokens; ``stale``: without
    language and task tokens, as 2022 fine-tunes ship it)."""
    import torch
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperTokenizer,
    )

    torch.manual_seed(seed)
    vocab = {c: i for i, c in enumerate(_byte_chars())}
    specials = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|hi|>", "<|translate|>", "<|transcribe|>",
                "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>"]
    specials += [f"<|{i * 0.02:.2f}|>" for i in range(1501)]
    for tok in specials:
        vocab[tok] = len(vocab)
    tokenizer = WhisperTokenizer(vocab=vocab, merges=[])
    tokenizer.add_special_tokens({"additional_special_tokens": specials[1:]})
    eot, sot = vocab["<|endoftext|>"], vocab["<|startoftranscript|>"]
    cfg = WhisperConfig(vocab_size=len(vocab), num_mel_bins=80, encoder_layers=1, decoder_layers=1, d_model=16,
                        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
                        max_source_positions=1500, max_target_positions=64, pad_token_id=eot, bos_token_id=eot,
                        eos_token_id=eot, decoder_start_token_id=sot)
    model = WhisperForConditionalGeneration(cfg)
    langs = {} if stale else dict(
        is_multilingual=True, lang_to_id={"<|en|>": vocab["<|en|>"], "<|hi|>": vocab["<|hi|>"]},
        task_to_id={"transcribe": vocab["<|transcribe|>"], "translate": vocab["<|translate|>"]},
        no_timestamps_token_id=vocab["<|notimestamps|>"])
    model.generation_config = GenerationConfig(decoder_start_token_id=sot, eos_token_id=eot, pad_token_id=eot,
                                               bos_token_id=eot, max_length=16, **langs)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    WhisperFeatureExtractor(feature_size=80).save_pretrained(folder)
    return folder


def build_ctc(folder: Path, seed: int = 0) -> Path:
    """A 1-layer, 16-wide wav2vec2-CTC model (layer-norm feature encoder, so batches take an attention
    mask) over a Devanagari character vocabulary."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2ForCTC

    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    return save_tiny_ctc(folder, ["<pad>", "<s>", "</s>", "<unk>", "|", *DEVANAGARI], Wav2Vec2Config, Wav2Vec2ForCTC)


def save_tiny_ctc(folder: Path, symbols: list[str], config_cls, model_cls) -> Path:
    """A 1-layer, 16-wide CTC model of ``model_cls`` (wav2vec2 or HuBERT) over ``symbols`` in the hub layout
    (config.json, weights, vocab.json, tokenizer and feature extractor configs); seed torch first."""
    from transformers import Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor

    vocab = {c: i for i, c in enumerate(symbols)}
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    cfg = config_cls(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, conv_dim=(16, 16, 16), conv_stride=(5, 4, 4), conv_kernel=(10, 4, 4),
                     feat_extract_norm="layer", do_stable_layer_norm=True, num_conv_pos_embeddings=16,
                     num_conv_pos_embedding_groups=2, pad_token_id=0)
    model_cls(cfg).save_pretrained(folder)
    Wav2Vec2CTCTokenizer(str(folder / "vocab.json")).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                             return_attention_mask=True).save_pretrained(folder)
    return folder


def build_mms(folder: Path, seed: int = 0) -> Path:
    """An MMS-style wav2vec2-CTC model with per-language adapters (``adapter.hin/tam.safetensors``) and a
    per-language vocabulary (Devanagari for hin, Tamil for tam)."""
    import torch
    from safetensors.torch import save_file
    from transformers import Wav2Vec2Config, Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC

    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    base = ["<pad>", "<s>", "</s>", "<unk>", "|"]
    vocab = {"hin": {c: i for i, c in enumerate(base + DEVANAGARI[:20])},
             "tam": {c: i for i, c in enumerate(base + list("கஙசஞடணதநபமயரலவழளறன"))}}
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    cfg = Wav2Vec2Config(vocab_size=len(vocab["hin"]), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32, conv_dim=(16, 16, 16), conv_stride=(5, 4, 4), conv_kernel=(10, 4, 4),
                         feat_extract_norm="layer", do_stable_layer_norm=True, num_conv_pos_embeddings=16,
                         num_conv_pos_embedding_groups=2, pad_token_id=0, adapter_attn_dim=8)
    model = Wav2Vec2ForCTC(cfg)
    model.save_pretrained(folder)
    Wav2Vec2CTCTokenizer(str(folder / "vocab.json"), target_lang="hin").save_pretrained(folder)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, do_normalize=True,
                             return_attention_mask=True).save_pretrained(folder)
    for lang, v in vocab.items():
        weights = {k: torch.randn_like(w) * 0.5 for k, w in model._get_adapters().items()}
        weights.update({"lm_head.weight": torch.randn(len(v), 16), "lm_head.bias": torch.zeros(len(v))})
        save_file(weights, str(folder / f"adapter.{lang}.safetensors"))
    return folder
