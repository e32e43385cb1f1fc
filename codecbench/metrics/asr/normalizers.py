"""Text normalisers for WER/CER, chosen by the ``wer`` metric's ``normalizer`` option (part of the
run's identity):

- ``script`` (default): ``textnorm.normalize``, script-preserving (NFC, punctuation to spaces,
  casefold; Indic vowel signs, viramas and nuktas kept). Right for every language, Indic ones included.
- ``whisper-english``: Whisper's ``EnglishTextNormalizer`` (transformers' copy of OpenAI's: spells
  out numbers and currencies, expands contractions and titles, drops fillers such as "uh", maps
  British to American spellings) for English utterances (lang ``en`` or ``en-*``); every other
  language keeps ``script``. This is what codec papers evaluating on LibriSpeech use (Whisper's
  LibriSpeech notebook; X-codec2's WER, its repository's issue 29). Its British-to-American spelling
  list is the ``normalizer.json`` that ships with Whisper's tokenizer, read from ``normalizer_source``
  (default ``openai/whisper-large-v3`` on the hub, or a local file or folder): without it the
  normaliser would silently differ, so the metric is unavailable instead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from codecbench.metrics import textnorm
from codecbench.metrics.language import base_language
from codecbench.models import ModelMissing, hub_snapshot

NORMALIZERS = ("script", "whisper-english")
SPELLING_SOURCE = "openai/whisper-large-v3"
SPELLING_FILE = "normalizer.json"


def split_source(source: str) -> tuple[str, str | None]:
    """'owner/name@rev' -> ('owner/name', 'rev'); a path or a bare id has no revision."""
    if "@" in source and not os.path.exists(source):
        repo, _, rev = source.rpartition("@")
        return repo, rev or None
    return source, None


def spelling_file(source: str, cache_dir: Path | None = None) -> Path:
    """The local ``normalizer.json`` of ``source`` (file, folder, or hub id[@revision])."""
    path = Path(source).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        if (path / SPELLING_FILE).is_file():
            return path / SPELLING_FILE
        raise ModelMissing(f"{path} has no {SPELLING_FILE} (Whisper's English spelling list)")
    repo, rev = split_source(source)
    try:
        folder = Path(hub_snapshot(repo, rev, (SPELLING_FILE,), cache_dir))
    except ModelMissing as exc:
        raise ModelMissing(f"Whisper's English spelling list ({SPELLING_FILE} of {source}) is not available: {exc}; "
                           "or give normalizer_source=<normalizer.json or a Whisper tokenizer folder>") from exc
    if not (folder / SPELLING_FILE).is_file():
        raise ModelMissing(f"{source} has no {SPELLING_FILE}")
    return folder / SPELLING_FILE


def make_normalizer(name: str, source: str = SPELLING_SOURCE) -> Callable[[str | None, str | None], str]:
    """``normalize(text, lang) -> str`` for ``name`` (ModelMissing when its data is not here)."""
    if name == "script":
        return lambda text, lang: textnorm.normalize(text)
    if name != "whisper-english":
        raise ValueError(f"unknown normalizer {name!r} (known: {', '.join(NORMALIZERS)})")
    try:
        from transformers.models.whisper.english_normalizer import EnglishTextNormalizer
    except ImportError as exc:
        raise ModelMissing("the whisper-english normalizer needs transformers: pip install transformers") from exc
    mapping = json.loads(spelling_file(source).read_text(encoding="utf-8"))
    english = EnglishTextNormalizer(mapping)

    def normalize(text: str | None, lang: str | None) -> str:
        if base_language(lang) == "en":
            return " ".join(english(text or "").split())
        return textnorm.normalize(text)

    return normalize
