"""Minimal-pair ABX per phonetic contrast: the per-item part (features) of the ``abx`` metric.

ABX is corpus-level (``codecbench.metrics.abx_corpus``), but the pipeline scores items one at a
time. So the per-item ``compute`` extracts the features of the reference and of the reconstruction
and, when the metric was set up with a run folder, saves them through it as the item's arrays of
the ``abx_features`` folder (``folders``; arrays ``ref``, ``deg`` and the speech ``span`` in
seconds); its aggregate then forms the triplets. The per-item value is ``abx_dtw_distance``: the DTW distance (below) between the
reference's and the reconstruction's features — how far the codec moved this word in feature space.

Measurement decisions:
- features at 16 kHz, 25 ms Hann windows every 10 ms, 40 HTK-mel bands (codecbench's one mel
  filterbank), natural log; ``mfcc`` (default): DCT-II of the log-mels, coefficients 0-12, with
  the word's mean removed (cepstral mean normalisation: a codec's or a voice's fixed spectral tilt
  is not a phonetic difference; c0 minus its mean is the word's energy contour, which marks
  closures and vowel length). On the built-in set this gave the lowest floor of the variants tried
  (c1-12, c1-20, +deltas, no CMN, log-mels): 0.156 mean error over all triplets, against 0.207 for
  c1-12; ``logmel``: the 40 log-mels, mean-removed;
- leading and trailing silence is cut from both signals at the same frames, chosen on the
  reference (frames within 35 dB of its loudest frame, plus 2 frames each side), so the cut never
  depends on the codec;
- distance: cosine frame distance, symmetric DTW, normalised by n + m (``codecbench.metrics.dtw``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from codecbench import __version__, audio
from codecbench.metrics.base import Metric, MetricFailure, MetricInfo, MetricInput, Output
from codecbench.metrics.dtw import dtw_distances
from codecbench.metrics.spectral import mel_filterbank
from codecbench.store import RunFolder

FEAT_SR, WIN, HOP, N_FFT, N_MELS, N_CEPS = 16000, 400, 160, 512, 40, 13
TRIM_DB, TRIM_MARGIN = 35.0, 2
FEATURE_DIR = "abx_features"
FEATURES = ("mfcc", "logmel")
OUTPUT = "abx_dtw_distance"


def _log_mel(x: np.ndarray) -> np.ndarray:
    """[frames, N_MELS] natural-log mel power of 16 kHz audio (frames start at 0, no centring)."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) < WIN:
        x = np.pad(x, (0, WIN - len(x)))
    n_frames = 1 + (len(x) - WIN) // HOP
    idx = np.arange(WIN)[None] + HOP * np.arange(n_frames)[:, None]
    spec = np.abs(np.fft.rfft(x[idx] * np.hanning(WIN + 2)[1:-1], n=N_FFT, axis=1)) ** 2
    return np.log(np.maximum(spec @ mel_filterbank(FEAT_SR, N_FFT, N_MELS).T, 1e-10))


def _speech_span(log_mel: np.ndarray) -> slice:
    energy_db = 10.0 / np.log(10.0) * np.log(np.exp(log_mel).sum(axis=1))
    loud = np.flatnonzero(energy_db >= energy_db.max() - TRIM_DB)
    return slice(max(0, loud[0] - TRIM_MARGIN), min(len(log_mel), loud[-1] + 1 + TRIM_MARGIN))


def _finish(log_mel: np.ndarray, kind: str) -> np.ndarray:
    if kind == "mfcc":
        from scipy.fft import dct

        feats = dct(log_mel, type=2, norm="ortho", axis=1)[:, :N_CEPS]
    else:
        feats = log_mel
    return (feats - feats.mean(axis=0, keepdims=True)).astype(np.float32)


def word_features(ref: np.ndarray, deg: np.ndarray | None, sample_rate: int,
                  kind: str = "mfcc") -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Features of the reference and (optionally) the reconstruction, cut to the reference's speech,
    and that speech span in seconds [start, end] (token-space ABX cuts the codec's tokens there)."""
    if kind not in FEATURES:
        raise ValueError(f"unknown ABX features {kind!r}; choose from {', '.join(FEATURES)}")
    lm_ref = _log_mel(audio.resample(ref, sample_rate, FEAT_SR))
    span = _speech_span(lm_ref)
    seconds = np.array([span.start * HOP, (span.stop - 1) * HOP + WIN]) / FEAT_SR
    f_ref = _finish(lm_ref[span], kind)
    if deg is None:
        return f_ref, None, seconds
    lm_deg = _log_mel(audio.resample(deg, sample_rate, FEAT_SR))
    if len(lm_deg) < span.stop:
        lm_deg = np.pad(lm_deg, ((0, span.stop - len(lm_deg)), (0, 0)), constant_values=np.log(1e-10))
    return f_ref, _finish(lm_deg[span], kind), seconds


def feature_path(run_dir: str | Path, codec: str, utt_id: str) -> Path:
    return RunFolder(run_dir).artifact_path(FEATURE_DIR, codec, utt_id)


def save_features(path: Path, ref: np.ndarray, deg: np.ndarray, span: np.ndarray) -> None:
    """Write atomically at ``path`` (``feature_path``), honouring the umask (benchmarks; a run saves
    them through its run folder)."""
    from codecbench.files import atomic_write

    atomic_write(path, lambda tmp: np.savez(tmp, ref=ref, deg=deg, span=span))


def load_features(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(reference features, reconstruction features, speech span in seconds)."""
    with np.load(path) as z:
        return z["ref"], z["deg"], z["span"]


class Abx(Metric):
    """Saves the features ABX needs; the triplet error rates are its corpus-level aggregate."""

    name = "abx"
    folders = (FEATURE_DIR,)

    def __init__(self, features: str = "mfcc"):
        if features not in FEATURES:
            raise ValueError(f"unknown ABX features {features!r}; choose from {', '.join(FEATURES)}")
        self.features = features
        self.run_dir: Path | None = None

    def info(self) -> MetricInfo:
        return MetricInfo(
            name=self.name,
            outputs=(Output(OUTPUT, False, "cosine-DTW",
                            "DTW distance of the reconstruction's features to the reference's (ABX rows: summary)"),),
            description="minimal-pair ABX error per contrast class (corpus-level rows abx_floor/abx_error/abx_loss:"
                        "<contrast> in summary.csv) from DTW-aligned cosine frame distances",
            sample_rate=FEAT_SR, library="codecbench", version=__version__,
            mode=f"{self.features}-cosine-dtw", default=False,
        )

    def setup(self, device: str = "cpu", workdir: str | None = None) -> None:
        self.run_dir = Path(workdir) if workdir else None

    def compute(self, x: MetricInput) -> dict[str, float]:
        if len(x.ref) < WIN * x.sample_rate / FEAT_SR:
            raise MetricFailure("too short for ABX features (under one 25 ms frame)")
        f_ref, f_deg, span = word_features(x.ref, x.deg, x.sample_rate, self.features)
        if self.run_dir is not None and x.codec is not None:
            RunFolder(self.run_dir).save_arrays(FEATURE_DIR, x.codec.name, x.utterance.id, ref=f_ref, deg=f_deg,
                                                span=span)
        return {OUTPUT: float(dtw_distances([(f_ref, f_deg)])[0])}

    def aggregate(self, corpus):
        from codecbench.metrics.abx_corpus import aggregate

        return aggregate(corpus, OUTPUT, FEATURE_DIR)


def metrics() -> list[Metric]:
    return [Abx()]
