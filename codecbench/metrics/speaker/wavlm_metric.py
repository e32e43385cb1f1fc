"""Speaker similarity with WavLM embeddings (cosine, reference vs reconstruction, 16 kHz soxr):

- ``spk_sim_wavlm``: transformers ``WavLMForXVector``, default microsoft/wavlm-base-plus-sv (hub id at
  ``revision``, or a local folder in the hub layout: config.json, preprocessor_config.json, weights);
- ``spk_sim_wavlm_ecapa``: UniSpeech's ECAPA-TDNN on WavLM-large (``wavlm_large_finetune.pth``, the
  "WavLM-TDNN" / "SIM" model of VALL-E, Llasa/X-codec2 and most codec papers). Its weights are not on
  a model hub: ``source`` is the file the user provides (``.pth`` read with ``weights_only=True``, or
  ``.safetensors``), a folder holding it, or a hub id of a mirror; without it the metric is unavailable.

Both share ``SpeakerSimilarity``'s checks (too short, NaN, digital silence fail with reasons) and
batching (``wavlm``: padding never reaches an embedding). A file is identified by its SHA-256.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from codecbench.metrics.base import MetricInfo, MetricUnavailable, Option, Output, package_version
from codecbench.metrics.speaker.metric import SR, SpeakerSimilarity
from codecbench.models import ModelMissing, hub_snapshot, missing_reason, offline, resolve_local_or_hub

XVECTOR_HUB_ID = "microsoft/wavlm-base-plus-sv"
XVECTOR_FILES = ("config.json", "preprocessor_config.json", "model.safetensors", "pytorch_model.bin")
ECAPA_PATTERNS = ("*.pth", "*.pt", "*.safetensors")
UNISPEECH = "https://github.com/microsoft/UniSpeech/tree/main/downstreams/speaker_verification"

BACKENDS = {
    "xvector": ("spk_sim_wavlm", {
        "source": Option(XVECTOR_HUB_ID, "hub id or local folder of a transformers WavLMForXVector model",
                         env="CODECBENCH_WAVLM_SV_MODEL"),
        "revision": Option("", "hub revision (empty: main, unpinned); ignored for a local folder",
                           env="CODECBENCH_WAVLM_SV_REVISION"),
    }),
    "ecapa": ("spk_sim_wavlm_ecapa", {
        "source": Option("", "UniSpeech ECAPA-TDNN-on-WavLM checkpoint (wavlm_large_finetune.pth): file, folder or "
                         "hub id of a mirror", env="CODECBENCH_WAVLM_ECAPA_MODEL"),
        "revision": Option("", "hub revision when source is a hub id (a file is identified by its SHA-256)",
                           env="CODECBENCH_WAVLM_ECAPA_REVISION"),
    }),
}


class WavlmSimilarity(SpeakerSimilarity):
    """``backend='xvector'`` (spk_sim_wavlm) or ``backend='ecapa'`` (spk_sim_wavlm_ecapa)."""

    def __init__(self, backend: str = "xvector"):  # not super().__init__: its backends are ecapa and ge2e
        if backend not in BACKENDS:
            raise ValueError(backend)
        self.backend = backend
        self.name, self.options = BACKENDS[backend]
        self._encoder: Any = None
        self._device = "cpu"
        self._path: Path | None = None

    def configure(self, opts: dict[str, Any]) -> WavlmSimilarity:
        new = super().configure(opts)
        new._encoder, new._path = None, None
        return new  # type: ignore[return-value]

    def _source(self) -> tuple[str, str | None]:
        src = str(self.opts.get("source") or (XVECTOR_HUB_ID if self.backend == "xvector" else "")).strip()
        return src, (str(self.opts.get("revision") or "").strip() or None)

    def info(self) -> MetricInfo:
        from codecbench.metrics.weights import revision_of

        src, rev = self._source()
        if self.backend == "xvector":
            desc = "WavLM x-vector (transformers WavLMForXVector) cosine similarity, reference vs reconstruction"
            mode, lib = "16 kHz soxr, feature extractor of the model, x-vector embeddings, cosine", "transformers"
            revision = None if os.path.isdir(src) else (rev or "main")
        else:
            desc = "ECAPA-TDNN on WavLM hidden states (UniSpeech speaker verification) cosine similarity"
            mode, lib = "16 kHz soxr, per-wave layer norm, weighted WavLM layers, ECAPA-TDNN, cosine", "codecbench"
            revision = revision_of(src, rev, self._path) if src else None
        return MetricInfo(
            name=self.name, outputs=(Output(self.name, True, "cosine", desc),), description=desc,
            needs_reference=True, device="gpu", sample_rate=SR, library=lib,
            version=f"transformers {package_version('transformers')}, torch {package_version('torch')}",
            model=src or None, revision=revision, mode=mode, batched=True, default=False,
        )

    def find_unavailable(self) -> str | None:
        if importlib.util.find_spec("torch") is None or importlib.util.find_spec("transformers") is None:
            return f"{self.name} needs torch and transformers: pip install 'codecbench[metrics]'"
        return missing_reason(self._locate)

    def _locate(self, cache_dir: Path | None = None) -> Path:
        """The local folder (x-vector) or checkpoint file (ECAPA)."""
        src, rev = self._source()
        if self.backend == "xvector":
            try:
                if cache_dir is not None and not os.path.isdir(src):
                    return Path(hub_snapshot(src, rev, XVECTOR_FILES, cache_dir))
                return Path(resolve_local_or_hub(src, rev, XVECTOR_FILES))
            except ModelMissing as exc:
                raise ModelMissing(f"WavLM x-vector model {src}@{rev or 'main'} is not available"
                                   f"{' (offline)' if offline() else ''}: run `codecbench models download "
                                   "wavlm-base-plus-sv` where the hub is reachable, or give source=<local folder>") from exc
        if not src:
            raise ModelMissing(f"{self.name} needs the UniSpeech checkpoint wavlm_large_finetune.pth (not on a model "
                               f"hub; see {UNISPEECH}): give the metric option source=<file> or set "
                               "CODECBENCH_WAVLM_ECAPA_MODEL")
        from codecbench.metrics.weights import resolve_weights

        if self._path is None or cache_dir is not None:
            self._path = resolve_weights(src, rev, ECAPA_PATTERNS, cache_dir=cache_dir)
        return self._path

    def prefetch(self, cache_dir: Path | None = None) -> list[tuple[str, Path]]:
        """Fetch the configured weights (``codecbench models download --config``)."""
        return [(self._source()[0] or self.name, self._locate(cache_dir))]

    def _load(self):
        if self._encoder is None:
            reason = self.unavailable_reason()
            if reason:
                raise MetricUnavailable(reason)
            from codecbench.metrics.speaker.wavlm import WavlmEcapaEncoder, XvectorEncoder

            try:
                cls = XvectorEncoder if self.backend == "xvector" else WavlmEcapaEncoder
                self._encoder = cls(self._locate(), self._device)
            except ModelMissing as exc:
                raise MetricUnavailable(str(exc)) from exc
        return self._encoder
