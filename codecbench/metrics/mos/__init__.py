"""Predicted MOS: ``utmos`` (UTMOS22 strong learner: utmos_net in torch, utmos the metric)."""

from __future__ import annotations

from codecbench.metrics.base import Metric
from codecbench.models import ModelSpec


def metrics() -> list[Metric]:
    from codecbench.metrics.mos.utmos import Utmos

    return [Utmos()]


def models() -> list[ModelSpec]:
    from codecbench.metrics.mos.utmos import SPEECHMOS_URL

    def fetch(cache_dir=None):
        from codecbench.metrics.weights import fetch_url

        return fetch_url(SPEECHMOS_URL, cache_dir)

    return [ModelSpec("utmos22-strong", "UTMOS22 strong learner, SpeechMOS's state dict (GitHub release v1.0.0; "
                      "identified by its SHA-256)", ("utmos",), fetch=fetch)]
