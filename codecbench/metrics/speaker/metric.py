"""Speaker similarity: cosine similarity of reference and reconstruction speaker embeddings.

Two backends, each its own metric (``batched``, GPU-capable):

- ``spk_sim_ecapa`` (default): ECAPA-TDNN trained on VoxCeleb 1+2, SpeechBrain's
  ``speechbrain/spkrec-ecapa-voxceleb``. Implemented here in plain torch (no speechbrain, no
  torchaudio): our ``EcapaTdnn`` uses SpeechBrain's parameter names and our ``SbFbank`` reproduces
  SpeechBrain's ``Fbank`` (80 mels, 16 kHz, 25 ms Hamming window, n_fft 400, hop 160, power
  spectrum, HTK-mel triangular filters, 10*log10 with amin 1e-10 and top_db 80), followed by
  sentence mean normalisation, exactly as ``EncoderClassifier.encode_batch`` does (embeddings are
  not passed through ``mean_var_norm_emb``, as in SpeechBrain's ``verify_batch``). The model folder
  comes from the metric option ``source`` (a local folder in SpeechBrain's layout: hyperparams.yaml,
  embedding_model.ckpt, ...; environment fallback ``CODECBENCH_ECAPA_MODEL``) or the hub id at a
  pinned ``revision``. Without the weights the metric is
  unavailable, with the reason.
- ``spk_sim_ge2e``: Resemblyzer's GE2E speaker encoder (3-layer LSTM, 40 mels); its weights ship
  in the resemblyzer wheel (works offline). The network and the partial-utterance averaging are
  re-implemented here on resemblyzer's ``pretrained.pt`` so that we import nothing from
  resemblyzer: its package imports ``webrtcvad``, whose module needs ``pkg_resources`` (gone from
  recent setuptools). Consequence: resemblyzer's VAD silence trimming is not applied; reference
  and reconstruction are time-aligned, so both keep the same pauses. Volume is normalised to
  -30 dBFS (increase only) as resemblyzer does.

Both are in the default metric set: ECAPA is the reference figure when its weights are present (and
is reported unavailable, with the reason, when they are not); GE2E gives a number offline.

Batching never lets padding leak for GE2E (every partial is a full 1.6 s window; nothing is
padded across utterances). ECAPA pads a batch to its longest item and masks with relative
lengths like SpeechBrain; only the convolutions' reflect padding at the end of a shorter item
sees padded frames, which moves cosine similarities by < 1e-3 (``tests/test_metrics_speaker.py``);
items are sorted by length before batching to keep padding small.
"""

from __future__ import annotations

import importlib.util
import os
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
    failure_of,
    package_version,
)
from codecbench.metrics.speaker.ecapa import EcapaEncoder
from codecbench.metrics.speaker.ge2e import Ge2eEncoder, resemblyzer_weights
from codecbench.models import ModelMissing, missing_reason, offline, resolve_local_or_hub

SR = 16000
ECAPA_HUB_ID = "speechbrain/spkrec-ecapa-voxceleb"
# Commit of the hub repository pinned by two independent public projects; not verified from here
# (no hub access). Override with the metric option ``revision``.
ECAPA_REVISION = "0f99f2d0ebe89ac095bcc5903c4dd8f72b367286"
ECAPA_FILES = ("hyperparams.yaml", "embedding_model.ckpt", "mean_var_norm_emb.ckpt", "classifier.ckpt",
               "label_encoder.txt")
MIN_SECONDS = 0.5
ECAPA_OPTIONS = {
    "source": Option(ECAPA_HUB_ID, "hub id or local folder in SpeechBrain's layout", env="CODECBENCH_ECAPA_MODEL"),
    "revision": Option(ECAPA_REVISION, "hub commit (ignored for a local folder)", env="CODECBENCH_ECAPA_REVISION"),
}


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


