"""The Ray Data executor (``engine: ray``): the run's stages as one streaming Ray Data pipeline.

    planned codec batches ─► codec actors ─► model-metric actors ─► signal-metric CPU tasks ─► driver
    (a dataset, one row      (codec loaded     (ASR, speaker, DNSMOS   (PESQ, STOI, ...: one     (rows into
     per batch)               once per actor)   set up once per actor)  task per batch)           the run folder)

Measurement decisions, so that values equal the local engine's:
- Batches are planned in the driver by ``stages.make_batches``, exactly as the local engine plans
  them; a dataset row is one planned batch, and each stage maps one batch at a time. The codec and
  the model metrics therefore see the same batches (same padding, same ``batch_size`` column).
- Every stage is a step of the run's ``stages.BatchProcessor``, the same object the local engine
  uses, and only the driver writes rows, through the run folder, so resume and shards work as in
  the local engine. Pair scoring (``codecbench score`` of pair lists) is the same chain with the
  degraded files loaded where the codec would run.
- Stage outputs travel between workers as pickled objects; a cluster needs codecbench installed on
  every node and the run folder on storage all nodes share (actors write codes, audio and metrics'
  side records into it).

Sizing: with CUDA (``device: cuda``) and GPUs in the cluster, codec and model-metric actors take
``GPU_SHARE`` of a GPU each (one pool per GPU count); on CPU they take ``ACTOR_CPUS`` and pools grow
to a quarter of the cluster's CPUs. Signal metrics are one-CPU tasks, scheduled by Ray Data over
whatever CPUs are free. Without ``ray_address`` a local Ray instance is started for the run and
shut down after it; an instance already running in this process (``ray.init`` by the caller) is used
as it is.
"""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from codecbench.errors import Unavailable
from codecbench.metrics.base import Metric
from codecbench.pipeline import stages
from codecbench.pipeline.executor import Executor
from codecbench.pipeline.ray_log import ray_output_to_log
from codecbench.pipeline.stages import BatchProcessor, Work
from codecbench.rows import Row

INSTALL_HINT = "pip install 'codecbench[ray]'"
GPU_SHARE = 0.5  # of a GPU per codec actor and per model-metric actor: both pools fit on one GPU
ACTOR_CPUS = 0.5  # per actor: on a 2-CPU machine, both actor pools and one signal task fit at once


RayUnavailable = Unavailable  # ``engine: ray`` without Ray Data installed, or a cluster that cannot run the run


