"""Data checks on the reference itself (a metric that runs in every run, whatever ``--metrics`` says):
its effective bandwidth and its level, per row. The values depend on the reference only (the same
for every codec); the summary reports them per language and warns from them (codecbench.datachecks).

Measurement decisions:

* **Levels** in dBFS as ``audio.rms_dbfs`` (20 log10 RMS: a full-scale square wave is 0 dBFS, a
  full-scale sine -3 dBFS; P.56's dBov). ``ref_rms_dbfs``: the whole file, pauses included.
  ``ref_active_dbfs``: an approximation of ITU-T P.56 method B on 20 ms frames instead of its
  envelope with hangover: the level of the frames whose power is within 15.9 dB of that same level,
  found by iteration from the whole file's level (speech is usually recorded near -26 dBov active).
* **Effective bandwidth** (``ref_bandwidth_hz``): the highest frequency at which the long-term power
  spectrum of the active frames (32 ms Hann frames, half overlap; smoothed over 250 Hz) is within
  ``BANDWIDTH_DROP_DB`` = 40 dB of its median level in the speech band 300-3400 Hz. Not "the
  frequency below which 99% of the energy lies": speech puts ~99% of its energy below 3-5 kHz whether
  or not it was recorded wideband (measured on the shipped Hindi clips: 99% points of 2.1-4.3 kHz for
  wideband clips, 2.1-3.4 kHz once low-passed at 4 kHz), so that definition cannot tell a telephone
  recording from a wideband one. The level drop can: wideband speech at 7 kHz lies 20-35 dB below the
  speech-band median, while a resampler's or codec's stop band lies 60-90 dB below it; 40 dB sits
  between the two with margin. A noise floor within 40 dB of the speech band counts as content.
"""

from __future__ import annotations

import numpy as np

from codecbench import __version__
from codecbench.audio import rms_dbfs
from codecbench.metrics.base import Metric, MetricFailure, MetricInfo, MetricInput, Output, Values

P56_MARGIN_DB = 15.9
FRAME_SECONDS = 0.02
SPECTRUM_SECONDS = 0.032
SMOOTH_HZ = 250.0
SPEECH_BAND_HZ = (300.0, 3400.0)
BANDWIDTH_DROP_DB = 40.0


def _db(power: np.ndarray | float) -> np.ndarray | float:
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(power)


def _frame_power(wave: np.ndarray, n: int, hop: int) -> np.ndarray:
    x = np.asarray(wave, dtype=np.float64)
    if len(x) < n:
        x = np.pad(x, (0, n - len(x)))
    return np.lib.stride_tricks.sliding_window_view(x, n)[::hop]


def active_level(wave: np.ndarray, sr: int) -> float:
    """Active level in dBFS (P.56-like, see the module docstring); -inf for silence."""
    n = max(1, int(round(FRAME_SECONDS * sr)))
    power = np.mean(np.square(_frame_power(wave, n, n)), axis=1)
    level = float(_db(np.mean(power))) if power.size else -np.inf
    if not np.isfinite(level):
        return -np.inf
    for _ in range(50):
        active = power[_db(np.maximum(power, 1e-30)) >= level - P56_MARGIN_DB]
        new = float(_db(np.mean(active)))
        if abs(new - level) < 1e-3:
            break
        level = new
    return level


def effective_bandwidth(wave: np.ndarray, sr: int, level: float | None = None) -> float:
    """Effective bandwidth in Hz (see the module docstring); NaN when nothing is active. ``level``:
    the wave's ``active_level`` when the caller has it."""
    n = 1 << int(np.ceil(np.log2(SPECTRUM_SECONDS * sr)))
    frames = _frame_power(wave, n, n // 2)
    frames = frames - frames.mean(axis=1, keepdims=True)
    power = np.mean(np.square(frames), axis=1)
    if not power.size or power.max() <= 0:
        return float("nan")
    level = active_level(wave, sr) if level is None else level
    active = frames[_db(np.maximum(power, 1e-30)) >= level - P56_MARGIN_DB]
    if not len(active):
        return float("nan")
    spectrum = np.mean(np.abs(np.fft.rfft(active * np.hanning(n), axis=1)) ** 2, axis=0)
    freqs = np.fft.rfftfreq(n, 1.0 / sr)
    k = max(1, int(round(SMOOTH_HZ / (freqs[1] - freqs[0]))))
    smooth = np.convolve(spectrum, np.ones(k) / k, mode="same")
    band = (freqs >= SPEECH_BAND_HZ[0]) & (freqs <= min(SPEECH_BAND_HZ[1], sr / 2))
    if not band.any() or np.median(smooth[band]) <= 0:
        return float("nan")
    floor = _db(np.median(smooth[band])) - BANDWIDTH_DROP_DB
    above = np.flatnonzero(_db(np.maximum(smooth, 1e-300)) >= floor)
    return float(freqs[above[-1]]) if above.size else float("nan")


class ReferenceCheck(Metric):
    """ref_bandwidth_hz, ref_rms_dbfs, ref_active_dbfs of the reference (a data check)."""

    name = "ref_check"

    def info(self) -> MetricInfo:
        return MetricInfo(
            name=self.name,
            outputs=(Output("ref_bandwidth_hz", None, "Hz", "effective bandwidth of the reference (40 dB below "
                                                                 "its speech-band level)"),
                     Output("ref_rms_dbfs", None, "dBFS", "RMS level of the reference"),
                     Output("ref_active_dbfs", None, "dBFS", "active level of the reference (P.56-like)")),
            description="Data check: the reference's effective bandwidth and level (the same for every codec)",
            library="codecbench", version=__version__, default=False, data_check=True,
        )

    def compute(self, x: MetricInput) -> Values:
        active = active_level(x.ref, x.sample_rate)
        bw = effective_bandwidth(x.ref, x.sample_rate, active)
        if not (np.isfinite(bw) and np.isfinite(active)):
            raise MetricFailure("no active signal to measure")
        return {"ref_bandwidth_hz": bw, "ref_rms_dbfs": float(rms_dbfs(x.ref)), "ref_active_dbfs": active}


def metrics() -> list[Metric]:
    return [ReferenceCheck()]
