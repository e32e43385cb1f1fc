"""transformers ASR backend: Whisper and its fine-tunes (and other speech seq2seq models), and CTC
models (wav2vec2, MMS with per-language adapters), by hub id at a revision or from a local folder.

Measurement decisions:
- the processor's feature extractor and the model are called directly on 16 kHz numpy waves (never
  the ``pipeline``, whose audio paths may import torchaudio);
- decoding is deterministic: beam search (``beam``) without sampling for seq2seq models, greedy
  argmax for CTC; float32 on CPU, float16 on CUDA;
- Whisper: the language is forced when the model knows its token (old fine-tunes' generation configs
  are completed from the tokenizer); else the model detects it, and ``language_forced`` in the
  transcript record says so; clips up to 30 s are decoded
  in batches, longer ones one at a time as Whisper long-form transcription;
- CTC: a batch is zero-padded with an attention mask and each item's logits are cut to its own frame
  count; models whose feature extractor takes no attention mask (group-norm wav2vec2) are run one clip
  at a time, since padding would change their output. MMS loads the language's adapter (ISO 639-3).
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from typing import Any

import numpy as np

from codecbench.metrics.asr.backends import AsrBackend
from codecbench.metrics.asr.routing import iso3
from codecbench.metrics.base import MetricFailure, MetricUnavailable
from codecbench.models import ModelMissing, hub_snapshot, missing_reason

SR = 16000
BATCH = 16  # clips per forward pass
WHISPER_CHUNK = 30 * SR
# Files a checkpoint needs (weights, configs, tokenizer, feature extractor); MMS adapters are fetched
# per language on first use (a model such as mms-1b-all ships one for each of ~1100 languages).
HUB_PATTERNS = ("*.json", "*.txt", "*.model", "*.tiktoken", "model*.safetensors")


def hub_folder(model: str, revision: str | None, langs: list[str] | None = None, cache_dir=None) -> str:
    """A local folder with the checkpoint (a hub snapshot at ``revision`` unless ``model`` is a folder).
    Falls back to ``pytorch_model*.bin`` for repositories without safetensors weights."""
    if os.path.isdir(model):
        return model
    patterns = list(HUB_PATTERNS) + [f"adapter.{c}.safetensors" for c in filter(None, map(iso3, langs or []))]
    folder = hub_snapshot(model, revision, patterns, cache_dir)
    if not any(f.endswith(".safetensors") and f.startswith("model") for f in os.listdir(folder)):
        folder = hub_snapshot(model, revision, patterns + ["pytorch_model*.bin"], cache_dir)
    return folder


class TransformersBackend(AsrBackend):
    backend = "transformers"

    def __init__(self, model: str, revision: str | None = None, device: str = "cpu", beam_size: int = 5):
        self.model = model
        self.revision = revision
        self.device = device
        self.beam_size = beam_size
        self._loaded: tuple[Any, Any, Any] | None = None  # (model, feature extractor, tokenizer)
        self._folder: str | None = None
        self._adapter: str | None = None

    def load(self) -> tuple[Any, Any, Any]:
        if self._loaded is None:
            try:
                import torch
                from transformers import (
                    AutoConfig,
                    AutoFeatureExtractor,
                    AutoModelForCTC,
                    AutoModelForSpeechSeq2Seq,
                    AutoTokenizer,
                )
            except ImportError as exc:
                raise MetricUnavailable("the transformers ASR backend needs torch and transformers: "
                                        "pip install transformers") from exc
            folder = self._folder = hub_folder(self.model, self.revision)
            cfg = AutoConfig.from_pretrained(folder)
            cls = AutoModelForSpeechSeq2Seq if cfg.is_encoder_decoder else AutoModelForCTC
            dtype = torch.float16 if str(self.device).startswith("cuda") else torch.float32
            model = cls.from_pretrained(folder).to(self.device, dtype).eval()
            tok = AutoTokenizer.from_pretrained(folder)
            if cfg.model_type == "whisper":
                complete_generation_config(model.generation_config, tok)
            self._loaded = (model, AutoFeatureExtractor.from_pretrained(folder), tok)
        return self._loaded

    @property
    def commit(self) -> str | None:
        if self._folder is None or os.path.isdir(self.model):
            return None
        parent, name = os.path.split(os.path.normpath(self._folder))
        return name if os.path.basename(parent) == "snapshots" else None

    @property
    def kind(self) -> str:
        model = self.load()[0]
        return "whisper" if model.config.model_type == "whisper" else \
            "seq2seq" if model.config.is_encoder_decoder else "ctc"

    def forces_language(self, lang: str | None) -> bool:
        """Whether decoding forces ``lang`` (Whisper language tokens or an MMS adapter)."""
        model = self.load()[0]
        if lang is None:
            return False
        if model.config.model_type == "whisper":
            gc = model.generation_config
            return bool(getattr(gc, "is_multilingual", True)) and f"<|{lang}|>" in (getattr(gc, "lang_to_id", None) or {})
        return getattr(model.config, "adapter_attn_dim", None) is not None

    def transcribe(self, waves: list[np.ndarray], langs: list[str | None]) -> list[str]:
        import torch

        self.load()
        out: list[str] = [""] * len(waves)
        groups: dict[str | None, list[int]] = defaultdict(list)
        for i, lang in enumerate(langs):
            groups[lang].append(i)
        with torch.inference_mode():
            for lang, idx in groups.items():
                step = self._step(lang)
                for k in range(0, len(idx), BATCH):
                    part = idx[k:k + BATCH]
                    for i, text in zip(part, step([np.asarray(waves[i], np.float32) for i in part]), strict=True):
                        out[i] = text.strip()
        return out

    def _step(self, lang: str | None):
        """The function that transcribes one batch of ``lang``."""
        kind = self.kind
        if kind == "ctc":
            self._set_adapter(lang)
            return self._ctc
        if kind == "seq2seq":
            return self._seq2seq
        return lambda ws: self._whisper_any(ws, lang)

    def _whisper_any(self, waves: list[np.ndarray], lang: str | None) -> list[str]:
        """Clips up to 30 s in one batch, longer ones one at a time (long-form)."""
        out = [""] * len(waves)
        short = [i for i, w in enumerate(waves) if len(w) <= WHISPER_CHUNK]
        if short:
            for i, text in zip(short, self._whisper([waves[i] for i in short], lang), strict=True):
                out[i] = text
        for i in sorted(set(range(len(waves))) - set(short)):
            (out[i],) = self._whisper([waves[i]], lang, long_form=True)
        return out

    def _whisper(self, waves: list[np.ndarray], lang: str | None, long_form: bool = False) -> list[str]:
        model, fe, tok = self.load()
        kw: dict[str, Any] = dict(sampling_rate=SR, return_tensors="pt")
        if long_form:
            kw.update(truncation=False, padding="longest", return_attention_mask=True)
        feats = fe(waves, **kw)
        gen: dict[str, Any] = dict(num_beams=self.beam_size, do_sample=False)
        if self.forces_language(lang):
            gen.update(language=lang, task="transcribe")
        if long_form:
            gen.update(attention_mask=feats["attention_mask"].to(self.device), condition_on_prev_tokens=False,
                       return_timestamps=True)
        ids = model.generate(feats["input_features"].to(self.device, model.dtype), **gen)
        ids = ids["sequences"] if isinstance(ids, dict) else ids
        return tok.batch_decode(ids, skip_special_tokens=True)

    def _seq2seq(self, waves: list[np.ndarray]) -> list[str]:
        model, fe, tok = self.load()
        feats = fe(waves, sampling_rate=SR, return_tensors="pt", padding=True, return_attention_mask=True)
        inputs = {k: (v.to(self.device, model.dtype) if v.is_floating_point() else v.to(self.device))
                  for k, v in feats.items()}
        ids = model.generate(**inputs, num_beams=self.beam_size, do_sample=False)
        return tok.batch_decode(ids, skip_special_tokens=True)

    def _ctc(self, waves: list[np.ndarray]) -> list[str]:
        model, fe, tok = self.load()
        if not getattr(fe, "return_attention_mask", False) and len(waves) > 1:
            return [t for w in waves for t in self._ctc([w])]  # padding would change the output
        feats = fe(waves, sampling_rate=SR, return_tensors="pt", padding=True,
                   return_attention_mask=len(waves) > 1)
        values = feats["input_values"].to(self.device, model.dtype)
        mask = feats.get("attention_mask")
        logits = model(values, attention_mask=None if mask is None else mask.to(self.device)).logits
        ids = logits.argmax(-1).cpu()
        if mask is None:
            lengths = [ids.shape[1]] * len(waves)
        else:
            lengths = model._get_feat_extract_output_lengths(mask.sum(-1)).tolist()
        return [ctc_decode(tok, ids[i, :n].tolist()) for i, n in enumerate(lengths)]

    def _set_adapter(self, lang: str | None) -> None:
        model, _, tok = self.load()
        if getattr(model.config, "adapter_attn_dim", None) is None:
            return
        code = iso3(lang)
        if code is None:
            raise MetricFailure(f"{self.label}: no ISO 639-3 code known for language {lang!r} (MMS adapters)")
        if code == self._adapter:
            return
        if not os.path.isdir(self.model):
            try:
                hub_folder(self.model, self.revision, [lang or ""])
            except ModelMissing as exc:
                raise MetricUnavailable(f"{self.label}: adapter for {code}: {exc}") from exc
        if not os.path.exists(os.path.join(self._folder or self.model, f"adapter.{code}.safetensors")):
            raise MetricUnavailable(f"{self.label} has no adapter for {lang} ({code}): adapter.{code}.safetensors")
        tok.set_target_lang(code)
        model.load_adapter(code, local_files_only=True)
        self._adapter = code


LANG_TOKEN = re.compile(r"<\|[a-z]{2,3}\|>")  # Whisper's language tokens: <|hi|>, <|haw|>


def complete_generation_config(gc: Any, tok: Any) -> None:
    """Whisper fine-tunes from before transformers 4.27 (e.g. the 2022 fine-tuning event's) ship a
    generation config without language and task tokens, so ``generate(language=...)`` would refuse to
    force the language; fill them in from the tokenizer's own special tokens (never overriding a
    config that has them)."""
    if getattr(gc, "lang_to_id", None):
        return
    vocab = tok.get_vocab()
    langs = {t: i for t, i in vocab.items() if LANG_TOKEN.fullmatch(t)}
    if not langs or "<|transcribe|>" not in vocab:
        return
    gc.lang_to_id = langs
    gc.task_to_id = {"transcribe": vocab["<|transcribe|>"], **({"translate": vocab["<|translate|>"]}
                                                                 if "<|translate|>" in vocab else {})}
    gc.is_multilingual = True
    if getattr(gc, "no_timestamps_token_id", None) is None and "<|notimestamps|>" in vocab:
        gc.no_timestamps_token_id = vocab["<|notimestamps|>"]
    gc.forced_decoder_ids = None  # superseded by language/task; an old value would fight them


def ctc_decode(tok: Any, ids: list[int]) -> str:
    """Greedy CTC: merge repeats, drop blanks (the pad token), then special tokens. (The tokenizer's own
    ``skip_special_tokens`` drops blanks *before* merging, which would merge doubled letters.)"""
    blank = tok.pad_token_id
    merged = [i for k, i in enumerate(ids) if (k == 0 or i != ids[k - 1]) and i != blank]
    return tok.decode(merged, group_tokens=False, skip_special_tokens=True)


def transformers_unavailable(model: str, revision: str | None) -> str | None:
    """Why a transformers checkpoint cannot run here, or None (looks in the hub cache; downloads
    only when online, as every other hub model does)."""
    from codecbench import has_module

    if not has_module("transformers") or not has_module("torch"):
        return "the transformers ASR backend needs torch and transformers: pip install transformers"
    if os.path.isdir(model):
        return None if os.path.exists(os.path.join(model, "config.json")) else f"no config.json in {model}"
    return missing_reason(lambda: hub_folder(model, revision))
