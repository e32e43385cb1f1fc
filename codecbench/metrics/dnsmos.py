"""DNSMOS P.835 (Microsoft DNS challenge) through ``speechmos``: non-intrusive, scores only the
reconstruction (no reference). Its ONNX models ship in the speechmos wheel, so it works offline.

Outputs ``dnsmos_ovrl``, ``dnsmos_sig``, ``dnsmos_bak`` (P.835 overall, signal, background) and
``dnsmos_p808`` (P.808 overall), each on a 1-5 scale, computed at 16 kHz on 9.01 s windows hopped by
1 s (clips shorter than 9.01 s are repeated to that length, as speechmos does). Samples are clipped
to [-1, 1] first, as a playback device would (speechmos rejects values outside that range).

Not in the default set: DNSMOS was trained on English noisy/enhanced speech, rates noise-suppression
artefacts rather than codec fidelity, and cannot see what was lost relative to the reference.
speechmos imports librosa and onnxruntime only (no torchaudio).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import numpy as np

from codecbench.audio import resample
from codecbench.metrics.base import (
    Metric,
    MetricFailure,
    MetricInfo,
    MetricInput,
    Output,
    Values,
    package_version,
    safe_compute,
)
from codecbench.models import ModelMissing, ModelSpec

SR = 16000
OUTPUTS = {"dnsmos_ovrl": "ovrl_mos", "dnsmos_sig": "sig_mos", "dnsmos_bak": "bak_mos", "dnsmos_p808": "p808_mos"}


def _models_dir(_cache: object = None) -> Path:
    spec = importlib.util.find_spec("speechmos")
    if spec is None or spec.origin is None:
        raise ModelMissing("DNSMOS models ship in the 'speechmos' package: pip install speechmos")
    return Path(os.path.dirname(spec.origin)) / "dnsmos_models"


class Dnsmos(Metric):
    name = "dnsmos"

    def __init__(self) -> None:
        self._model: Any = None

    def info(self) -> MetricInfo:
        return MetricInfo(
            name=self.name,
            outputs=(
                Output("dnsmos_ovrl", True, "MOS", "DNSMOS P.835 overall quality of the reconstruction"),
                Output("dnsmos_sig", True, "MOS", "DNSMOS P.835 speech-signal quality"),
                Output("dnsmos_bak", True, "MOS", "DNSMOS P.835 background (noise) quality"),
                Output("dnsmos_p808", True, "MOS", "DNSMOS P.808 overall quality"),
            ),
            description="DNSMOS (non-intrusive, reconstruction only; trained on English noisy speech)",
            needs_reference=False,
            device="cpu",
            sample_rate=SR,
            library="speechmos",
            version=package_version("speechmos"),
            model="dnsmos sig_bak_ovr.onnx + model_v8.onnx",
            mode="p835",
            batched=True,
            default=False,
            trained_languages=("en",),  # DNS challenge training data: English read speech
        )

    def find_unavailable(self) -> str | None:
        for mod in ("speechmos", "onnxruntime", "librosa"):
            if importlib.util.find_spec(mod) is None:
                return f"DNSMOS needs {mod}: pip install speechmos"
        return None

    def setup(self, device: str = "cpu", workdir: str | None = None) -> None:
        self._load()

    def _load(self):
        if self._model is None:
            reason = self.unavailable_reason()
            if reason:
                raise MetricFailure(reason)
            from speechmos.dnsmos import DNSMOS

            d = _models_dir()
            self._model = DNSMOS(str(d / "sig_bak_ovr.onnx"), str(d / "model_v8.onnx"))
        return self._model

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_model"] = None
        return state

    def compute(self, x: MetricInput) -> Values:
        wave = np.clip(resample(x.deg, x.sample_rate, SR), -1.0, 1.0).astype(np.float32)
        if wave.size < SR // 4:
            raise MetricFailure(f"too short for DNSMOS ({wave.size / SR:.2f} s)")
        if not np.any(wave):
            raise MetricFailure("reconstruction is digital silence")
        res = self._load()(wave, SR, False)
        return {out: float(res[key]) for out, key in OUTPUTS.items()}

    def compute_batch(self, xs: list[MetricInput]) -> list[Values]:
        return [safe_compute(self, x) for x in xs]


def metrics() -> list[Metric]:
    return [Dnsmos()]


def models() -> list[ModelSpec]:
    return [ModelSpec("dnsmos", "DNSMOS P.835 + P.808 ONNX models", ("dnsmos",), bundled_in="speechmos",
                      fetch=_models_dir)]
