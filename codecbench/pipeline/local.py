"""The local executor: one process, three stages overlapping. The main thread loads audio and runs
the codec (on the GPU when there is one); a model-metric thread takes reconstructed batches from a
bounded queue and runs the model metrics (ASR, speaker, DNSMOS; GPU); a pool of CPU worker processes
runs the signal metrics. So the codec never waits for ASR, and ASR never waits for PESQ; the queue
bound (``QUEUE_BATCHES``) caps the reconstructions held in memory. A row is appended to the run
store only when all its metrics are done, so a run killed at any point resumes without recomputing
or losing completed rows.

A metric worker that dies (e.g. a library segfault) breaks the pool: the rows it held are not
persisted; the pool is rebuilt and those items are retried one at a time in their own process, so
only the item that crashes is recorded as failed, with the signal named.
"""

from __future__ import annotations

import queue
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from codecbench.pipeline import stages
from codecbench.pipeline.executor import Executor
from codecbench.pipeline.stages import Work
from codecbench.pipeline.workers import make_pool, run_isolated, timed_signal_values
from codecbench.rows import Row
from codecbench.types import Failure

QUEUE_BATCHES = 4  # reconstructed batches waiting for the model-metric thread, at most

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
        from tqdm import tqdm

        work, total, done = self.start()
        # started first, so the workers' start-up overlaps model set-up and the first batch; none
        # when there is nothing for them to do
        workers = int(self.cfg.workers or 0) if work and self.signal_metrics else 0
        self.pool = make_pool(workers, self.signal_metrics, self.workdir)
        for m in self.model_metrics:
            m.setup(self.cfg.device, self.workdir)
        self.files = stages.RecentFiles()
        self.bar = tqdm(total=total, initial=done, disable=not self.progress, unit="row",
                        desc="codecbench", file=sys.stderr, dynamic_ncols=True)
        self.pending: list[tuple[Future, Work]] = []  # items whose signal metrics are in the pool
        self.error: BaseException | None = None  # raised by the model-metric thread
        self.abort = False  # the codec stage failed: the model-metric thread stops at once
        q: queue.Queue = queue.Queue(maxsize=QUEUE_BATCHES)
        consumer = threading.Thread(target=self._consume, args=(q,), name="codecbench-model-metrics", daemon=True)
        consumer.start()
        ok = False
        try:
            for codec_name, items in work.items():
                self.bar.set_postfix_str(f"loading {codec_name}")
                codec = None if self.plan.pairs else self.open_codec(codec_name)  # pairs: no codec
                self.codec_infos[codec_name] = codec.info if codec else self.codec_infos[codec_name]
                self.bar.set_postfix_str(codec_name)
                try:
                    for batch in stages.make_batches(items, self.cfg.batch_size, self.cfg.max_batch_seconds):
                        seconds: dict[str, float] = {}
                        rec, failed = self.processor.codec_stage(codec, self.codec_infos[codec_name], batch,
                                                                 self.files, seconds)
                        self.timed_all(seconds)
                        self._append(failed)
                        if rec:
                            self._put(q, rec, consumer)
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
            self.bar.close()
        if self.error is not None:
            raise self.error
        self.finish("local")

    def _put(self, q: queue.Queue, item: Any, consumer: threading.Thread, final: bool = False) -> None:
        """Queue a batch for the model-metric thread, waiting while the queue is full; stop when the
        thread has died (its error is raised by ``run``)."""
        while consumer.is_alive():
            try:
                q.put(item, timeout=0.2)
                return
            except queue.Full:
                continue
        if self.error is not None and not final:
            raise self.error

    def _append(self, rows: list[Row]) -> None:
        if rows:
            with self._lock:
                self.store.append(rows)
                self.rows_written += len(rows)
                self.bar.update(len(rows))

    # -- the model-metric thread -----------------------------------------------------------------
    def _consume(self, q: queue.Queue) -> None:
        try:
            limit = 4 * max(1, int(self.cfg.workers or 0)) * self.cfg.batch_size
            while (rec := q.get()) is not _DONE and not self.abort:
                self._model_batch(rec)
                self._drain(limit=limit)
            if not self.abort:
                self._drain(limit=0)
        except BaseException as exc:  # re-raised by run() in the main thread, traceback kept
            self.error = exc

    def _model_batch(self, rec: list[Work]) -> None:
        seconds: dict[str, float] = {}
        self.processor.model_stage(self.model_metrics, rec, seconds)
        self.timed_all(seconds)
        for w in rec:
            names = self.processor.signal_names(self.signal_metrics, w)
            self.pending.append((self.pool.submit(timed_signal_values, names, w.x), w))

    def _drain(self, limit: int) -> None:
        """Write finished rows; block while more than ``limit`` are pending."""
        while self.pending:
            if len(self.pending) > limit:
                wait([f for f, _ in self.pending], return_when=FIRST_COMPLETED)
            finished = [p for p in self.pending if p[0].done()]
            if not finished:
                return
            self.pending = [p for p in self.pending if not p[0].done()]
            rows, lost = [], []
            for fut, w in finished:
                try:
                    signal_values, seconds = fut.result()
                    self.timed("signal_metrics", seconds)
                    rows.append(self.processor.row(w, {**w.values, **signal_values}))
                except BrokenProcessPool:
                    lost.append(w)  # not persisted: retried below
                except Exception as exc:
                    fail = Failure.failed(f"metric worker failed: {type(exc).__name__}: {exc}")
                    rows.append(self.processor.row(w, {**{o: fail for o in self.processor.outputs(w)}, **w.values}))
            self._append(rows)
            if lost:
                self._recover(lost)
            if len(self.pending) <= limit:
                return

    def _recover(self, lost: list[Work]) -> None:
        """The pool broke: rebuild it and retry the lost items (and everything still pending) one at a
        time in a process of their own, so a crash fails only the item that causes it."""
        retry = lost + [w for _, w in self.pending]
        self.pending = []
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool = make_pool(int(self.cfg.workers or 0), self.signal_metrics, self.workdir)
        for w in retry:
            names = self.processor.signal_names(self.signal_metrics, w)
            res = run_isolated(self.signal_metrics, self.workdir, names, w.x)
            if isinstance(res, str):
                fail = Failure.failed(res)
                res = {o: fail for m in names for o in self.outputs_of[m]}
            self._append([self.processor.row(w, {**w.values, **res})])
