"""STOI and extended STOI through ``pystoi`` (which resamples to 10 kHz itself, as the reference does).

pystoi returns a tiny placeholder value with a warning when the reference has too few non-silent
frames; that case is recorded as a failure instead.
"""

from __future__ import annotations

import warnings

from codecbench import audio
from codecbench.metrics.base import Metric, MetricFailure, MetricInfo, MetricInput, Output, package_version

SILENCE_DBFS = -60.0


class Stoi(Metric):
    def __init__(self, extended: bool):
        self.extended = extended
        self.name = "estoi" if extended else "stoi"

    def info(self) -> MetricInfo:
        return MetricInfo(
            name=self.name, outputs=(Output(self.name, True, "", "extended STOI" if self.extended else "STOI"),),
            description=("Extended short-time objective intelligibility (Jensen & Taal 2016)" if self.extended
                         else "Short-time objective intelligibility (Taal et al. 2011)"),
            sample_rate=10000, library="pystoi", version=package_version("pystoi"),
            mode="extended" if self.extended else "classic",
        )

    def compute(self, x: MetricInput) -> dict[str, float]:
        from pystoi import stoi

        if audio.peak_dbfs(x.ref) < SILENCE_DBFS:
            raise MetricFailure(f"silent reference (peak below {SILENCE_DBFS} dBFS): STOI undefined")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = stoi(x.ref, x.deg, x.sample_rate, extended=self.extended)
        for w in caught:
            if "frames" in str(w.message).lower():
                raise MetricFailure(f"pystoi: {w.message}")
        return {self.name: float(value)}


def metrics() -> list[Metric]:
    return [Stoi(False), Stoi(True)]
