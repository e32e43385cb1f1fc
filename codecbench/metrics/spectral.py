"""Signal-level metrics computed by codecbench itself: log-mel distance and SI-SDR.

Both compare time-aligned signals of equal length: a pair goes through ``audio.align_lengths``
(start-aligned, cropped to the shorter signal) first.
"""

from __future__ import annotations

import functools

import numpy as np

from codecbench import __version__, audio
from codecbench.metrics.base import Metric, MetricFailure, MetricInfo, MetricInput, Output

MEL_SR, MEL_NFFT, MEL_HOP, MEL_BANDS, MEL_FLOOR = 16000, 1024, 256, 80, 1e-5


@functools.lru_cache(maxsize=16)
def mel_filterbank(sr: int = MEL_SR, n_fft: int = MEL_NFFT, n_mels: int = MEL_BANDS, fmin: float = 0.0,
                   fmax: float | None = None) -> np.ndarray:
    """Triangular HTK-mel filters [n_mels, n_fft//2+1], each normalised to unit area (Slaney norm).

    Also used by the in-house codecs' training losses (one mel definition in codecbench).
    """
    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def mel_to_hz(m):
        return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)

    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax or sr / 2), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None] - lower) / (centre - lower)
    down = (upper - freqs[None]) / (upper - centre)
    fb = np.maximum(0.0, np.minimum(up, down))
    return fb * (2.0 / (upper - lower))


def log_mel(x: np.ndarray) -> np.ndarray:
    """log10 mel power spectrogram [frames, bands] of 16 kHz audio (Hann window, centred frames)."""
    pad = MEL_NFFT // 2
    x = np.pad(np.asarray(x, dtype=np.float64), (pad, pad))
    n_frames = 1 + (len(x) - MEL_NFFT) // MEL_HOP
    idx = np.arange(MEL_NFFT)[None] + MEL_HOP * np.arange(n_frames)[:, None]
    spec = np.abs(np.fft.rfft(x[idx] * np.hanning(MEL_NFFT + 1)[:-1], axis=1)) ** 2
    return np.log10(np.maximum(spec @ mel_filterbank().T, MEL_FLOOR))


class MelDistance(Metric):
    name = "mel_distance"

    def info(self) -> MetricInfo:
        return MetricInfo(
            name=self.name, outputs=(Output(self.name, False, "log10 mel", "mean |log-mel(ref) - log-mel(deg)|"),),
            description=f"L1 distance of log10 mel power spectrograms ({MEL_BANDS} bands, n_fft {MEL_NFFT}, hop {MEL_HOP})",
            sample_rate=MEL_SR, library="codecbench", version=__version__, mode=f"mel{MEL_BANDS}-nfft{MEL_NFFT}-hop{MEL_HOP}",
            band_hz=MEL_SR / 2,  # its mel bands reach the Nyquist frequency of MEL_SR
        )

    def compute(self, x: MetricInput) -> dict[str, float]:
        ref, deg = audio.align_lengths(x.ref, x.deg)
        ref = audio.resample(ref, x.sample_rate, MEL_SR)
        deg = audio.resample(deg, x.sample_rate, MEL_SR)
        if len(ref) < MEL_NFFT:
            raise MetricFailure(f"too short for mel distance ({len(ref)} samples at {MEL_SR} Hz)")
        return {self.name: float(np.mean(np.abs(log_mel(ref) - log_mel(deg))))}


def si_sdr(ref: np.ndarray, deg: np.ndarray, eps: float = 1e-8) -> float:
    """Scale-invariant SDR in dB (Le Roux et al. 2019), zero-mean, with its true sign."""
    r = np.asarray(ref, dtype=np.float64) - np.mean(ref)
    d = np.asarray(deg, dtype=np.float64) - np.mean(deg)
    energy = float(np.dot(r, r))
    if energy <= eps:
        raise MetricFailure("silent reference: SI-SDR undefined")
    target = (np.dot(d, r) / energy) * r
    noise = d - target
    return float(10.0 * np.log10((np.dot(target, target) + eps) / (np.dot(noise, noise) + eps)))


class SiSdr(Metric):
    name = "si_sdr"

    def info(self) -> MetricInfo:
        return MetricInfo(
            name=self.name, outputs=(Output(self.name, True, "dB", "scale-invariant SDR (can be negative)"),),
            description="Scale-invariant signal-to-distortion ratio at the source rate, zero-mean, true sign",
            library="codecbench", version=__version__,
        )

    def compute(self, x: MetricInput) -> dict[str, float]:
        return {self.name: si_sdr(*audio.align_lengths(x.ref, x.deg))}


def metrics() -> list[Metric]:
    return [MelDistance(), SiSdr()]
