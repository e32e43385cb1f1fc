"""``utmos``: predicted naturalness MOS of the reconstruction with the UTMOS22 strong learner
(non-intrusive: the reference is not used). Codec papers of 2024-26 report it as "UTMOS".

Measurement decisions:
- the reconstruction is resampled to 16 kHz with soxr (``audio.resample``, VHQ) and scored as is (no
  level normalisation, no clipping), as SpeechMOS's ``utmos22_strong`` does after its resampling;
- weights: the metric option ``source`` is SpeechMOS's released state dict (URL, cached under
  ``$CODECBENCH_CACHE/weights``), a local file (``.pt``/``.pth`` read with
  ``torch.load(weights_only=True)``, or ``.safetensors``), a folder holding one (with an optional
  ``config.json`` of network sizes, ``UtmosConfig``), or a hub id at ``revision``. The figure records
  the hub revision, or the SHA-256 of the file's bytes;
- batches of up to ``MAX_BATCH`` items sorted by length; padding does not reach any value
  (``utmos_net``), so a score equals the item's score alone up to float32 rounding;
- UTMOS22 was trained on English (BVCC: Blizzard Challenge and Voice Conversion Challenge samples):
  ``trained_languages`` says so, and the summary notes every other language next to its figure.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from codecbench.audio import resample
from codecbench.metrics.base import (
    Failure,
    Metric,
    MetricFailure,
    MetricInfo,
    MetricInput,
    MetricUnavailable,
    Option,
    Output,
    Values,
    fail_all,
    package_version,
)
from codecbench.metrics.language import language_note
from codecbench.models import ModelMissing, missing_reason, offline

SR = 16000
MAX_BATCH = 16
MIN_SECONDS = 0.1
SPEECHMOS_URL = "https://github.com/tarepan/SpeechMOS/releases/download/v1.0.0/utmos22_strong_step7459_v1.pt"
TRAINED_LANGUAGES = ("en",)
HUB_PATTERNS = ("config.json", "*.safetensors", "*.pt", "*.pth")
OPTIONS = {
    "source": Option(SPEECHMOS_URL, "UTMOS22 strong weights: URL, local file (.pt/.pth/.safetensors), folder, or hub id",
                     env="CODECBENCH_UTMOS_MODEL"),
    "revision": Option("", "hub revision when source is a hub id (a file is identified by its SHA-256)",
                       env="CODECBENCH_UTMOS_REVISION"),
}


class Utmos(Metric):
    name = "utmos"
    options = OPTIONS

    def __init__(self) -> None:
        self._model: Any = None
        self._device = "cpu"
        self._path: Path | None = None

    def configure(self, opts: dict[str, Any]) -> Utmos:
        new = super().configure(opts)
        new._model, new._path = None, None
        return new  # type: ignore[return-value]

    def _source(self) -> tuple[str, str | None]:
        src = str(self.opts.get("source") or SPEECHMOS_URL)
        return src, (str(self.opts.get("revision") or "").strip() or None)

    def info(self) -> MetricInfo:
        from codecbench.metrics.weights import revision_of

        src, rev = self._source()  # the file's hash is known once unavailable_reason() resolved it
        return MetricInfo(
            name=self.name,
            outputs=(Output(self.name, True, "MOS", "UTMOS22 strong predicted naturalness MOS of the reconstruction "
                            "(1-5; trained on English)"),),
            description="UTMOS22 strong learner (wav2vec 2.0 + BLSTM), non-intrusive, reconstruction only; trained "
                        "on English (BVCC)",
            needs_reference=False, device="gpu", sample_rate=SR, library="codecbench (UTMOS22 strong in torch)",
            version=package_version("torch"), model=src, revision=revision_of(src, rev, self._path),
            mode="16 kHz soxr, float32, mean of frame scores * 2 + 3", batched=True, default=False,
            trained_languages=TRAINED_LANGUAGES,
        )

    def language_note(self, lang: str | None) -> str | None:
        """Why a figure in ``lang`` needs care (the model never heard it), or None."""
        return language_note(self.name, TRAINED_LANGUAGES, lang)

    def find_unavailable(self) -> str | None:
        if importlib.util.find_spec("torch") is None:
            return "needs torch"
        return missing_reason(self._weights)

    def _weights(self, cache_dir: Path | None = None) -> Path:
        from codecbench.metrics.weights import resolve_weights

        if self._path is None or cache_dir is not None:
            src, rev = self._source()
            try:
                self._path = resolve_weights(src, rev, HUB_PATTERNS, cache_dir=cache_dir)
            except ModelMissing as exc:
                how = ("run `codecbench models download utmos22-strong` where the network is reachable, or give the "
                       "metric option source=<file or folder>")
                raise ModelMissing(f"UTMOS weights {src} are not available{' (offline)' if offline() else ''}: "
                                   f"{exc}; {how}") from exc
        return self._path

    def prefetch(self, cache_dir: Path | None = None) -> list[tuple[str, Path]]:
        """Download the configured weights (``codecbench models download --config``)."""
        return [(self._source()[0], self._weights(cache_dir))]

    def setup(self, device: str = "cpu", workdir: str | None = None) -> None:
        if device != self._device:
            self._device, self._model = device, None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_model"] = None
        return state

    def _load(self):
        if self._model is None:
            reason = self.unavailable_reason()
            if reason:
                raise MetricUnavailable(reason)
            try:
                self._model = load_utmos(self._weights(), self._device)
            except ModelMissing as exc:
                raise MetricUnavailable(str(exc)) from exc
        return self._model

    def scores(self, waves: list[np.ndarray]) -> np.ndarray:
        """MOS of 16 kHz waves, batched by similar length."""
        import torch

        model = self._load()
        order = np.argsort([len(w) for w in waves])[::-1]
        out = np.empty(len(waves), dtype=np.float64)
        dev = next(model.parameters()).device
        with torch.inference_mode():
            for k in range(0, len(order), MAX_BATCH):
                idx = order[k:k + MAX_BATCH]
                lengths = torch.tensor([len(waves[i]) for i in idx])
                batch = torch.zeros(len(idx), int(lengths.max()))
                for j, i in enumerate(idx):
                    batch[j, :len(waves[i])] = torch.from_numpy(np.asarray(waves[i], np.float32))
                out[idx] = model(batch.to(dev), lengths.to(dev)).double().cpu().numpy()
        return out

    def compute(self, x: MetricInput) -> Values:
        (res,) = self.compute_batch([x])
        if isinstance(res[self.name], Failure):
            raise MetricFailure(res[self.name].reason, res[self.name].kind)
        return res

    def compute_batch(self, xs: list[MetricInput]) -> list[Values]:
        out: list[Values | None] = [None] * len(xs)
        waves, ok = [], []
        for i, x in enumerate(xs):
            if not np.all(np.isfinite(x.deg)):
                out[i] = fail_all(self, Failure.failed("reconstruction has NaN or Inf samples"))
            elif len(x.deg) < MIN_SECONDS * x.sample_rate:
                out[i] = fail_all(self, Failure.failed(f"too short for UTMOS ({len(x.deg) / x.sample_rate:.2f} s "
                                                       f"< {MIN_SECONDS} s)"))
            else:
                ok.append(i)
                waves.append(resample(np.asarray(x.deg, np.float32), x.sample_rate, SR))
        if ok:
            try:
                for i, s in zip(ok, self.scores(waves), strict=True):
                    out[i] = {self.name: float(s)}
            except MetricFailure as exc:
                for i in ok:
                    out[i] = fail_all(self, exc.failure())
        return [o if o is not None else fail_all(self, Failure.failed("not computed")) for o in out]


def load_utmos(path: Path, device: str = "cpu"):
    """The network from a weight file (and ``config.json`` beside it, if any), strictly loaded."""
    from codecbench.metrics.mos.utmos_net import Utmos22Strong, UtmosConfig
    from codecbench.metrics.weights import load_state_dict

    cfg_path = path.parent / "config.json"
    cfg = UtmosConfig()
    if cfg_path.is_file():
        raw = json.loads(cfg_path.read_text(encoding="utf-8"))
        cfg = UtmosConfig.from_dict(raw.get("utmos", raw))
    state = load_state_dict(path, key="state_dict")
    model = Utmos22Strong(cfg)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise ModelMissing(f"{path} does not fit UTMOS22 strong of these sizes: {str(exc).splitlines()[-1][:300]}") from exc
    if missing or unexpected:
        raise ModelMissing(f"{path} is not a UTMOS22 strong state dict of these sizes ({os.path.basename(cfg_path)}"
                           f"{'' if cfg_path.is_file() else ' absent: UTMOS22 strong sizes'}): "
                           f"missing {sorted(missing)[:4]}, unexpected {sorted(unexpected)[:4]}")
    return model.eval().to(device)
