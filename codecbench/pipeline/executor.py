"""What every executor shares: the work still to do (resume) and the run's ``BatchProcessor`` (the
stages, the outputs each row writes, the values of metrics that cannot run now). Executors
(``local.py``, ``ray_engine.py``) differ only in where and when the processor's steps run, so a run's
rows are the same whichever engine computed them.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter

from codecbench.metrics.base import Metric, Values
from codecbench.pipeline import stages
from codecbench.pipeline.monitor import RunMonitor
from codecbench.pipeline.plan import Plan
from codecbench.pipeline.stages import BatchProcessor, Work
from codecbench.store import CODECS, TIMINGS, RunFolder
from codecbench.types import CodecInfo, Failure


class Executor:
    """Base of the executors: ``run()`` does the plan's remaining work and writes its rows.

    An engine is one module with a subclass (named in ``codecbench.pipeline.EXECUTORS``): it decides
    where and when the steps of ``self.processor`` run, and nothing else."""

    @classmethod
    def preflight(cls, cfg) -> None:
        """Checks and start-up for a resolved config, before the run folder is made (a missing engine is a
        one-line error and leaves no folder behind)."""

    def __init__(self, plan: Plan, progress: bool = True, prefetch: tuple[str, ...] = ()):
        """``prefetch``: modules the caller needs after the run, imported by ``import_prefetch`` once
        the executor has nothing left to hand out (while the last items are scored)."""
        self.plan = plan
        self.prefetch = prefetch
        self.cfg = plan.config
        self.store = RunFolder(plan.run_dir)
        self.workdir = str(plan.run_dir)
        self.progress = progress
        names = dict.fromkeys([*(s.name for s in self.cfg.metrics or []), *(m.name for m in plan.metrics)])  # + data checks
        self.outputs_of = {n: [o.name for o in _proto(n).info().outputs] for n in names}
        # encoder metrics run in the codec stage (they use the run's codec, nothing of their own to load)
        self.encoder_metrics = [m for m in plan.metrics if m.info().needs_encoder]
        for m in self.encoder_metrics:
            m.setup(self.cfg.device, self.workdir)
        self.model_metrics = [m for m in plan.metrics if m.info().batched and not m.info().needs_encoder]
        self.signal_metrics = [m for m in plan.metrics if not m.info().batched and not m.info().needs_encoder]
        fixed: Values = {}  # outputs of metrics that cannot run now: unavailable / not applicable
        for name, reason in plan.unavailable.items():
            fixed.update({o: Failure.unavailable(reason) for o in self.outputs_of[name]})
        for name, reason in plan.not_applicable.items():
            fixed.update({o: Failure.not_applicable(reason) for o in self.outputs_of[name]})
        self.processor = BatchProcessor(plan.run_id, self.workdir, self.outputs_of, fixed,
                                        frozenset(stages.audio_keep(plan.utterances, str(self.cfg.save_audio))),
                                        self.cfg.min_duration, self.cfg.max_duration, tuple(self.encoder_metrics))
        self.codec_infos: dict[str, CodecInfo] = {name: plan.codec_info(name) for name in plan.codecs}
        self.stage_seconds: Counter = Counter()  # busy seconds per stage, summed over workers
        self.monitor: RunMonitor | None = None  # made by ``make_monitor`` once the work is known
        self.rows_written = 0
        self._started = time.perf_counter()
        self._lock = threading.Lock()

    def open_codec(self, key: str):
        """The ready codec whose rows are labelled ``key`` (its name, argument and options from the config)."""
        from codecbench.codecs.registry import load_codec

        entry = self.cfg.codec(key)
        return load_codec(entry.target, self.cfg.device, entry.options)

    def import_prefetch(self) -> None:
        import importlib

        for name in self.prefetch:
            importlib.import_module(name)

    def timed(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.stage_seconds[stage] += seconds

    def timed_all(self, seconds: dict[str, float]) -> None:
        with self._lock:
            self.stage_seconds.update(seconds)

    def run(self) -> None:
        raise NotImplementedError

    def costs(self) -> dict[str, float]:
        """Estimated cost of each codec per second of audio (``shards.codec_costs``; empty where a codec
        has no spec here)."""
        from codecbench.pipeline.shards import codec_costs

        try:
            return codec_costs(list(self.cfg.codecs or []), pairs=self.plan.pairs)
        except Exception:  # a plugin codec without a spec here: measured costs only
            return {}

    def todo(self) -> dict[str, list[Work]]:
        """Per codec, the (codec, utterance) work of this shard still to do and the metrics each needs.
        Codecs in the config's order (measured on the default run, 2 cores: the slow codecs first left
        the metric workers without work for a whole batch of the first one; 10% of core time idle
        against 6% in this order)."""
        runnable = {m.name: self.outputs_of[m.name] for m in self.plan.metrics}
        done = {r.key: r for r in self.store.typed_rows()}
        work: dict[str, list[Work]] = {}
        for codec in self.plan.codecs:
            for u in self.plan.utterances:
                if not self.plan.in_shard(codec, u.id):
                    continue
                row = done.get((codec, u.id))
                missing = stages.missing_metrics(row, runnable)
                if row is None or missing:
                    work.setdefault(codec, []).append(Work(codec, u, missing, row))
        return work

    def start(self) -> tuple[dict[str, list[Work]], int, int]:
        """Repair the store and find the work: (work per codec, total rows of the shard, rows done)."""
        self.store.repair()
        work = self.todo()
        total = self.plan.n_work()
        remaining = sum(len(v) for v in work.values())
        if self.plan.resuming:
            print(f"resuming {self.plan.run_dir}: {total - remaining} of {total} rows already done"
                  + (f", {remaining} to do" if remaining else ""), file=sys.stderr)
        return work, total, total - remaining

    def make_monitor(self, work: dict[str, list[Work]], total: int, done: int, signal_workers: int) -> RunMonitor:
        """The invocation's ``RunMonitor``: the stages this run has (reconstruct; model metrics and signal
        metrics when it has them), with their workers."""
        from codecbench.pipeline.resolve import available_cpus

        stages = {"reconstruct": 1}
        if self.model_metrics:
            stages["model_metrics"] = 1
        if self.signal_metrics:
            stages["signal_metrics"] = max(1, signal_workers)
        priors = self.costs()
        labels = {"reconstruct": "load pairs"} if self.plan.pairs else None
        self.monitor = RunMonitor(work, stages, available_cpus(), priors, total, done, labels)
        return self.monitor

    def finish(self, engine: str) -> None:
        """codecs.json, and timings.json: this invocation's wall time, busy seconds per stage (summed over
        workers, so stages that overlap can add up to more than the wall time) and the monitor's profile
        (``pipeline.monitor``: per stage and per metric busy, CPU, idle and queue-wait seconds, peak RSS)."""
        self.store.write_json(CODECS, {n: i.to_dict() for n, i in self.codec_infos.items()})
        profile = self.monitor.timings() if self.monitor is not None else {}
        self.store.write_json(TIMINGS, {
            "engine": engine, "rows": self.rows_written, "wall_seconds": round(time.perf_counter() - self._started, 3),
            "stage_seconds": {k: round(v, 3) for k, v in sorted(self.stage_seconds.items())}, **profile})


def _proto(name: str) -> Metric:
    from codecbench.metrics.registry import get_metric

    return get_metric(name)
