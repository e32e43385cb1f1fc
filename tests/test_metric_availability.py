"""A metric's availability check (``Metric.find_unavailable``) runs once per configured instance:
``unavailable_reason`` keeps its answer, and ``configure`` (other options, maybe other weights) asks again."""

from __future__ import annotations

from codecbench.metrics.base import Metric, MetricInfo, MetricInput, Output


class _Probe(Metric):
    name = "probe"

    def __init__(self) -> None:
        self.checks = 0

    def info(self) -> MetricInfo:
        return MetricInfo(name=self.name, outputs=(Output(self.name, True, "", "probe"),), description="probe",
                          library="test", version="0")

    def find_unavailable(self) -> str | None:
        self.checks += 1
        return None if self.opts.get("weights") else "no weights: set weights"

    def compute(self, x: MetricInput) -> dict[str, float]:
        return {self.name: 0.0}


def test_the_check_runs_once_per_configured_instance():
    proto = _Probe()
    assert proto.unavailable_reason() == "no weights: set weights"
    assert proto.unavailable_reason() == "no weights: set weights"
    assert proto.checks == 1
    configured = proto.configure({"weights": "w.pt"})
    assert configured.unavailable_reason() is None  # not the prototype's answer
    assert configured.unavailable_reason() is None
    assert configured.checks == 2 and proto.checks == 1
