"""Whisper ASR metrics per language: WER/CER against the manifest transcript, dWER/dCER against ASR
of the uncompressed reference, and ASR reliability per (language, ASR model).

Metrics (both ``batched``; they share one transcriber, so a reconstruction is transcribed once):

- ``asr_wer``: outputs ``wer``, ``cer`` (needs the utterance's text);
- ``asr_dwer``: outputs ``dwer``, ``dcer`` (needs only the reference audio: the "truth" is the same
  ASR model's transcript of the uncompressed reference, so ASR errors common to both cancel).

Texts go through ``codecbench.metrics.textnorm.normalize`` (script-preserving) and then jiwer.
The language is forced from the utterance's ``lang`` (Whisper detects it only when ``lang`` is unset).

Configuration (metric options win over environment variables):

- ``CODECBENCH_ASR_BACKEND`` / ``backend=``: ``faster-whisper`` (CTranslate2, default) or
  ``openai-whisper`` (PyTorch, batched decoding on GPU; optional, ``pip install openai-whisper``);
- ``CODECBENCH_WHISPER_MODEL`` / ``model=``: a Whisper size (``tiny``, ``base`` (default), ``small``,
  ``medium``, ``large-v3``, ``turbo`` ...) or a local CTranslate2 folder, e.g.
  ``CODECBENCH_WHISPER_MODEL=/models/whisper-base-ct2``;
- ``CODECBENCH_WHISPER_COMPUTE_TYPE``: CTranslate2 compute type (default ``int8`` on CPU,
  ``float16`` on GPU); ``CODECBENCH_ASR_THREADS``: CPU threads (default 1);
- ``CODECBENCH_ASR_BEAM``: beam size (default 5). Decoding is deterministic: temperature 0 only,
  no conditioning on previous text, no timestamps.

Reliability. Every transcript is checked for: letters in a script the language does not use
(``textnorm.wrong_script_share`` > 20%, e.g. Whisper base writes Hindi in Urdu/Perso-Arabic script),
repetition loops (gzip compression ratio of the text > 2.4, Whisper's own threshold) and empty
output. When the *reference* transcript of an utterance fails a check, that utterance's wer, cer,
dwer and dcer are ``Failure.unreliable("reference ASR (...) wrote Arabic script for hi, expected
Devanagari (96% of letters)")``: the ASR model cannot read this language, so its errors would look
like codec damage. A reconstruction whose transcript fails a check while the reference's passed
keeps its number (the codec broke recognition: that *is* codec damage) and is counted in the
reliability figures under the codec's name. The summary turns a (codec, language, metric) whose values are mostly such
failures into "unreliable" with the reason. Reference transcripts are computed once per utterance,
cached in memory and under ``<run>/asr_cache/``. Figures per (language, model) go to
``<run>/asr_reliability.json``; every transcript and its error counts to
``<run>/asr_transcripts.jsonl`` (read by ``corpus_error_rates`` for corpus-level WER/CER).
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import os
import threading
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from codecbench.audio import resample
from codecbench.metrics import textnorm
from codecbench.metrics.base import (
    Failure,
    Metric,
    MetricFailure,
    MetricInfo,
    MetricInput,
    Output,
    Values,
    fail_all,
    package_version,
)
from codecbench.models import ModelMissing, ModelSpec, offline

SR = 16000
DEFAULT_MODEL = "base"
DEFAULT_BACKEND = "faster-whisper"
WRONG_SCRIPT_THRESHOLD = 0.2  # share of letters outside the language's script(s)
COMPRESSION_RATIO_THRESHOLD = 2.4  # Whisper's repetition-loop threshold
WHISPER_SIZES = ("tiny", "base", "small", "medium", "large-v3", "turbo")


# ---------------------------------------------------------------- reliability of one transcript


def compression_ratio(text: str) -> float:
    """len(utf-8 text) / len(gzip(text)), as Whisper computes it (high = repetition loop)."""
    data = text.encode("utf-8")
    if not data:
        return 0.0
    return len(data) / len(gzip.compress(data))


@dataclass
class Check:
    """Reliability figures of one transcript."""

    lang: str | None
    wrong_script_share: float | None
    script: str | None  # dominant script of the output
    compression_ratio: float
    empty: bool
    flags: list[str] = field(default_factory=list)  # "wrong_script", "repetition", "empty"

    def reason(self, who: str, model: str) -> str | None:
        """Why the transcript is unreliable when a check failed, else None."""
        if "empty" in self.flags:
            return f"{who} ASR ({model}) returned no text for {self.lang}"
        if "wrong_script" in self.flags:
            want = textnorm.expected_scripts(self.lang) or ()
            return (f"{who} ASR ({model}) wrote {textnorm.script_title(self.script)} script for "
                    f"{self.lang}, expected {'/'.join(textnorm.script_title(s) for s in want)} "
                    f"({100 * (self.wrong_script_share or 0):.0f}% of letters)")
        if "repetition" in self.flags:
            return (f"{who} ASR ({model}) output is a repetition loop for {self.lang} "
                    f"(compression ratio {self.compression_ratio:.1f} > {COMPRESSION_RATIO_THRESHOLD})")
        return None


def check_transcript(text: str, lang: str | None) -> Check:
    norm = textnorm.normalize(text)
    share = textnorm.wrong_script_share(norm, lang)
    ratio = compression_ratio(text.strip())
    empty = not any(textnorm.char_script(c) for c in norm) and not any(c.isdigit() for c in norm)
    flags = []
    if empty:
        flags.append("empty")
    if share is not None and share > WRONG_SCRIPT_THRESHOLD:
        flags.append("wrong_script")
    if ratio > COMPRESSION_RATIO_THRESHOLD:
        flags.append("repetition")
    return Check(lang, share, textnorm.dominant_script(norm), ratio, empty, flags)


# ---------------------------------------------------------------- error rates


@dataclass(frozen=True)
class ErrorCounts:
    word_errors: int
    words: int
    char_errors: int
    chars: int

    @property
    def wer(self) -> float:
        return self.word_errors / self.words

    @property
    def cer(self) -> float:
        return self.char_errors / self.chars


def error_counts(reference: str, hypothesis: str) -> ErrorCounts:
    """Word and character edit counts between two *normalised* texts (reference must be non-empty)."""
    import jiwer

    if not reference.strip():
        raise MetricFailure("reference transcript is empty after normalisation")
    hyp = hypothesis if hypothesis.strip() else ""
    w = jiwer.process_words(reference, hyp)
    c = jiwer.process_characters(reference, hyp)
    words = w.hits + w.substitutions + w.deletions
    chars = c.hits + c.substitutions + c.deletions
    return ErrorCounts(w.substitutions + w.deletions + w.insertions, words,
                       c.substitutions + c.deletions + c.insertions, chars)


def corpus_wer_cer(references: Iterable[str], hypotheses: Iterable[str]) -> dict[str, float]:
    """Corpus-level WER/CER of raw texts: errors summed over all words (characters) / reference
    words (characters), after ``textnorm.normalize``. Empty references are skipped."""
    we = w = ce = c = 0
    n = 0
    for ref, hyp in zip(references, hypotheses, strict=True):
        r = textnorm.normalize(ref)
        if not r:
            continue
        e = error_counts(r, textnorm.normalize(hyp))
        we, w, ce, c, n = we + e.word_errors, w + e.words, ce + e.char_errors, c + e.chars, n + 1
    if n == 0:
        raise ValueError("no non-empty reference")
    return {"wer": we / w, "cer": ce / c, "n": n, "words": w, "chars": c}


def load_transcripts(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Records of ``<run>/asr_transcripts.jsonl``, the last per (codec, utt_id, kind) (resumed runs append)."""
    path = Path(run_dir) / "asr_transcripts.jsonl"
    if not path.exists():
        return []
    last: dict[tuple, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line after a crash
            last[(rec.get("codec"), rec.get("utt_id"), rec.get("kind"))] = rec
    return list(last.values())


def corpus_error_rates(source: str | os.PathLike | Iterable[dict[str, Any]],
                       by: tuple[str, ...] = ("codec", "lang")) -> dict[tuple, dict[str, Any]]:
    """Corpus-level WER/CER/dWER/dCER per group (default: per codec and language).

    ``source`` is a run folder (reads ``asr_transcripts.jsonl``) or records of that file. Errors
    and reference words/characters are summed over the group's utterances, then divided (so long
    utterances weigh more, unlike the mean of per-utterance WER). Utterances whose reference ASR was
    unreliable are left out of dwer/dcer *and* wer/cer, and counted in ``n_unreliable``.
    Returns ``{group: {"wer", "cer", "dwer", "dcer" (float or None), "n", "n_unreliable", "words"}}``.
    """
    records = load_transcripts(source) if isinstance(source, (str, os.PathLike)) else list(source)
    acc: dict[tuple, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    utts: dict[tuple, set] = defaultdict(set)
    unreliable: dict[tuple, set] = defaultdict(set)
    for rec in records:
        key = tuple(rec.get(k) for k in by)
        utts[key].add((rec.get("codec"), rec.get("utt_id")))
        if rec.get("reference_unreliable"):
            unreliable[key].add((rec.get("codec"), rec.get("utt_id")))
            continue
        kind = rec.get("kind", "wer")
        counts = rec.get(f"{kind}_counts")
        if counts:
            g = acc[key]
            g[f"{kind}_we"] += counts["word_errors"]
            g[f"{kind}_w"] += counts["words"]
            g[f"{kind}_ce"] += counts["char_errors"]
            g[f"{kind}_c"] += counts["chars"]
    out: dict[tuple, dict[str, Any]] = {}
    for key in utts:
        g = acc[key]
        res: dict[str, Any] = {"n": len(utts[key]), "n_unreliable": len(unreliable[key]), "words": int(g["wer_w"])}
        for kind, (w, c) in {"wer": ("wer", "cer"), "dwer": ("dwer", "dcer")}.items():
            res[w] = g[f"{kind}_we"] / g[f"{kind}_w"] if g[f"{kind}_w"] else None
            res[c] = g[f"{kind}_ce"] / g[f"{kind}_c"] if g[f"{kind}_c"] else None
        out[key] = res
    return out


# ---------------------------------------------------------------- backends


class AsrBackend(ABC):
    """Transcribes 16 kHz mono float32 waves, language forced per item."""

    backend: str = ""
    model: str = ""

    @property
    def label(self) -> str:
        """Short model name for messages and file names ('faster-whisper base')."""
        name = os.path.basename(self.model.rstrip("/")) if os.path.isdir(self.model) else self.model
        return f"{self.backend} {name}"

    @abstractmethod
    def transcribe(self, waves: list[np.ndarray], langs: list[str | None]) -> list[str]: ...


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


class FasterWhisperBackend(AsrBackend):
    """faster-whisper (CTranslate2): a size name (hub Systran/faster-whisper-*) or a local folder."""

    backend = "faster-whisper"

    def __init__(self, model: str = DEFAULT_MODEL, device: str = "cpu", compute_type: str | None = None,
                 cpu_threads: int | None = None, beam_size: int | None = None):
        self.model = model
        self.device = "cuda" if str(device).startswith("cuda") else "cpu"
        self.device_index = int(str(device).split(":")[1]) if str(device).startswith("cuda:") else 0
        self.compute_type = compute_type or os.environ.get("CODECBENCH_WHISPER_COMPUTE_TYPE") or (
            "float16" if self.device == "cuda" else "int8")
        self.cpu_threads = cpu_threads or _env_int("CODECBENCH_ASR_THREADS", 1)
        self.beam_size = beam_size or _env_int("CODECBENCH_ASR_BEAM", 5)
        self._model: Any = None

    def load(self):
        if self._model is None:
            from faster_whisper import WhisperModel

            try:
                self._model = WhisperModel(self.model, device=self.device, device_index=self.device_index,
                                           compute_type=self.compute_type, cpu_threads=self.cpu_threads,
                                           local_files_only=offline() and not os.path.isdir(self.model))
            except Exception as exc:
                if os.path.isdir(self.model):
                    raise
                raise ModelMissing(
                    f"Whisper model '{self.model}' for faster-whisper is not available ({type(exc).__name__}); "
                    "run `codecbench models download whisper-" + self.model + "` where the hub is reachable, "
                    "or set CODECBENCH_WHISPER_MODEL to a local CTranslate2 folder") from exc
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

    def __init__(self, model: str = DEFAULT_MODEL, device: str = "cpu", beam_size: int | None = None,
                 batch_size: int = 16):
        self.model = model
        self.device = device
        self.beam_size = beam_size or _env_int("CODECBENCH_ASR_BEAM", 5)
        self.batch_size = batch_size
        self._model: Any = None

    def load(self):
        if self._model is None:
            try:
                import whisper
            except ImportError as exc:
                raise MetricFailure("openai-whisper is not installed: pip install openai-whisper") from exc
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


BACKENDS = {"faster-whisper": FasterWhisperBackend, "openai-whisper": OpenAIWhisperBackend}


def _backend_unavailable(backend: str, model: str) -> str | None:
    if backend not in BACKENDS:
        return f"unknown ASR backend {backend!r} (known: {', '.join(BACKENDS)})"
    if importlib.util.find_spec("jiwer") is None:
        return "jiwer is not installed: pip install jiwer"
    if backend == "openai-whisper":
        if importlib.util.find_spec("whisper") is None:
            return "openai-whisper is not installed: pip install openai-whisper"
        return None
    if importlib.util.find_spec("faster_whisper") is None:
        return "faster-whisper is not installed: pip install faster-whisper"
    if os.path.isdir(model):
        return None if os.path.exists(os.path.join(model, "model.bin")) else f"no model.bin in {model}"
    from faster_whisper.utils import _MODELS

    repo = _MODELS.get(model, model if "/" in model else None)
    if repo is None:
        return f"unknown Whisper size {model!r} (known: {', '.join(_MODELS)}) and not a folder"
    try:
        from huggingface_hub import snapshot_download

        snapshot_download(repo, local_files_only=offline(),
                          allow_patterns=["config.json", "preprocessor_config.json", "model.bin",
                                          "tokenizer.json", "vocabulary.*"])
    except Exception as exc:
        return (f"Whisper model '{model}' ({repo}) is not cached and cannot be downloaded ({type(exc).__name__}): "
                f"run `codecbench models download whisper-{model}` or set CODECBENCH_WHISPER_MODEL to a local folder")
    return None


# ---------------------------------------------------------------- the shared transcriber


def _digest(wave: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(wave, dtype=np.float32).tobytes()).hexdigest()[:16]


class Transcriber:
    """One backend plus caches: reference transcripts (memory + ``<run>/asr_cache``), recent
    reconstruction transcripts (so asr_wer and asr_dwer share them), reliability tallies."""

    def __init__(self, backend: str, model: str):
        self.backend_name = backend
        self.model = model
        self.device = "cpu"
        self.workdir: Path | None = None
        self._backend: AsrBackend | None = None
        self._ref: dict[str, str] = {}
        self._deg: dict[str, str] = {}
        self._lock = threading.Lock()
        # (lang) -> kind ("reference" | codec name) -> tallies
        self._tally: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(float)))
        self._written: set[tuple[str | None, str]] = set()

    @property
    def backend(self) -> AsrBackend:
        if self._backend is None:
            cls = BACKENDS[self.backend_name]
            self._backend = cls(self.model, device=self.device)
        return self._backend

    @property
    def label(self) -> str:
        return self.backend.label

    def setup(self, device: str, workdir: str | None) -> None:
        if device != self.device:
            self.device = device
            self._backend = None
        if workdir:
            self.workdir = Path(workdir)

    def _cache_file(self, key: str, lang: str | None) -> Path | None:
        if self.workdir is None:
            return None
        from codecbench.store import safe_name

        return self.workdir / "asr_cache" / safe_name(self.label) / safe_name(lang or "unknown") / f"{key}.json"

    def reference_texts(self, xs: list[MetricInput]) -> list[str]:
        keys = [f"{_safe(x.utterance.id)}-{_digest(x.ref)}" for x in xs]
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
            texts = self.backend.transcribe([_to16k(xs[i].ref, xs[i].sample_rate) for i in todo],
                                            [xs[i].utterance.lang for i in todo])
            for i, text in zip(todo, texts, strict=True):
                x, key = xs[i], keys[i]
                self._ref[key] = text
                self._record("reference", x.utterance.lang, check_transcript(text, x.utterance.lang), x.utterance.id)
                f = self._cache_file(key, x.utterance.lang)
                if f is not None:
                    from codecbench.store import atomic_write_json

                    atomic_write_json(f, {"utt_id": x.utterance.id, "lang": x.utterance.lang, "model": self.label,
                                          "text": text})
        return [self._ref[k] for k in keys]

    def reconstruction_texts(self, xs: list[MetricInput]) -> list[str]:
        keys = [_digest(x.deg) + (x.utterance.lang or "") for x in xs]
        for x, k in zip(xs, keys, strict=True):  # an identity "codec": reuse the reference transcript
            ref_key = f"{_safe(x.utterance.id)}-{_digest(x.ref)}"
            if k not in self._deg and ref_key in self._ref and k.startswith(ref_key.rsplit("-", 1)[1]):
                self._deg[k] = self._ref[ref_key]
        todo = [i for i, k in enumerate(keys) if k not in self._deg]
        if todo:
            texts = self.backend.transcribe([_to16k(xs[i].deg, xs[i].sample_rate) for i in todo],
                                            [xs[i].utterance.lang for i in todo])
            if len(self._deg) > 4096:
                self._deg.clear()
            for i, text in zip(todo, texts, strict=True):
                self._deg[keys[i]] = text
                x = xs[i]
                self._record(x.codec.name if x.codec else "reconstruction", x.utterance.lang,
                             check_transcript(text, x.utterance.lang), x.utterance.id)
        return [self._deg[k] for k in keys]

    def _record(self, kind: str, lang: str | None, chk: Check, utt_id: str) -> None:
        key = (kind, utt_id)
        if key in self._written:
            return
        self._written.add(key)
        t = self._tally[lang or "unknown"][kind]
        t["n"] += 1
        t["wrong_script"] += "wrong_script" in chk.flags
        t["repetition"] += "repetition" in chk.flags
        t["empty"] += "empty" in chk.flags
        t["wrong_script_letters"] += chk.wrong_script_share or 0.0
        t["unreliable"] += bool(chk.flags)

    def reliability(self) -> dict[str, Any]:
        """Figures per language (and per transcript kind: 'reference' or a codec name)."""
        langs: dict[str, Any] = {}
        for lang, kinds in self._tally.items():
            langs[lang] = {}
            for kind, t in kinds.items():
                n = t["n"] or 1
                langs[lang][kind] = {
                    "n": int(t["n"]),
                    "wrong_script_rate": t["wrong_script"] / n,
                    "mean_wrong_script_letter_share": t["wrong_script_letters"] / n,
                    "repetition_rate": t["repetition"] / n,
                    "empty_rate": t["empty"] / n,
                    "unreliable_rate": t["unreliable"] / n,
                    "expected_scripts": list(textnorm.expected_scripts(lang) or []),
                }
        return {"model": self.label, "thresholds": {"wrong_script_share": WRONG_SCRIPT_THRESHOLD,
                                                    "compression_ratio": COMPRESSION_RATIO_THRESHOLD},
                "languages": langs}

    def flush(self, records: list[dict[str, Any]]) -> None:
        """Write the reliability figures and append transcript records (no-op without a run folder)."""
        if self.workdir is None:
            return
        from codecbench.store import atomic_write_json

        with self._lock:
            path = self.workdir / "asr_reliability.json"
            try:
                data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
            except ValueError:
                data = {}
            data[self.label] = self.reliability()
            atomic_write_json(path, data)
            if records:
                with open(self.workdir / "asr_transcripts.jsonl", "a", encoding="utf-8") as f:
                    for rec in records:
                        f.write(json.dumps(rec, ensure_ascii=False) + "\n")