class SpeakerSimilarity(Metric):
    """``backend='ecapa'`` (spk_sim_ecapa) or ``backend='ge2e'`` (spk_sim_ge2e)."""

    def __init__(self, backend: str = "ecapa"):
        if backend not in ("ecapa", "ge2e"):
            raise ValueError(backend)
        self.backend = backend
        self.name = f"spk_sim_{backend}"
        self.options = ECAPA_OPTIONS if backend == "ecapa" else {}
        self._encoder: Any = None
        self._device = "cpu"

    def _ecapa_source(self) -> tuple[str, str | None]:
        """(source, revision): a local folder has no revision."""
        src = str(self.opts.get("source") or ECAPA_HUB_ID)
        return src, None if os.path.isdir(src) else str(self.opts.get("revision") or ECAPA_REVISION)

    def info(self) -> MetricInfo:
        if self.backend == "ecapa":
            src, rev = self._ecapa_source()
            model = src
            lib, version, desc = "codecbench (SpeechBrain-compatible ECAPA-TDNN)", package_version("torch"), \
                "ECAPA-TDNN (VoxCeleb) cosine similarity, reference vs reconstruction"
            mode = "fbank80 + sentence mean norm, cosine"
        else:
            model, lib, version = "resemblyzer pretrained.pt (GE2E)", "resemblyzer", package_version("resemblyzer")
            rev = None
            desc = "Resemblyzer GE2E cosine similarity, reference vs reconstruction (no VAD trimming)"
            mode = "40 mels, 1.6 s partials, cosine"
        return MetricInfo(
            name=self.name,
            outputs=(Output(self.name, True, "cosine", desc),),
            description=desc,
            needs_reference=True,
            device="gpu",
            sample_rate=SR,
            library=lib,
            version=version,
            model=model,
            revision=rev,
            mode=mode,
            batched=True,
            default=True,  # ECAPA when its weights are there (else "unavailable" + reason); GE2E always works
        )

    def find_unavailable(self) -> str | None:
        if importlib.util.find_spec("torch") is None:
            return "needs torch"
        if self.backend == "ge2e":
            if importlib.util.find_spec("librosa") is None:
                return "GE2E needs librosa: pip install resemblyzer"
            return missing_reason(resemblyzer_weights)
        if importlib.util.find_spec("yaml") is None:
            return "ECAPA needs pyyaml: pip install pyyaml"
        return missing_reason(self._folder)

    def _folder(self) -> str:
        src, rev = self._ecapa_source()
        try:
            folder = resolve_local_or_hub(src, rev, ECAPA_FILES)
        except ModelMissing as exc:
            how = ("run `codecbench models download ecapa-voxceleb` where the hub is reachable, or give the "
                   "metric option source=<local folder in SpeechBrain's layout>")
            raise ModelMissing(f"ECAPA-TDNN weights {src}@{rev} are not available"
                               f"{' (offline)' if offline() else ''}: {how}") from exc
        for f in ("hyperparams.yaml", "embedding_model.ckpt"):
            if not os.path.exists(os.path.join(folder, f)):
                raise ModelMissing(f"{folder} has no {f} (not a SpeechBrain speaker model folder)")
        return folder

    def setup(self, device: str = "cpu", workdir: str | None = None) -> None:
        if device != self._device:
            self._device = device
            self._encoder = None

    def _load(self):
        if self._encoder is None:
            reason = self.unavailable_reason()
            if reason:
                raise MetricUnavailable(reason)
            if self.backend == "ge2e":
                self._encoder = Ge2eEncoder(self._device)
            else:
                self._encoder = EcapaEncoder(self._folder(), self._device)
        return self._encoder

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_encoder"] = None
        return state

    def embed(self, waves: list[np.ndarray], sample_rate: int) -> np.ndarray:
        return self._load().embed([resample(np.asarray(w, np.float32), sample_rate, SR) for w in waves])

    def compute(self, x: MetricInput) -> Values:
        (res,) = self.compute_batch([x])
        v = res[self.name]
        if isinstance(v, Failure):
            raise MetricFailure(v.reason, v.kind)
        return res

    def compute_batch(self, xs: list[MetricInput]) -> list[Values]:
        out: list[Values | None] = [None] * len(xs)
        ok = []
        for i, x in enumerate(xs):
            if len(x.ref) < MIN_SECONDS * x.sample_rate:
                out[i] = fail_all(self, Failure.failed(
                    f"too short for a speaker embedding ({x.duration:.2f} s < {MIN_SECONDS} s)"))
            elif not (np.all(np.isfinite(x.ref)) and np.all(np.isfinite(x.deg))):
                out[i] = fail_all(self, Failure.failed("reference or reconstruction has NaN or Inf samples"))
            elif not np.any(x.ref) or not np.any(x.deg):
                out[i] = fail_all(self, Failure.failed("reference or reconstruction is digital silence"))
            else:
                ok.append(i)
        if ok:
            try:
                waves = [xs[i].ref for i in ok] + [xs[i].deg for i in ok]
                emb = self.embed(waves, xs[ok[0]].sample_rate) if len({xs[i].sample_rate for i in ok}) == 1 else \
                    np.concatenate([self.embed([xs[i].ref], xs[i].sample_rate) for i in ok]
                                   + [self.embed([xs[i].deg], xs[i].sample_rate) for i in ok])
                n = len(ok)
                for j, i in enumerate(ok):
                    out[i] = {self.name: cosine(emb[j], emb[n + j])}
            except (MetricFailure, MetricUnavailable) as exc:  # a model missing: unavailable, never a number
                for i in ok:
                    out[i] = fail_all(self, failure_of(exc))
        return [o if o is not None else fail_all(self, Failure.failed("not computed")) for o in out]

