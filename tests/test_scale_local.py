"""The local executor's overlap: model metrics run beside the codec stage (never blocking it), and a
signal-metric worker that crashes still fails only the item that crashed it."""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import replace

import pytest

from codecbench.codecs.registry import CodecSpec, register
from codecbench.config import BenchConfig
from codecbench.metrics.base import Metric, MetricInfo, MetricInput, Output, Values
from codecbench.metrics.registry import all_metrics
from codecbench.pipeline import run
from codecbench.store import RunStore
from codecbench.types import Failure
from tests.helpers import MULAW_INFO, MulawCodec, speechlike
from tests.test_core_runner import write_manifest

SECOND_BATCH = threading.Event()  # set when the codec stage has reconstructed its second batch
SEEN: dict[str, str] = {}


class CountingCodec(MulawCodec):
    calls = 0

    def reconstruct(self, *args, **kwargs):
        out = super().reconstruct(*args, **kwargs)
        CountingCodec.calls += 1
        if CountingCodec.calls >= 2:
            SECOND_BATCH.set()
        return out


class WaitingModelMetric(Metric):
    """A batched (model) metric whose first batch only finishes once the codec has done its second:
    a pipeline where model metrics block the codec stage would time out here."""

    name = "test_overlap"

    def info(self) -> MetricInfo:
        return MetricInfo(self.name, (Output(self.name),), batched=True, default=False)

    def compute(self, x: MetricInput) -> Values:
        raise NotImplementedError

    def compute_batch(self, xs: list[MetricInput]) -> list[Values]:
        SEEN["thread"] = threading.current_thread().name
        ok = SECOND_BATCH.wait(timeout=30)
        return [{self.name: 1.0 if ok else Failure.failed("the codec stage waited for the model metrics")} for _ in xs]


class CrashingMetric(Metric):
    """A signal metric that kills its worker process (as a library segfault would) on one utterance."""

    name = "test_crash"

    def info(self) -> MetricInfo:
        return MetricInfo(self.name, (Output(self.name),), default=False)

    def compute(self, x: MetricInput) -> Values:
        if x.utterance.id == "hi2":
            os.kill(os.getpid(), signal.SIGSEGV)
        return {self.name: float(len(x.ref))}


@pytest.fixture
def extra_metrics():
    table = all_metrics()
    added = {m.name: m for m in (WaitingModelMetric(), CrashingMetric())}
    table.update(added)
    yield
    for name in added:
        table.pop(name, None)


@pytest.fixture
def manifest(tmp_path):
    return write_manifest(tmp_path, [(f"hi{i}", "hi", speechlike(0.5 + 0.1 * i, 8000, seed=i), 8000) for i in range(6)])


def test_model_metrics_do_not_block_the_codec_stage(extra_metrics, manifest, tmp_path):
    info = replace(MULAW_INFO, name="test-counting")
    register(CodecSpec(info=info, load=lambda arg, device: CountingCodec(info)))
    out = run(BenchConfig(codecs=["test-counting"], dataset=str(manifest), metrics=["test_overlap", "si_sdr"],
                          batch_size=2, workers=0), out=tmp_path / "run", progress=False)
    rows = RunStore(out).rows()
    assert len(rows) == 6 and CountingCodec.calls == 3
    assert all(r["test_overlap"] == 1.0 for r in rows), rows[0]["test_overlap__failure"]
    assert SEEN["thread"] != threading.main_thread().name


def test_a_crashing_metric_worker_fails_only_its_item(extra_metrics, manifest, tmp_path):
    out = run(BenchConfig(codecs=["opus-12kbps"], dataset=str(manifest), metrics=["test_crash", "si_sdr"], workers=1),
              out=tmp_path / "run", progress=False)
    rows = {r["utt_id"]: r for r in RunStore(out).rows()}
    assert len(rows) == 6
    assert rows["hi2"]["test_crash__failure"] == "metric worker crashed (SIGSEGV)"
    assert all(rows[u]["test_crash__failure"] == "" and rows[u]["si_sdr__failure"] == "" for u in rows if u != "hi2")
