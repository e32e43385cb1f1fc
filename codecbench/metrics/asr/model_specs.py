"""Whisper checkpoints for ``codecbench models`` (download / list) for the ASR metric."""

from __future__ import annotations

import os
from pathlib import Path

from codecbench.models import ModelMissing, ModelSpec

WHISPER_SIZES = ("tiny", "base", "small", "medium", "large-v3", "turbo")


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
    return specs
