"""Nominal and measured bitrate of the codec on each utterance (bits per second of input audio).

Measured: the real payload size where the codec produces one (Opus packets), else the valid code
frames times log2(codebook size), summed over codebooks. Continuous codecs have no bitrate (their
latent rate is recorded in codecs.json instead), nor has a passthrough without codes, payload or
declared bitrate (``reference-16k``, the ground-truth row): both are not applicable.
"""

from __future__ import annotations

import numpy as np

from codecbench import __version__
from codecbench.metrics.base import Failure, Metric, MetricInfo, MetricInput, Output


def code_bits(codes: list[np.ndarray], sizes: list[int]) -> float:
    return float(sum(len(c) * np.log2(k) for c, k in zip(codes, sizes, strict=True)))


class Bitrate(Metric):
    name = "bitrate"

    def info(self) -> MetricInfo:
        return MetricInfo(
            name=self.name,
            outputs=(Output("bitrate_nominal", None, "bit/s", "the codec's nominal bitrate"),
                     Output("bitrate_measured", None, "bit/s", "payload bits / input seconds")),
            description="Nominal and measured bitrate", needs_reference=False, library="codecbench", version=__version__,
            cost=True,
        )

    def compute(self, x: MetricInput) -> dict[str, float | Failure]:
        info = x.codec
        if info is None:
            return {o: Failure.not_applicable("no codec") for o in ("bitrate_nominal", "bitrate_measured")}
        if info.latent_dim is not None and not info.codebooks:
            reason = Failure.not_applicable(f"continuous codec (latent rate {info.latent_rate} values/s)")
            return {"bitrate_nominal": reason, "bitrate_measured": reason}
        if not info.codebooks and info.nominal_bitrate is None and x.bits is None:
            reason = Failure.not_applicable("no compression (the codec has neither codes nor a bitrate)")
            return {"bitrate_nominal": reason, "bitrate_measured": reason}
        nominal = info.nominal_bitrate if info.nominal_bitrate is not None else Failure.not_applicable("codec declares no bitrate")
        if x.bits is not None:
            measured = x.bits / x.duration
        elif x.codes is not None:
            measured = code_bits(x.codes, [c.size for c in info.codebooks]) / x.duration
        else:
            measured = Failure.failed("codec reported neither payload size nor codes")
        return {"bitrate_nominal": nominal, "bitrate_measured": measured}


def metrics() -> list[Metric]:
    return [Bitrate()]
