"""The local executor: one process, three stages overlapping. The main thread loads audio and runs
the codec (on the GPU when there is one); a model-metric thread takes reconstructed batches from a
bounded queue and runs the model metrics (ASR, speaker, DNSMOS; GPU); a pool of CPU worker processes
runs the signal metrics, handed each batch before its model metrics start. So the codec never waits
for ASR, ASR never waits for PESQ and PESQ never waits for ASR; the queue bound (``QUEUE_BATCHES``)
and the pool's (``_drain``) cap the reconstructions held in memory. Every step reports to the run's
``RunMonitor`` (progress display, ETA, timings.json's profile). A row is appended to the run
store only when all its metrics are done, so a run killed at any point resumes without recomputing
or losing completed rows.

A metric worker that dies (e.g. a library segfault) breaks the pool: the rows it held are not
persisted; the pool is rebuilt and those items are retried one at a time in their own process, so
only the item that crashes is recorded as failed, with the signal named.
"""

from __future__ import annotations

import functools
import queue
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from codecbench.pipeline import stages
from codecbench.pipeline.executor import Executor
from codecbench.pipeline.stages import Work
from codecbench.pipeline.workers import Spent, make_pool, run_isolated, timed_signal_values
from codecbench.rows import Row
from codecbench.types import Failure

QUEUE_BATCHES = 4  # reconstructed batches waiting for the model-metric thread, at most
# audio in the metric pool's queue, at most: this many codec batches (of max_batch_seconds) per worker
PENDING_BATCHES = 2

# -- the run ---------------------------------------------------------------------------------------
_DONE = object()  # the end of the codec stage's queue