def _safe(s: str) -> str:
    from codecbench.store import safe_name

    return safe_name(s)


def _to16k(wave: np.ndarray, sr: int) -> np.ndarray:
    return resample(np.asarray(wave, dtype=np.float32), sr, SR)


_TRANSCRIBERS: dict[tuple[str, str], Transcriber] = {}


def transcriber(backend: str, model: str) -> Transcriber:
    key = (backend, model)
    if key not in _TRANSCRIBERS:
        _TRANSCRIBERS[key] = Transcriber(backend, model)
    return _TRANSCRIBERS[key]


# ---------------------------------------------------------------- metrics


class AsrMetric(Metric):
    """``kind='wer'`` (wer, cer vs the manifest text) or ``kind='dwer'`` (dwer, dcer vs reference ASR)."""

    def __init__(self, kind: str = "wer", model: str | None = None, backend: str | None = None):
        if kind not in ("wer", "dwer"):
            raise ValueError(kind)
        self.kind = kind
        self.name = f"asr_{kind}"
        self._model = model
        self._backend = backend
        self._reason: str | None | bool = False  # False: not checked yet

    @property
    def model(self) -> str:
        return self._model or os.environ.get("CODECBENCH_WHISPER_MODEL") or DEFAULT_MODEL

    @property
    def backend(self) -> str:
        return self._backend or os.environ.get("CODECBENCH_ASR_BACKEND") or DEFAULT_BACKEND

    def _transcriber(self) -> Transcriber:
        return transcriber(self.backend, self.model)

    def info(self) -> MetricInfo:
        w, c = ("wer", "cer") if self.kind == "wer" else ("dwer", "dcer")
        truth = "the manifest transcript" if self.kind == "wer" else "ASR of the uncompressed reference"
        lib = "openai-whisper" if self.backend == "openai-whisper" else "faster-whisper"
        model = os.path.basename(self.model.rstrip("/")) if os.path.isdir(self.model) else f"whisper-{self.model}"
        return MetricInfo(
            name=self.name,
            outputs=(Output(w, False, "ratio", f"word error rate of Whisper on the reconstruction vs {truth}"),
                     Output(c, False, "ratio", f"character error rate vs {truth}")),
            description=(f"Whisper ({self.backend}) {w.upper()}/{c.upper()} vs {truth}; script-preserving "
                         "normalisation; language forced; unreliable when reference ASR fails its checks"),
            needs_reference=True,
            needs_text=self.kind == "wer",
            device="gpu",
            sample_rate=SR,
            library=lib,
            version=package_version(lib) + f" (jiwer {package_version('jiwer')})",
            model=model,
            mode="transcribe, temperature 0, beam " + str(_env_int("CODECBENCH_ASR_BEAM", 5)),
            batched=True,
            default=True,
        )

    def unavailable_reason(self) -> str | None:
        if self._reason is False:
            self._reason = _backend_unavailable(self.backend, self.model)
        return self._reason  # type: ignore[return-value]

    def setup(self, device: str = "cpu", workdir: str | None = None) -> None:
        self._transcriber().setup(device, workdir)

    def compute(self, x: MetricInput) -> Values:
        res = self.compute_batch([x])[0]
        for v in res.values():
            if isinstance(v, Failure):
                raise MetricFailure(v.reason, v.kind)
        return res

    def compute_batch(self, xs: list[MetricInput]) -> list[Values]:
        if not xs:
            return []
        reason = self.unavailable_reason()
        if reason:
            return [fail_all(self, Failure.unavailable(reason)) for _ in xs]
        tr = self._transcriber()
        try:
            refs = tr.reference_texts(xs)
            hyps = tr.reconstruction_texts(xs)
        except ModelMissing as exc:
            return [fail_all(self, Failure.unavailable(str(exc))) for _ in xs]
        except MetricFailure as exc:
            return [fail_all(self, exc.failure()) for _ in xs]
        out: list[Values] = []
        records = []
        w, c = ("wer", "cer") if self.kind == "wer" else ("dwer", "dcer")
        for x, ref_asr, hyp in zip(xs, refs, hyps, strict=True):
            lang = x.utterance.lang
            ref_check = check_transcript(ref_asr, lang)
            unreliable = ref_check.reason("reference", tr.label)
            rec: dict[str, Any] = {
                "codec": x.codec.name if x.codec else None, "utt_id": x.utterance.id, "lang": lang,
                "model": tr.label, "kind": self.kind, "text": x.utterance.text, "reference_asr": ref_asr,
                "hypothesis": hyp, "reference_check": asdict(ref_check),
                "hypothesis_check": asdict(check_transcript(hyp, lang)),
                "reference_unreliable": unreliable,
            }
            if unreliable:
                out.append({w: Failure.unreliable(unreliable), c: Failure.unreliable(unreliable)})
                records.append(rec)
                continue
            truth = x.utterance.text if self.kind == "wer" else ref_asr
            if self.kind == "wer" and not (truth or "").strip():
                out.append(fail_all(self, Failure.not_applicable("no transcript for this utterance (the manifest has no text)")))
                continue
            try:
                counts = error_counts(textnorm.normalize(truth), textnorm.normalize(hyp))
            except MetricFailure as exc:
                out.append(fail_all(self, exc.failure()))
                continue
            rec[f"{self.kind}_counts"] = asdict(counts)
            records.append(rec)
            out.append({w: counts.wer, c: counts.cer})
        tr.flush(records)
        return out


