"""ASR metrics: routing (which model reads which language), backends (faster-whisper, openai-whisper;
hf_backend: transformers Whisper/seq2seq and CTC/MMS; factory: which backend serves a model, and
whether it can run here), checks (reliability of a transcript), errors (WER/CER counts, corpus
rates), transcriber (caches), metric (``wer``), corpus (its corpus-level rows and reliability file),
reliability (figures per model and language), model_specs (``codecbench models`` entries and
downloads of configured models)."""

from __future__ import annotations

from codecbench.metrics.base import Metric
from codecbench.models import ModelSpec


def metrics() -> list[Metric]:
    from codecbench.metrics.asr.metric import AsrMetric

    return [AsrMetric()]


def models() -> list[ModelSpec]:
    from codecbench.metrics.asr.model_specs import models as asr_models

    return asr_models()
