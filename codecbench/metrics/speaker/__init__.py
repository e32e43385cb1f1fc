"""Speaker similarity: fbank (SpeechBrain-compatible front end), ecapa_net + hyperparams + ecapa
(ECAPA-TDNN), ge2e (Resemblyzer GE2E), metric (``spk_sim_ecapa``, ``spk_sim_ge2e``), wavlm +
wavlm_ecapa_net + wavlm_metric (``spk_sim_wavlm``: WavLMForXVector, ``spk_sim_wavlm_ecapa``: UniSpeech's
ECAPA-TDNN on WavLM-large), model_specs."""

from __future__ import annotations

from codecbench.metrics.base import Metric
from codecbench.models import ModelSpec


def metrics() -> list[Metric]:
    from codecbench.metrics.speaker.metric import SpeakerSimilarity
    from codecbench.metrics.speaker.wavlm_metric import WavlmSimilarity

    return [SpeakerSimilarity("ecapa"), SpeakerSimilarity("ge2e"), WavlmSimilarity("xvector"), WavlmSimilarity("ecapa")]


def models() -> list[ModelSpec]:
    from codecbench.metrics.speaker.model_specs import models as speaker_models

    return speaker_models()
