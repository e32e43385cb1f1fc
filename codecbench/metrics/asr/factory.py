"""Which ASR backend serves a configured model (``routing.AsrModel``), and whether it can run here.

Apart from ``backends.py`` (the backend interface and the Whisper backends) so that neither backends
nor ``hf_backend.py`` imports the other's module in a circle.
"""

from __future__ import annotations

import importlib.util
import os

from codecbench.metrics.asr import routing
from codecbench.metrics.asr.backends import (
    FASTER_WHISPER_FILES,
    AsrBackend,
    FasterWhisperBackend,
    OpenAIWhisperBackend,
)
from codecbench.metrics.asr.routing import AsrModel
from codecbench.models import offline


def backend_unavailable(spec: AsrModel) -> str | None:
    """Why ``spec`` cannot run here, or None. May look in the hub cache (never downloads offline)."""
    backend, model = spec.backend, spec.model
    if spec.missing_folder:
        return f"local model folder {model} does not exist"
    if backend not in routing.BACKENDS:
        return f"unknown ASR backend {backend!r} (known: {', '.join(routing.BACKENDS)})"
    if importlib.util.find_spec("jiwer") is None:
        return "jiwer is not installed: pip install jiwer"
    if backend == "transformers":
        from codecbench.metrics.asr.hf_backend import transformers_unavailable

        return transformers_unavailable(model, spec.revision)
    if backend == "openai-whisper":
        if importlib.util.find_spec("whisper") is None:
            return "openai-whisper is not installed: pip install openai-whisper"
        return None
    if importlib.util.find_spec("faster_whisper") is None:
        return "faster-whisper is not installed: pip install faster-whisper"
    if os.path.isdir(model):
        return None if os.path.exists(os.path.join(model, "model.bin")) else \
            f"no model.bin in {model} (a CTranslate2 Whisper folder; transformers checkpoints have config.json)"
    from faster_whisper.utils import _MODELS

    repo = _MODELS.get(model, model if "/" in model else None)
    if repo is None:
        return f"unknown Whisper size {model!r} (known: {', '.join(_MODELS)}) and not a folder"
    try:
        from huggingface_hub import snapshot_download

        snapshot_download(repo, revision=spec.revision, local_files_only=offline(),
                          allow_patterns=list(FASTER_WHISPER_FILES))
    except Exception as exc:
        return (f"Whisper model '{model}' ({repo}) is not cached and cannot be downloaded ({type(exc).__name__}): "
                f"run `codecbench models download --config CONFIG` or give a local folder")
    return None



def make_backend(spec: AsrModel, device: str, compute_type: str, threads: int, beam: int) -> AsrBackend:
    """A backend for one configured model (options resolved by ``codecbench.pipeline.resolve``)."""
    if spec.backend == "transformers":
        from codecbench.metrics.asr.hf_backend import TransformersBackend

        return TransformersBackend(spec.model, spec.revision, device, beam_size=beam)
    if spec.backend == "openai-whisper":
        return OpenAIWhisperBackend(spec.model, device, beam_size=beam)
    return FasterWhisperBackend(spec.model, device, compute_type=compute_type, cpu_threads=threads, beam_size=beam,
                                revision=spec.revision)