class LocalExecutor(Executor):
    @classmethod
    def preflight(cls, cfg) -> None:
        """Start the worker pool's forkserver now: its imports of the signal metrics' modules run while
        the run is planned."""
        if int(cfg.workers or 0) <= 0:
            return
        from codecbench.metrics.registry import data_check_names, get_metric
        from codecbench.pipeline.workers import start_server

        names = [*(s.name for s in cfg.metrics or []), *data_check_names()]  # data checks run in every run
        modules = list(dict.fromkeys(type(m).__module__ for m in map(get_metric, names) if not m.info().batched))
        if modules:
            start_server(modules)

    def run(self) -> None:
        from codecbench.pipeline.progress import Display

        work, total, done = self.start()
        # started first, so the workers' start-up overlaps model set-up and the first batch; none
        # when there is nothing for them to do
        workers = int(self.cfg.workers or 0) if work and self.signal_metrics else 0
        self.pool_is_processes = workers > 0
        monitor = self.make_monitor(work, total, done, workers)
        self.pool = make_pool(workers, self.signal_metrics, self.workdir)
        for m in self.model_metrics:
            m.setup(self.cfg.device, self.workdir)
        self.files = stages.RecentFiles()
        self.pending: list[tuple[Future, Work]] = []  # items whose signal metrics are in the pool
        self.error: BaseException | None = None  # raised by the model-metric thread
        self.abort = False  # the codec stage failed: the model-metric thread stops at once
        q: queue.Queue = queue.Queue(maxsize=QUEUE_BATCHES)
        consumer = threading.Thread(target=self._consume, args=(q,), name="codecbench-model-metrics", daemon=True)
        ok = False
        monitor.start()
        try:
            with Display(monitor, self.progress):
                consumer.start()
                try:
                    for codec_name, items in work.items():
                        monitor.current("reconstruct", f"loading {codec_name}")
                        codec = None if self.plan.pairs else self.open_codec(codec_name)  # pairs: no codec
                        self.codec_infos[codec_name] = codec.info if codec else self.codec_infos[codec_name]
                        try:
                            for batch in stages.make_batches(items, self.cfg.batch_size, self.cfg.max_batch_seconds):
                                self._codec_batch(q, consumer, codec, codec_name, batch)
                        finally:
                            if codec is not None:
                                codec.close()
                    ok = True
                    self.import_prefetch()  # the main thread has handed out every batch: idle until the pool is done
                finally:
                    self.abort = not ok
                    self._put(q, _DONE, consumer, final=True)
                    consumer.join()
                    self.pool.shutdown(wait=True, cancel_futures=not ok)
        finally:
            monitor.stop()
        if self.error is not None:
            raise self.error
        self.finish("local")

    def _codec_batch(self, q: queue.Queue, consumer: threading.Thread, codec: Any, codec_name: str,
                     batch: list[Work]) -> None:
        """The codec stage of one batch in this thread; its items go on to the model-metric thread."""
        seconds: dict[str, float] = {}
        t, c = self.monitor.begin("reconstruct", codec_name), time.thread_time()
        rec, failed = self.processor.codec_stage(codec, self.codec_infos[codec_name], batch, self.files, seconds)
        self.monitor.end("reconstruct", codec_name, batch, time.monotonic() - t, time.thread_time() - c,
                         fixed=seconds.get("load", 0.0))
        kept = {id(w) for w in rec}
        for stage in ("model_metrics", "signal_metrics"):
            self.monitor.dropped(stage, codec_name, [w for w in batch if id(w) not in kept])
        self.timed_all(seconds)
        self._append(failed)
        if rec:
            self._put(q, rec, consumer)

    def _put(self, q: queue.Queue, item: Any, consumer: threading.Thread, final: bool = False) -> None:
        """Queue a batch for the model-metric thread, waiting while the queue is full; stop when the
        thread has died (its error is raised by ``run``)."""
        t = time.monotonic()
        try:
            while consumer.is_alive():
                try:
                    q.put(item, timeout=0.2)
                    return
                except queue.Full:
                    continue
        finally:
            if not final:
                self.monitor.wait("reconstruct", "output", time.monotonic() - t)
        if self.error is not None and not final:
            raise self.error

    def _append(self, rows: list[Row]) -> None:
        if rows:
            with self._lock:
                self.store.append(rows)
                self.rows_written += len(rows)
            self.monitor.rows(len(rows))

    # -- the model-metric thread -----------------------------------------------------------------
    def _consume(self, q: queue.Queue) -> None:
        try:
            workers = max(1, int(self.cfg.workers or 0))
            limit = 4 * workers * self.cfg.batch_size
            self.pending_seconds_limit = PENDING_BATCHES * workers * float(self.cfg.max_batch_seconds)
            while True:
                t = time.monotonic()
                rec = q.get()
                self.monitor.wait("model_metrics", "input", time.monotonic() - t)
                if rec is _DONE or self.abort:
                    break
                self._model_batch(rec)
                self._drain(limit=limit)
            if not self.abort:
                self._drain(limit=0)
        except BaseException as exc:  # re-raised by run() in the main thread, traceback kept
            self.error = exc

    def _model_batch(self, rec: list[Work]) -> None:
        """Hand the batch's signal metrics to the pool first, then run its model metrics here: the two
        overlap, and the row is written when both are done (``_drain``, in this thread)."""
        for w in rec:
            names = self.processor.signal_names(self.signal_metrics, w)
            fut = self.pool.submit(timed_signal_values, names, w.x)
            fut.add_done_callback(functools.partial(self._signal_progress, w))  # counted when done, not when drained
            self.pending.append((fut, w))
        if self.pending:
            self.monitor.current("signal_metrics", self.pending[0][1].codec)
        if not self.model_metrics:
            return
        seconds: dict[str, float] = {}
        costs: dict[str, list[float]] = {}
        codec = rec[0].codec
        t, c = self.monitor.begin("model_metrics", codec), time.thread_time()
        self.processor.model_stage(self.model_metrics, rec, seconds, costs,
                                   announce=lambda name: self.monitor.current("model_metrics", f"{name} on {codec}"))
        self.monitor.end("model_metrics", codec, rec, time.monotonic() - t, time.thread_time() - c)
        self.monitor.metric_costs("model_metrics", costs, len(rec))
        self.timed_all(seconds)

    def _over(self, limit: int) -> bool:
        """More than ``limit`` items pending, or (``limit`` > 0) more audio than ``pending_seconds_limit``."""
        if len(self.pending) > limit:
            return True
        if limit <= 0 or len(self.pending) <= 1:
            return False
        seconds = sum(len(w.x.ref) / w.x.sample_rate for _, w in self.pending if w.x is not None)
        return seconds > self.pending_seconds_limit

    def _drain(self, limit: int) -> None:
        """Write finished rows; block while more than ``limit`` items (or ``pending_seconds_limit`` seconds
        of audio) are pending."""
        while self.pending:
            if self._over(limit):
                t = time.monotonic()
                wait([f for f, _ in self.pending], return_when=FIRST_COMPLETED)
                self.monitor.wait("model_metrics", "output", time.monotonic() - t)
            finished = [p for p in self.pending if p[0].done()]
            if not finished:
                return
            self.pending = [p for p in self.pending if not p[0].done()]
            rows, lost = [], []
            for fut, w in finished:
                try:
                    signal_values, _ = fut.result()
                    rows.append(self.processor.row(w, {**w.values, **signal_values}))
                except BrokenProcessPool:
                    lost.append(w)  # not persisted: retried below
                except Exception as exc:
                    fail = Failure.failed(f"metric worker failed: {type(exc).__name__}: {exc}")
                    rows.append(self.processor.row(w, {**{o: fail for o in self.processor.outputs(w)}, **w.values}))
            if self.pending:
                self.monitor.current("signal_metrics", self.pending[0][1].codec)
            self._append(rows)
            if lost:
                self._recover(lost)
            if not self._over(limit):
                return

    def _signal_progress(self, w: Work, fut: Future) -> None:
        """A pool item finished (called in the pool's thread): its costs to the monitor."""
        if fut.cancelled() or fut.exception() is not None:
            return  # a broken pool: the item is retried (``_recover``)
        self._signal_done(w, fut.result()[1])

    def _signal_done(self, w: Work, spent: Spent) -> None:
        self.timed("signal_metrics", spent.busy)
        self.monitor.end("signal_metrics", w.codec, [w], spent.busy, spent.cpu, running=False)
        self.monitor.metric_costs("signal_metrics", spent.metrics, 1)
        self.monitor.worker_peak("signal_metrics", spent.peak_rss, spent.cpu if self.pool_is_processes else 0.0)

    def _recover(self, lost: list[Work]) -> None:
        """The pool broke: rebuild it and retry the lost items (and everything still pending) one at a
        time in a process of their own, so a crash fails only the item that causes it."""
        retry = lost + [w for _, w in self.pending]
        self.pending = []
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool = make_pool(int(self.cfg.workers or 0), self.signal_metrics, self.workdir)
        for w in retry:
            names = self.processor.signal_names(self.signal_metrics, w)
            t = time.perf_counter()
            res = run_isolated(self.signal_metrics, self.workdir, names, w.x)
            self.monitor.end("signal_metrics", w.codec, [w], time.perf_counter() - t, 0.0, running=False)
            if isinstance(res, str):
                fail = Failure.failed(res)
                res = {o: fail for m in names for o in self.outputs_of[m]}
            self._append([self.processor.row(w, {**w.values, **res})])
