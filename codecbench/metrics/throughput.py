"""Encode and decode real-time factors: processing seconds per second of audio (lower is faster).

Times are measured by the codec base around the native-rate encode and decode of a whole batch
(resampling excluded) and shared among the batch's items in proportion to their duration, so an
item's RTF is its batch's RTF. The batch size is recorded in each row.
"""

from __future__ import annotations

from codecbench import __version__
from codecbench.metrics.base import Failure, Metric, MetricInfo, MetricInput, Output


class RealTimeFactor(Metric):
    name = "rtf"

    def info(self) -> MetricInfo:
        return MetricInfo(
            name=self.name,
            outputs=(Output("rtf_encode", False, "s/s", "encode seconds per audio second"),
                     Output("rtf_decode", False, "s/s", "decode seconds per audio second")),
            description="Real-time factors of encode and decode (batch wall time / batch audio time)",
            needs_reference=False, library="codecbench", version=__version__, cost=True,
        )

    def compute(self, x: MetricInput) -> dict[str, float | Failure]:
        out: dict[str, float | Failure] = {}
        for key, seconds in (("rtf_encode", x.encode_seconds), ("rtf_decode", x.decode_seconds)):
            out[key] = Failure.not_applicable("no timing recorded") if seconds is None else seconds / x.duration
        return out


def metrics() -> list[Metric]:
    return [RealTimeFactor()]