def require_ray():
    """The ``ray`` module, or a one-line error saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise RayUnavailable(f"the ray engine needs Ray Data, which is not installed here: {INSTALL_HINT}") from exc
    return ray


@dataclass
class Job:
    """One planned codec batch on its way through the stages."""

    codec: str
    items: list[Work]
    n: int  # the planned batch size (the rows' batch_size column)
    rows: list[Row] = field(default_factory=list)  # rows finished early (load/codec failures)
    info: Any = None  # the codec's CodecInfo (given for pair scoring, else the loaded codec's)
    seconds: dict[str, float] = field(default_factory=dict)
    index: int = 0  # the planned batch's number (the driver keeps its items, for the progress counts)


def _pack(jobs: list[Job]) -> dict[str, np.ndarray]:
    return {"job": np.array([pickle.dumps(j, protocol=pickle.HIGHEST_PROTOCOL) for j in jobs], dtype=object)}


def _unpack(batch: dict[str, np.ndarray]) -> list[Job]:
    return [pickle.loads(b) for b in batch["job"]]


# -- stages, as Ray Data callables ----------------------------------------------------------------
class CodecStage:
    """Actor: load audio and reconstruct (pair scoring: load the degraded files); keeps the last codec
    loaded (batches arrive grouped by codec)."""

    def __init__(self, processor: BatchProcessor, device: str, pairs: bool, codecs: dict[str, tuple[str, dict]]):
        self.processor, self.device, self.pairs = processor, device, pairs
        self.codecs = codecs  # label -> (NAME[:ARG], options)
        self.files = stages.RecentFiles()
        self.name: str | None = None
        self.codec: Any = None

    def _load(self, name: str):
        from codecbench.codecs.registry import load_codec

        if name != self.name:
            if self.codec is not None:
                self.codec.close()
            self.codec, self.name = None, None
            target, options = self.codecs[name]
            self.codec, self.name = load_codec(target, self.device, options), name
        return self.codec

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        jobs = _unpack(batch)
        for job in jobs:
            codec = None if self.pairs else self._load(job.codec)
            if codec is not None:
                job.info = codec.info
            job.items, job.rows = self.processor.codec_stage(codec, job.info, job.items, self.files, job.seconds)
            for w in job.items:
                w.wave = None  # the reference travels on in w.x
        return _pack(jobs)


class ModelStage:
    """Actor: the model metrics (ASR, speaker, DNSMOS), set up once per actor, one batch at a time."""

    def __init__(self, processor: BatchProcessor, metrics: list[Metric], device: str):
        for m in metrics:
            m.setup(device, processor.run_dir)
        self.processor, self.metrics = processor, metrics

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        jobs = _unpack(batch)
        for job in jobs:
            self.processor.model_stage(self.metrics, job.items, job.seconds)
        return _pack(jobs)


def signal_stage(batch: dict[str, np.ndarray], processor: BatchProcessor, metrics: list[Metric]) -> dict[str, np.ndarray]:
    """Task: the signal metrics of each item (as the local engine's worker pool computes them), set up
    once per worker process (``stages.signal_metrics``); the audio is dropped before the job returns."""
    ready = stages.signal_metrics(metrics, processor.run_dir)
    jobs = _unpack(batch)
    for job in jobs:
        processor.signal_stage(ready, job.items, job.seconds)
        for w in job.items:
            w.x = None
    return _pack(jobs)


# -- the run -------------------------------------------------------------------------------------
class RayExecutor(Executor):
    @classmethod
    def preflight(cls, cfg) -> None:
        require_ray()

    def run(self) -> None:
        from codecbench.pipeline.progress import Display

        ray = require_ray()
        work, total, done = self.start()
        batches = [b for items in work.values()
                   for b in stages.make_batches(items, self.cfg.batch_size, self.cfg.max_batch_seconds)]
        if not batches:
            self.finish("ray")
            return
        with ray_output_to_log(self.workdir):  # Ray's start-up notices: <run>/ray.log
            started = _init(ray, self.cfg.ray_address)
            cpus = int(ray.cluster_resources().get("CPU", 1))
            monitor = self.make_monitor(work, total, done, signal_workers=cpus).start()
            try:
                with Display(monitor, self.progress, title="codecbench (ray)"):
                    for block in self._dataset(ray, batches).iter_batches(batch_size=None, batch_format="numpy"):
                        for job in _unpack(block):
                            self._finished(job)
            finally:
                monitor.stop()
                if started:
                    ray.shutdown()
        self.finish("ray")

    def _finished(self, job: Job) -> None:
        """A job back from the pipeline: its rows written, its stages' seconds to the monitor (busy
        seconds only: Ray's workers do not report CPU seconds here)."""
        rows = job.rows + [self.processor.row(w) for w in job.items]
        self.store.append(rows)
        self.rows_written += len(rows)
        if job.info is not None:
            self.codec_infos[job.codec] = job.info
        self.timed_all(job.seconds)
        monitor, sec = self.monitor, job.seconds
        planned = self._planned.pop(job.index, [])
        monitor.end("reconstruct", job.codec, planned, sec.get("load", 0.0) + sec.get("reconstruct", 0.0), None,
                    running=False, fixed=sec.get("load", 0.0))
        kept = {w.utt.id for w in job.items}
        failed = [w for w in planned if w.utt.id not in kept]
        for stage in ("model_metrics", "signal_metrics"):
            monitor.dropped(stage, job.codec, failed)
            if job.items:
                monitor.end(stage, job.codec, job.items, sec.get(stage, 0.0), None, running=False)
        monitor.rows(len(rows))

    def _dataset(self, ray, batches: list[list[Work]]):
        """The pipeline over the planned batches (one dataset row, and one block, per batch)."""
        from ray.data import ActorPoolStrategy

        cfg = self.cfg
        resources = ray.cluster_resources()
        on_gpu = str(cfg.device).startswith("cuda")
        gpus = int(resources.get("GPU", 0)) if on_gpu else 0
        if on_gpu and not gpus:
            raise RayUnavailable(f"device {cfg.device!r}, but the Ray cluster has no GPUs (use --device cpu, or "
                                 "start the Ray nodes with their GPUs)")
        # Ray gives each GPU actor its own CUDA_VISIBLE_DEVICES: inside it, its GPU is "cuda".
        device = "cuda" if on_gpu else cfg.device
        pool = max(1, gpus) if gpus else max(1, int(resources.get("CPU", 1)) // 4)
        actor = {"num_cpus": ACTOR_CPUS, "num_gpus": GPU_SHARE if gpus else 0,
                 "compute": ActorPoolStrategy(min_size=1, max_size=pool), "batch_size": 1}
        pairs = self.plan.pairs
        jobs = [Job(b[0].codec, b, len(b), info=self.codec_infos[b[0].codec] if pairs else None, index=k)
                for k, b in enumerate(batches)]
        self._planned = {k: list(b) for k, b in enumerate(batches)}
        ds = ray.data.from_items([{"job": pickle.dumps(j, protocol=pickle.HIGHEST_PROTOCOL)} for j in jobs],
                                 override_num_blocks=len(jobs))
        ds = ds.map_batches(CodecStage, fn_constructor_args=(self.processor, device, pairs, {
            c.key: (c.target, c.options) for c in self.cfg.codecs or []}), **actor)
        if self.model_metrics:
            ds = ds.map_batches(ModelStage, fn_constructor_args=(self.processor, self.model_metrics, device), **actor)
        if self.signal_metrics:
            ds = ds.map_batches(signal_stage, fn_kwargs={"processor": self.processor, "metrics": self.signal_metrics},
                                batch_size=1, num_cpus=1)
        return ds


def _init(ray, address: str | None) -> bool:
    """Connect to ``address`` or start a local instance, unless this process already has one; True
    when this call started it (and the run shuts it down)."""
    ray.data.DataContext.get_current().enable_progress_bars = False  # the run has its own progress bar
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "progress bars disabled"
    if ray.is_initialized():
        return False
    kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING,
                          "configure_logging": False}
    try:
        if address:
            ray.init(address=address, **kw)
        else:
            ray.init(**kw)
    except (ConnectionError, ValueError) as exc:
        raise RayUnavailable(f"cannot start or reach Ray{f' at {address}' if address else ''}: {exc}") from exc
    return True
