"""Speaker-model entries for ``codecbench models``."""

from __future__ import annotations

from codecbench.metrics.speaker.ge2e import resemblyzer_weights
from codecbench.metrics.speaker.metric import ECAPA_FILES, ECAPA_HUB_ID, ECAPA_REVISION
from codecbench.metrics.speaker.wavlm_metric import XVECTOR_FILES, XVECTOR_HUB_ID
from codecbench.models import ModelSpec


def models() -> list[ModelSpec]:
    return [
        ModelSpec("ecapa-voxceleb", "SpeechBrain ECAPA-TDNN speaker embeddings (VoxCeleb 1+2), revision pinned "
                  "from public projects", ("spk_sim_ecapa",), hub_id=ECAPA_HUB_ID, revision=ECAPA_REVISION,
                  allow_patterns=ECAPA_FILES),
        ModelSpec("wavlm-base-plus-sv", "WavLM Base+ x-vector speaker verification (transformers WavLMForXVector; "
                  "revision: hub main, no pinned commit known)", ("spk_sim_wavlm",), hub_id=XVECTOR_HUB_ID,
                  allow_patterns=XVECTOR_FILES),
        ModelSpec("resemblyzer-ge2e", "Resemblyzer GE2E speaker encoder (pretrained.pt in the wheel)",
                  ("spk_sim_ge2e",), bundled_in="resemblyzer",
                  fetch=lambda _cache=None: resemblyzer_weights().parent),
    ]
