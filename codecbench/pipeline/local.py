"""The local executor: one process runs the codec and model-metric stages (on the GPU when there is
one); a pool of CPU worker processes runs the signal metrics concurrently. A row is appended to the
run store only when all its metrics are done, so a run killed at any point resumes without
recomputing or losing completed rows.

A metric worker that dies (e.g. a library segfault) breaks the pool: the rows it held are not
persisted; the pool is rebuilt and those items are retried one at a time in their own process, so
only the item that crashes is recorded as failed, with the signal named.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from codecbench.codecs.registry import load_codec
from codecbench.metrics.base import Metric, MetricInput, Values
from codecbench.pipeline import stages
from codecbench.pipeline.evaluate import evaluate
from codecbench.pipeline.plan import Plan
from codecbench.pipeline.stages import Work
from codecbench.store import RunStore
from codecbench.types import CodecInfo, Failure

# -- signal metrics in worker processes ----------------------------------------------------------
_WORKER_METRICS: list[Metric] = []  # set by the pool initializer in each worker process of one run


def _init_worker(metrics: list[Metric], workdir: str, quiet: bool = True) -> None:
    """Set up a worker's metrics. ``quiet``: native libraries' log lines (e.g. TFLite's "Created
    TensorFlow Lite XNNPACK delegate") go to ``<run>/workers.log`` instead of over the progress bar."""
    global _WORKER_METRICS
    if quiet:
        log = os.open(os.path.join(workdir, "workers.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
        os.dup2(log, 2)
        os.close(log)
    for m in metrics:
        m.setup("cpu", workdir)
    _WORKER_METRICS = metrics


def _signal_values(names: tuple[str, ...], x: MetricInput) -> Values:
    (values,) = evaluate([m for m in _WORKER_METRICS if m.name in names], [x])
    return values


def _isolated_main(conn, metrics: list[Metric], workdir: str, names: tuple[str, ...], x: MetricInput) -> None:
    _init_worker(metrics, workdir)
    conn.send(_signal_values(names, x))
    conn.close()


def run_isolated(metrics: list[Metric], workdir: str, names: tuple[str, ...], x: MetricInput) -> Values | str:
    """Signal metrics of one item in a process of its own: the values, or why the process died."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_isolated_main, args=(child, metrics, workdir, names, x), daemon=True)
    p.start()
    child.close()
    try:
        while True:
            if parent.poll(0.2):
                try:
                    return parent.recv()
                except EOFError:
                    break
            if not p.is_alive() and not parent.poll(0):
                break
    finally:
        p.join(5)
    code = p.exitcode
    if code is not None and code < 0:
        try:
            return f"metric worker crashed ({signal.Signals(-code).name})"
        except ValueError:
            return f"metric worker crashed (signal {-code})"
    return f"metric worker exited with status {code}"


class _Inline:
    """A stand-in for the pool when workers=0: runs at submit time in this process."""

    def __init__(self, metrics: list[Metric], workdir: str):
        _init_worker(metrics, workdir, quiet=False)

    def submit(self, fn, *args) -> Future:
        f: Future = Future()
        f.set_result(fn(*args))
        return f

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


def _pool(workers: int, metrics: list[Metric], workdir: str):
    if workers <= 0:
        return _Inline(metrics, workdir)
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(metrics, workdir))


# -- the run ---------------------------------------------------------------------------------------
class LocalExecutor:
    def __init__(self, plan: Plan, progress: bool = True):
        self.plan = plan
        self.cfg = plan.config
        self.store = RunStore(plan.run_dir)
        self.workdir = str(plan.run_dir)
        self.progress = progress
        self.outputs_of = {s.name: [o.name for o in _proto(s.name).info().outputs] for s in self.cfg.metrics or []}
        self.all_outputs = [o for outs in self.outputs_of.values() for o in outs]
        self.model_metrics = [m for m in plan.metrics if m.info().batched]
        self.signal_metrics = [m for m in plan.metrics if not m.info().batched]
        self.fixed: Values = {}  # outputs of metrics that cannot run now: unavailable / not applicable
        for name, reason in plan.unavailable.items():
            self.fixed.update({o: Failure.unavailable(reason) for o in self.outputs_of[name]})
        for name, reason in plan.not_applicable.items():
            self.fixed.update({o: Failure.not_applicable(reason) for o in self.outputs_of[name]})
        self.pending: list[tuple[dict[str, Any], Values, Future, Work, list[str]]] = []
        self.codec_infos: dict[str, CodecInfo] = {name: plan.codec_info(name) for name in plan.codecs}

    def todo(self) -> dict[str, list[Work]]:
        """Per codec, the (codec, utterance) work still to do and which metrics each needs."""
        runnable = {m.name: self.outputs_of[m.name] for m in self.plan.metrics}
        done = {(r["codec"], r["utt_id"]): r for r in self.store.rows()}
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

    def run(self) -> None:
        from tqdm import tqdm

        self.store.repair()
        work = self.todo()
        total = self.plan.n_work()
        remaining = sum(len(v) for v in work.values())
        if self.plan.resuming:
            print(f"resuming {self.plan.run_dir}: {total - remaining} of {total} rows already done"
                  + (f", {remaining} to do" if remaining else ""), file=sys.stderr)
        for m in self.model_metrics:
            m.setup(self.cfg.device, self.workdir)
        self.keep_audio = stages.audio_keep(self.plan.utterances, str(self.cfg.save_audio))
        self.bar = tqdm(total=total, initial=total - remaining, disable=not self.progress, unit="row",
                        desc="codecbench", file=sys.stderr, dynamic_ncols=True)
        self.pool = _pool(int(self.cfg.workers or 0), self.signal_metrics, self.workdir)
        try:
            for codec_name, items in work.items():
                self.bar.set_postfix_str(f"loading {codec_name}")
                codec = None if self.plan.pairs else load_codec(codec_name, self.cfg.device)  # pairs: no codec
                self.codec_infos[codec_name] = codec.info if codec else self.codec_infos[codec_name]
                self.bar.set_postfix_str(codec_name)
                for batch in stages.make_batches(items, self.cfg.batch_size, self.cfg.max_batch_seconds):
                    self._batch(codec, codec_name, batch)
                    self._drain(limit=4 * max(1, int(self.cfg.workers or 0)) * self.cfg.batch_size)
                if codec:
                    codec.close()
            self._drain(limit=0)
        finally:
            self.pool.shutdown(wait=True, cancel_futures=False)
            self.bar.close()
        self.store.write_json("codecs.json", {n: i.to_dict() for n, i in self.codec_infos.items()})

    def _append(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.store.append(rows)
            self.bar.update(len(rows))

    def _outputs(self, w: Work) -> list[str]:
        """The outputs this work writes: all of them for a new row, the missing metrics' for an update."""
        if w.row is None:
            return self.all_outputs
        return [o for m in w.metrics for o in self.outputs_of[m]]

    def _batch(self, codec, codec_name: str, batch: list[Work]) -> None:
        n = len(batch)
        loaded, failed = stages.load(batch, self.cfg.min_duration, self.cfg.max_duration)
        info = self.codec_infos[codec_name]
        if codec is None:  # pair scoring: the degraded files stand in for the codec's output
            rec, codec_failed = stages.load_degraded(info, loaded, self.cfg.max_duration)
        else:
            rec, codec_failed = stages.reconstruct(codec, info, loaded) if loaded else ([], [])
        self._append([stages.failed_row(self.plan.run_id, w, reason, self.all_outputs, n)
                      for w, reason in failed + codec_failed])
        if not rec:
            return
        model = [m for m in self.model_metrics if m.name in rec[0].metrics]
        for w, values in zip(rec, evaluate(model, [w.x for w in rec]), strict=True):
            row = stages.base_row(self.plan.run_id, w, n)
            stages.save_artifacts(self.store, w, w.utt.id in self.keep_audio and w.row is None, row)
            names = tuple(m.name for m in self.signal_metrics if m.name in w.metrics)
            vals = {**(self.fixed if w.row is None else {}), **values}
            self.pending.append((row, vals, self.pool.submit(_signal_values, names, w.x), w, self._outputs(w)))

    def _drain(self, limit: int) -> None:
        """Write finished rows; block while more than ``limit`` are pending."""
        while self.pending:
            if len(self.pending) > limit:
                wait([p[2] for p in self.pending], return_when=FIRST_COMPLETED)
            finished = [p for p in self.pending if p[2].done()]
            if not finished:
                return
            self.pending = [p for p in self.pending if not p[2].done()]
            rows, lost = [], []
            for row, values, fut, w, outputs in finished:
                try:
                    rows.append(stages.fill(row, {**values, **fut.result()}, outputs))
                except BrokenProcessPool:
                    lost.append((row, values, w, outputs))  # not persisted: retried below
                except Exception as exc:
                    fail = Failure.failed(f"metric worker failed: {type(exc).__name__}: {exc}")
                    rows.append(stages.fill(row, {**values, **{o: fail for o in outputs if o not in values}}, outputs))
            self._append(rows)
            if lost:
                self._recover(lost)
            if len(self.pending) <= limit:
                return

    def _recover(self, lost: list) -> None:
        """The pool broke: rebuild it and retry the lost items (and everything still pending) one at a
        time in a process of their own, so a crash fails only the item that causes it."""
        retry = lost + [(row, values, w, outputs) for row, values, _, w, outputs in self.pending]
        self.pending = []
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool = _pool(int(self.cfg.workers or 0), self.signal_metrics, self.workdir)
        for row, values, w, outputs in retry:
            names = tuple(m.name for m in self.signal_metrics if m.name in w.metrics)
            res = run_isolated(self.signal_metrics, self.workdir, names, w.x)
            if isinstance(res, str):
                fail = Failure.failed(res)
                sig_outputs = [o for m in names for o in self.outputs_of[m]]
                res = {o: fail for o in sig_outputs}
            self._append([stages.fill(row, {**values, **res}, outputs)])


def _proto(name: str) -> Metric:
    from codecbench.metrics.registry import get_metric

    return get_metric(name)
