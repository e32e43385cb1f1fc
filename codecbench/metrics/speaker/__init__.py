"""Speaker similarity: fbank (SpeechBrain-compatible front end), ecapa_net + hyperparams + ecapa
(ECAPA-TDNN), ge2e (Resemblyzer GE2E), metric (``spk_sim_ecapa``, ``spk_sim_ge2e``), model_specs."""

from __future__ import annotations

from codecbench.metrics.base import Metric
from codecbench.models import ModelSpec


def metrics() -> list[Metric]:
    from codecbench.metrics.speaker.metric import SpeakerSimilarity

    return [SpeakerSimilarity("ecapa"), SpeakerSimilarity("ge2e")]


def models() -> list[ModelSpec]:
    from codecbench.metrics.speaker.model_specs import models as speaker_models

    return speaker_models()
