"""Speaker-model entries for ``codecbench models``."""

from __future__ import annotations

from codecbench.metrics.speaker.ge2e import resemblyzer_weights
from codecbench.metrics.speaker.metric import ECAPA_FILES, ECAPA_HUB_ID, ECAPA_REVISION
from codecbench.models import ModelSpec


def models() -> list[ModelSpec]:
    return [
        ModelSpec("ecapa-voxceleb", "SpeechBrain ECAPA-TDNN speaker embeddings (VoxCeleb 1+2), revision pinned "
                  "from public projects", ("spk_sim_ecapa",), hub_id=ECAPA_HUB_ID, revision=ECAPA_REVISION,
                  allow_patterns=ECAPA_FILES),
        ModelSpec("resemblyzer-ge2e", "Resemblyzer GE2E speaker encoder (pretrained.pt in the wheel)",
                  ("spk_sim_ge2e",), bundled_in="resemblyzer",
                  fetch=lambda _cache=None: resemblyzer_weights().parent),
    ]
