"""PESQ (ITU-T P.862) through the ``pesq`` package.

P.862 accepts 8 and 16 kHz input. Both modes run at 16 kHz (wb is P.862.2; nb is P.862 with its
16 kHz input path, as the reference implementation's own tests and conformance values use).
Sources below 16 kHz run nb at 8 kHz and fail wb (no wideband content). Resampling is soxr.
Note: resampling a 16 kHz pair to 8 kHz before nb changes the score (conformance pair: 1.665
instead of the reference 1.607), which is why nb does not downsample wideband audio.
PESQ's own errors (no utterances in a silent or too quiet signal, buffer too short) become
recorded failures, never a score.

The signals are scored as given: P.862 finds the delay (and changes of delay) between them itself,
so no cropping or padding happens here; the lengths may differ (ITU-T conformance pairs do).

Safe length: the ``pesq`` C library crashes the process (segfault) on inputs of 250 s and more,
while 200 s works (issue 11). Inputs longer than ``MAX_SECONDS`` are refused with a recorded
failure, and the library is never called on them.
"""

from __future__ import annotations

from codecbench import audio
from codecbench.metrics.base import Metric, MetricFailure, MetricInfo, MetricInput, Output, package_version

WB_RATE, NB_LOW_RATE = 16000, 8000
MAX_SECONDS = 200.0  # longest input passed to the library (it segfaults at >= 250 s)


class Pesq(Metric):
    def __init__(self, mode: str):
        self.mode = mode
        self.name = f"pesq_{mode}"

    def info(self) -> MetricInfo:
        std = "P.862.2 wideband" if self.mode == "wb" else "P.862 narrowband (8 kHz input for sources below 16 kHz)"
        return MetricInfo(
            name=self.name, outputs=(Output(self.name, True, "MOS-LQO", f"PESQ {self.mode} MOS-LQO"),),
            description=f"ITU-T {std} MOS-LQO", sample_rate=WB_RATE, library="pesq",
            version=package_version("pesq"), mode=self.mode,
            band_hz=7000.0 if self.mode == "wb" else 3400.0,  # P.862.2: 50-7000 Hz; P.862: 300-3400 Hz
        )

    def rate_for(self, source_sr: int) -> int:
        if source_sr >= WB_RATE:
            return WB_RATE
        if self.mode == "wb":
            raise MetricFailure(f"source audio is {source_sr} Hz: no wideband content, PESQ-wb undefined")
        return NB_LOW_RATE

    def compute(self, x: MetricInput) -> dict[str, float]:
        from pesq import PesqError, pesq

        rate = self.rate_for(x.sample_rate)
        longest = max(len(x.ref), len(x.deg)) / float(x.sample_rate)
        if longest > MAX_SECONDS:
            raise MetricFailure(f"input is {longest:.1f} s: PESQ is limited to {MAX_SECONDS:.0f} s here (the pesq "
                                "library crashes on inputs of 250 s and more); split the recording")
        ref = audio.resample(x.ref, x.sample_rate, rate)
        deg = audio.resample(x.deg, x.sample_rate, rate)
        try:
            value = pesq(rate, ref, deg, self.mode, on_error=PesqError.RAISE_EXCEPTION)
        except PesqError as exc:
            raise MetricFailure(f"PESQ {type(exc).__name__}: {exc}") from exc
        return {self.name: float(value)}


def metrics() -> list[Metric]:
    return [Pesq("wb"), Pesq("nb")]
