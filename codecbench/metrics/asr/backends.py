"""ASR backends: transcribe 16 kHz mono float32 waves with the language forced per item.

Every setting arrives as an argument (resolved once by ``codecbench.pipeline.resolve``); nothing here reads the
environment. Decoding is deterministic: temperature 0 only, no conditioning on previous text, no
timestamps.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections import defaultdict
from typing import Any

import numpy as np

from codecbench.metrics.asr.routing import BACKENDS, AsrModel  # noqa: F401 (BACKENDS: its former home)
from codecbench.metrics.base import MetricUnavailable
from codecbench.models import ModelMissing, offline


class AsrBackend(ABC):
    """Transcribes 16 kHz mono float32 waves, language forced per item."""

    backend: str = ""
    model: str = ""
    revision: str | None = None

    @property
    def label(self) -> str:
        """Short model name for messages, file names and records ('faster-whisper base')."""
        return AsrModel(self.model, self.backend, self.revision).label

    @property
    def commit(self) -> str | None:
        """The hub commit the loaded weights came from, when known (an unpinned ``main`` resolves here)."""
        return None

    def forces_language(self, lang: str | None) -> bool:
        """Whether decoding is told the language (Whisper backends always force it)."""
        return lang is not None

    @abstractmethod
    def transcribe(self, waves: list[np.ndarray], langs: list[str | None]) -> list[str]: ...


class FasterWhisperBackend(AsrBackend):
    """faster-whisper (CTranslate2): a size name (hub Systran/faster-whisper-*) or a local folder."""

    backend = "faster-whisper"

    def __init__(self, model: str, device: str = "cpu", compute_type: str = "int8", cpu_threads: int = 1,
                 beam_size: int = 5, revision: str | None = None):
        self.model = model
        self.revision = revision
        self.device = "cuda" if str(device).startswith("cuda") else "cpu"
        self.device_index = int(str(device).split(":")[1]) if str(device).startswith("cuda:") else 0
        self.compute_type = compute_type
        self.cpu_threads = cpu_threads
        self.beam_size = beam_size
        self._model: Any = None

    def load(self):
        if self._model is None:
            from faster_whisper import WhisperModel

            try:
                self._model = WhisperModel(self.model, device=self.device, device_index=self.device_index,
                                           compute_type=self.compute_type, cpu_threads=self.cpu_threads,
                                           revision=self.revision, local_files_only=offline() and not os.path.isdir(self.model))
            except Exception as exc:
                if os.path.isdir(self.model):
                    raise
                raise ModelMissing(
                    f"Whisper model '{self.model}' for faster-whisper is not available ({type(exc).__name__}); "
                    "run `codecbench models download whisper-" + self.model + "` (or `--config CONFIG`) where the "
                    "hub is reachable, or give the metric option model=<local CTranslate2 folder>") from exc
        return self._model

    def transcribe(self, waves: list[np.ndarray], langs: list[str | None]) -> list[str]:
        model = self.load()
        out = []
        for wave, lang in zip(waves, langs, strict=True):
            segments, _ = model.transcribe(
                np.asarray(wave, dtype=np.float32), language=lang, task="transcribe", beam_size=self.beam_size,
                temperature=0.0, condition_on_previous_text=False, without_timestamps=True, vad_filter=False)
            out.append(" ".join(s.text.strip() for s in segments).strip())
        return out


class OpenAIWhisperBackend(AsrBackend):
    """openai-whisper (PyTorch): clips up to 30 s are decoded in batches per language (GPU-friendly);
    longer clips go through ``model.transcribe``. Optional: ``pip install openai-whisper``."""

    backend = "openai-whisper"

    def __init__(self, model: str, device: str = "cpu", beam_size: int = 5, batch_size: int = 16):
        self.model = model
        self.device = device
        self.beam_size = beam_size
        self.batch_size = batch_size
        self._model: Any = None

    def load(self):
        if self._model is None:
            try:
                import whisper
            except ImportError as exc:
                raise MetricUnavailable("openai-whisper is not installed: pip install openai-whisper") from exc
            self._model = whisper.load_model(self.model, device=self.device)
        return self._model

    def transcribe(self, waves: list[np.ndarray], langs: list[str | None]) -> list[str]:
        import torch
        import whisper

        model = self.load()
        fp16 = str(self.device).startswith("cuda")
        out: list[str | None] = [None] * len(waves)
        short: dict[str | None, list[int]] = defaultdict(list)
        for i, w in enumerate(waves):
            if len(w) <= whisper.audio.N_SAMPLES:
                short[langs[i]].append(i)
            else:
                res = model.transcribe(np.asarray(w, np.float32), language=langs[i], temperature=0.0,
                                       beam_size=self.beam_size, condition_on_previous_text=False, fp16=fp16)
                out[i] = res["text"].strip()
        for lang, idx in short.items():
            opts = whisper.DecodingOptions(language=lang, task="transcribe", temperature=0.0,
                                           beam_size=self.beam_size, without_timestamps=True, fp16=fp16)
            for k in range(0, len(idx), self.batch_size):
                part = idx[k:k + self.batch_size]
                mel = torch.stack([
                    whisper.log_mel_spectrogram(whisper.pad_or_trim(torch.from_numpy(np.asarray(waves[i], np.float32))),
                                                model.dims.n_mels) for i in part]).to(model.device)
                with torch.no_grad():
                    results = whisper.decode(model, mel, opts)
                for i, r in zip(part, results, strict=True):
                    out[i] = r.text.strip()
        return [t or "" for t in out]


FASTER_WHISPER_FILES = ("config.json", "preprocessor_config.json", "model.bin", "tokenizer.json", "vocabulary.*")
