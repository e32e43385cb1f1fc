"""One ASR backend plus caches: reference transcripts (memory and ``<run>/asr_cache``) and recent
reconstruction transcripts. One instance per metric instance, hence per run: no module-level state.

The on-disk cache key is (backend label, decoding options, utterance id, digest of the audio), so a
cached transcript is reused only for the same model, the same options and the same samples.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from codecbench.audio import resample
from codecbench.metrics.asr.backends import AsrBackend
from codecbench.metrics.base import MetricInput

SR = 16000
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

    def _cache_file(self, key: str, lang: str | None) -> Path | None:
        if self.workdir is None:
            return None
        from codecbench.store import safe_name

        folder = f"{safe_name(self.label)}-{self.options_key}"
        return self.workdir / "asr_cache" / folder / safe_name(lang or "unknown") / f"{key}.json"

    def reference_texts(self, xs: list[MetricInput]) -> list[str]:
        """ASR of each item's uncompressed reference (computed once per utterance and options)."""
        from codecbench.store import atomic_write_json, safe_name

        keys = [f"{safe_name(x.utterance.id)}-{audio_digest(x.ref)}" for x in xs]
        todo = []
        for i, (x, key) in enumerate(zip(xs, keys, strict=True)):
            if key in self._ref:
                continue
            f = self._cache_file(key, x.utterance.lang)
            if f is not None and f.exists():
                try:
                    self._ref[key] = json.loads(f.read_text(encoding="utf-8"))["text"]
                    continue
                except (OSError, ValueError, KeyError):
                    pass
            todo.append(i)
        if todo:
            texts = self.backend.transcribe([to16k(xs[i].ref, xs[i].sample_rate) for i in todo],
                                            [xs[i].utterance.lang for i in todo])
            for i, text in zip(todo, texts, strict=True):
                x, key = xs[i], keys[i]
                self._ref[key] = text
                f = self._cache_file(key, x.utterance.lang)
                if f is not None:
                    atomic_write_json(f, {"utt_id": x.utterance.id, "lang": x.utterance.lang, "model": self.label,
                                          "text": text})
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
