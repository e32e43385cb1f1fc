"""Which ASR model reads which language: the ``wer`` metric's ``model``/``per_lang`` options as data.

``model`` (with ``backend`` and ``revision``) serves every language without a ``per_lang`` entry;
``model: none`` serves none (those utterances are not applicable). A ``per_lang`` entry is a hub id, a
Whisper size or a local folder, or a mapping ``{model, revision, backend}``. The backend is inferred
from the model when not given (``auto``), without any network access:

- a local folder: ``config.json`` without ``model.bin`` -> transformers, else faster-whisper
  (CTranslate2; a folder without ``model.bin`` is then reported unavailable); a ``.pt`` file ->
  openai-whisper;
- a Whisper size (``base``, ``large-v3``, ...) -> faster-whisper (or the metric's ``backend`` when
  that is openai-whisper);
- a hub id naming a CTranslate2 conversion (``faster-whisper``/``ct2`` in its name) -> faster-whisper,
  any other hub id -> transformers.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

from codecbench.errors import ConfigError

WHISPER_SIZES = ("tiny", "tiny.en", "base", "base.en", "small", "small.en", "medium", "medium.en", "large-v1",
                 "large-v2", "large-v3", "large", "distil-large-v3", "large-v3-turbo", "turbo")
BACKENDS = ("faster-whisper", "openai-whisper", "transformers")  # ASR implementations (asr/factory.py)
WHISPER_BACKENDS = ("faster-whisper", "openai-whisper")
NONE = ("none", "")
DEFAULT = "*"  # the key of the default model in a route map


@dataclass(frozen=True)
class AsrModel:
    """One configured ASR model: what to load and how."""

    model: str  # Whisper size, hub id or local folder
    backend: str  # faster-whisper, openai-whisper or transformers
    revision: str | None = None  # hub revision ("main" when unpinned); None: a local folder or openai-whisper

    @property
    def local(self) -> bool:
        return os.path.exists(self.model)

    @property
    def missing_folder(self) -> bool:
        """Written as a local path (``/x``, ``./x``, ``~/x``, ``a/b/c``) that does not exist: reported as a
        missing folder, never looked up as a hub id."""
        return looks_local(self.model) and not self.local

    @property
    def label(self) -> str:
        """Short name in reasons, transcript records and reliability figures ('transformers whisper-hi')."""
        name = os.path.basename(self.model.rstrip("/")) if self.local else self.model
        at = f"@{self.revision[:12]}" if self.revision and self.revision != "main" else ""
        return f"{self.backend} {name}{at}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def looks_local(model: str) -> bool:
    """A local path rather than a hub id (``owner/name``) or a Whisper size."""
    return model.startswith(("/", "./", "../", "~")) or "\\" in model or model.count("/") > 1


def infer_backend(model: str, backend: str = "auto") -> str:
    """The backend of ``model`` (see the module docstring); ``backend`` wins unless it is 'auto'."""
    if backend != "auto":
        return backend
    if os.path.isfile(model) and model.endswith(".pt"):
        return "openai-whisper"
    if os.path.isdir(model):
        if os.path.exists(os.path.join(model, "model.bin")):
            return "faster-whisper"
        if os.path.exists(os.path.join(model, "config.json")):
            return "transformers"
        return "faster-whisper"  # reported unavailable: no model.bin
    if model in WHISPER_SIZES:
        return "faster-whisper"
    if looks_local(model):  # a folder that is not there: reported unavailable as such (factory.py)
        return "transformers" if backend == "auto" else backend
    low = model.lower()
    if "/" in model and any(k in low for k in ("faster-whisper", "ct2", "ctranslate2")):
        return "faster-whisper"
    if "/" in model:
        return "transformers"
    raise ConfigError(f"ASR model {model!r} is not a Whisper size ({', '.join(WHISPER_SIZES)}), a hub id "
                      "(owner/name) or an existing folder")


def _entry(lang: str, value: Any, default_backend: str) -> AsrModel:
    if isinstance(value, str):
        value = {"model": value}
    if not isinstance(value, dict) or not isinstance(value.get("model"), str) or \
            not set(value) <= {"model", "revision", "backend"}:
        raise ConfigError(f"wer.per_lang.{lang}: expected a model (hub id, Whisper size or folder) or "
                          f"{{model, revision, backend}}, not {value!r}")
    model = value["model"].strip()
    backend = str(value.get("backend") or "auto")
    if backend == "auto" and model in WHISPER_SIZES and default_backend in WHISPER_BACKENDS:
        backend = default_backend
    return make_model(model, backend, value.get("revision"))


def make_model(model: str, backend: str, revision: Any) -> AsrModel:
    backend = infer_backend(model, backend)
    if backend not in BACKENDS:
        raise ConfigError(f"unknown ASR backend {backend!r} for {model} (known: auto, {', '.join(BACKENDS)})")
    hub = not os.path.exists(model) and not looks_local(model) and backend != "openai-whisper"  # openai-whisper:
    # checksummed URLs
    rev = (str(revision).strip() or None) if revision is not None else None
    return AsrModel(model, backend, (rev or "main") if hub else None)


def routes(opts: dict[str, Any]) -> dict[str, AsrModel]:
    """``{lang: AsrModel}`` from resolved options, the default model under ``DEFAULT`` (absent when
    ``model`` is 'none'). Config mistakes raise ``ConfigError`` (one line, before any work)."""
    default_backend = str(opts.get("backend") or "auto")
    out: dict[str, AsrModel] = {}
    model = str(opts.get("model") or "").strip()
    if model.lower() not in NONE:
        out[DEFAULT] = make_model(model, default_backend, opts.get("revision"))
    for lang, value in (opts.get("per_lang") or {}).items():
        if not isinstance(lang, str) or not lang:
            raise ConfigError(f"wer.per_lang: language key {lang!r} is not a language code (in YAML, quote "
                              "codes such as 'no' or 'on' that read as booleans)")
        out[lang] = _entry(lang, value, default_backend)
    return out


def model_for(table: dict[str, AsrModel], lang: str | None) -> AsrModel | None:
    """The model for ``lang``: its own entry (``hi`` also serves ``hi-IN``), else the default."""
    if lang is not None:
        for key in (lang, lang.lower(), lang.lower().replace("_", "-").split("-")[0]):
            if key in table:
                return table[key]
    return table.get(DEFAULT)


# ISO 639-1 -> ISO 639-3, for models with per-language adapters or vocabularies (MMS uses 639-3
# codes; a manifest may also give a 3-letter code directly).
ISO3 = {
    "en": "eng", "hi": "hin", "ta": "tam", "te": "tel", "kn": "kan", "ml": "mal", "bn": "ben", "mr": "mar",
    "gu": "guj", "pa": "pan", "or": "ory", "as": "asm", "ur": "urd", "ne": "npi", "sa": "san", "si": "sin",
    "fr": "fra", "de": "deu", "es": "spa", "it": "ita", "pt": "por", "nl": "nld", "pl": "pol", "ru": "rus",
    "uk": "ukr", "tr": "tur", "vi": "vie", "ja": "jpn", "ko": "kor", "id": "ind", "th": "tha",
}


def iso3(lang: str | None) -> str | None:
    if not lang:
        return None
    base = lang.lower().replace("_", "-").split("-")[0]
    return ISO3.get(base, base if len(base) == 3 else None)
