"""ASR models for ``codecbench models``: the Whisper sizes by name (``models()``), and the models a run
config names, per language (``fetch``, used by ``codecbench models download --config``)."""

from __future__ import annotations

import os
from pathlib import Path

from codecbench.metrics.asr.routing import AsrModel
from codecbench.models import ModelMissing, ModelSpec, hub_snapshot

WHISPER_SIZES = ("tiny", "base", "small", "medium", "large-v3", "turbo")
# The ASR models codec papers report WER with, as transformers checkpoints (``wer`` option
# ``model: <hub id>``, backend transformers): HuBERT-large CTC fine-tuned on LibriSpeech 960 h (greedy
# CTC), and Whisper-large-v3 (beam search; English text normalised with ``normalizer: whisper-english``).
PAPER_ASR = {
    "hubert-large-ls960-ft": ("facebook/hubert-large-ls960-ft", "HuBERT-large CTC fine-tuned on LibriSpeech 960 h "
                              "(transformers; the WER model of X-codec2, VALL-E and most codec papers)"),
    "whisper-large-v3-hf": ("openai/whisper-large-v3", "Whisper large-v3, transformers checkpoint (with its "
                            "normalizer.json, the English spelling list of normalizer: whisper-english)"),
}


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
            "no pinned commit known)", ("wer",), hub_id=repo,
            allow_patterns=("config.json", "preprocessor_config.json", "model.bin", "tokenizer.json", "vocabulary.*")))
        specs.append(ModelSpec(
            f"openai-whisper-{size}", f"Whisper {size}, PyTorch checkpoint for openai-whisper (checksummed URL)",
            ("wer",), fetch=_openai_fetch(size if size != "turbo" else "turbo")))
    for name, (repo, desc) in PAPER_ASR.items():
        specs.append(ModelSpec(name, f"{desc} (revision: hub main; no pinned commit known)", ("wer",), hub_id=repo,
                               fetch=_transformers_fetch(repo)))
    return specs


def _transformers_fetch(repo: str):
    def fetch(cache_dir: Path | None) -> Path:
        from codecbench.metrics.asr.hf_backend import hub_folder

        return Path(hub_folder(repo, None, None, cache_dir))  # safetensors, else pytorch_model*.bin

    return fetch


def fetch(spec: AsrModel, langs: list[str], cache_dir: Path | None = None) -> Path:
    """Download one configured model (at its revision) into the hub cache, or into ``cache_dir``; MMS
    adapters only for ``langs``. A local folder is returned as is."""
    if spec.local:
        return Path(spec.model)
    if spec.backend == "transformers":
        from codecbench.metrics.asr.hf_backend import hub_folder

        return Path(hub_folder(spec.model, spec.revision, langs, cache_dir))
    if spec.backend == "openai-whisper":
        return _openai_fetch(spec.model)(cache_dir)
    from codecbench.metrics.asr.backends import FASTER_WHISPER_FILES

    try:
        from faster_whisper.utils import _MODELS
    except ImportError as exc:
        raise ModelMissing("faster-whisper is not installed: pip install faster-whisper") from exc
    return Path(hub_snapshot(_MODELS.get(spec.model, spec.model), spec.revision, FASTER_WHISPER_FILES, cache_dir))