def metrics() -> list[Metric]:
    return [AsrMetric("wer"), AsrMetric("dwer")]


# ---------------------------------------------------------------- models


def _openai_fetch(size: str):
    def fetch(cache_dir: Path | None) -> Path:
        try:
            import whisper
        except ImportError as exc:
            raise ModelMissing(f"openai-whisper-{size}: needs openai-whisper (pip install openai-whisper)") from exc
        root = Path(cache_dir or os.path.join(os.path.expanduser("~"), ".cache", "whisper"))
        whisper._download(whisper._MODELS[size], str(root), in_memory=False)
        return root

    return fetch


def models() -> list[ModelSpec]:
    specs = []
    for size in WHISPER_SIZES:
        repo = {"turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo"}.get(size, f"Systran/faster-whisper-{size}")
        specs.append(ModelSpec(
            f"whisper-{size}", f"Whisper {size}, CTranslate2 conversion for faster-whisper (revision: hub main; "
            "no pinned commit known)", ("asr_wer", "asr_dwer"), hub_id=repo,
            allow_patterns=("config.json", "preprocessor_config.json", "model.bin", "tokenizer.json", "vocabulary.*")))
        specs.append(ModelSpec(
            f"openai-whisper-{size}", f"Whisper {size}, PyTorch checkpoint for openai-whisper (checksummed URL)",
            ("asr_wer", "asr_dwer"), fetch=_openai_fetch(size if size != "turbo" else "turbo")))
    return specs
