"""One ASR backend plus caches: reference transcripts (memory and ``<run>/asr_cache``) and recent
reconstruction transcripts. One instance per metric instance, hence per run: no module-level state.

The on-disk cache key is (backend label, decoding options, utterance id, digest of the audio), so a
cached transcript is reused only for the same model, the same options and the same samples.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from codecbench.audio import resample
from codecbench.metrics.asr.backends import AsrBackend
from codecbench.metrics.base import MetricInput

SR = 16000
CACHE = "asr_cache"  # the run folder's cache of reference transcripts
MAX_RECENT = 4096  # reconstruction transcripts kept in memory


def audio_digest(wave: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(wave, dtype=np.float32).tobytes()).hexdigest()[:16]


def to16k(wave: np.ndarray, sr: int) -> np.ndarray:
    return resample(np.asarray(wave, dtype=np.float32), sr, SR)


class Transcriber:
    def __init__(self, backend: AsrBackend, options_key: str, workdir: str | Path | None = None):
        self.backend = backend
        self.options_key = options_key  # digest of the options that change a transcript
        self.workdir = Path(workdir) if workdir else None
        self._ref: dict[str, str] = {}
        self._deg: dict[str, str] = {}

    @property
    def label(self) -> str:
        return self.backend.label

    def _cache_key(self, key: str, lang: str | None) -> tuple[str, str, str]:
        from codecbench.store import safe_name

        return f"{safe_name(self.label)}-{self.options_key}", safe_name(lang or "unknown"), key

    def reference_texts(self, xs: list[MetricInput]) -> list[str]:
        """ASR of each item's uncompressed reference (computed once per utterance and options)."""
        from codecbench.store import RunFolder, safe_name

        cache = RunFolder(self.workdir).cache(CACHE) if self.workdir is not None else None
        keys = [f"{safe_name(x.utterance.id)}-{audio_digest(x.ref)}" for x in xs]
        todo = []
        for i, (x, key) in enumerate(zip(xs, keys, strict=True)):
            if key in self._ref:
                continue
            hit = cache.get(*self._cache_key(key, x.utterance.lang)) if cache is not None else None
            if isinstance(hit, dict) and isinstance(hit.get("text"), str):
                self._ref[key] = hit["text"]
                continue
            todo.append(i)
        if todo:
            texts = self.backend.transcribe([to16k(xs[i].ref, xs[i].sample_rate) for i in todo],
                                            [xs[i].utterance.lang for i in todo])
            for i, text in zip(todo, texts, strict=True):
                x, key = xs[i], keys[i]
                self._ref[key] = text
                if cache is not None:
                    cache.put(*self._cache_key(key, x.utterance.lang),
                              value={"utt_id": x.utterance.id, "lang": x.utterance.lang, "model": self.label, "text": text})
        return [self._ref[k] for k in keys]

    def reconstruction_texts(self, xs: list[MetricInput]) -> list[str]:
        """ASR of each reconstruction; a reconstruction identical to its reference reuses that transcript."""
        keys = [audio_digest(x.deg) + (x.utterance.lang or "") for x in xs]
        for x, k in zip(xs, keys, strict=True):
            if audio_digest(x.ref) == audio_digest(x.deg):
                (self._deg[k],) = self.reference_texts([x])
        todo = [i for i, k in enumerate(keys) if k not in self._deg]
        if todo:
            texts = self.backend.transcribe([to16k(xs[i].deg, xs[i].sample_rate) for i in todo],
                                            [xs[i].utterance.lang for i in todo])
            if len(self._deg) > MAX_RECENT:
                self._deg.clear()
            for i, text in zip(todo, texts, strict=True):
                self._deg[keys[i]] = text
        return [self._deg[k] for k in keys]
