"""What a run's stages do and cost while they do it: the source of the progress display's lines and
ETA (``pipeline.progress``) and of ``timings.json``'s profile.

Per stage (``reconstruct``: loading and the codec, or loading the degraded files of a pair list;
``model_metrics``; ``signal_metrics``): items and seconds of audio done, busy seconds (summed over
the stage's workers), CPU seconds of the threads or processes doing the work, idle seconds (the
stage's span from its first start to its last end, times its workers, minus busy), seconds spent
waiting on a queue (``input``: nothing to do; ``output``: the next stage is full), the codec or
metric being worked on, and peak RSS. Per metric: busy and CPU seconds.

Measurement decisions:

* CPU seconds are the working thread's (``time.thread_time``) in the run's process and the worker's
  (``time.process_time``) in a metric worker; helper threads of a library (torch's intra-op pool,
  BLAS) are not in a stage's figure, but are in ``cpu_seconds.main`` (the process's rusage).
* Peak RSS per stage: the largest resident set of the process doing the stage's work, sampled every
  ``RSS_SECONDS`` while a step of the stage runs and at the end of each step (reconstruct and model metrics share the run's
  process: a sample taken while both work counts for both); a signal-metric worker reports its own
  exact peak (``ru_maxrss``) with each result. ``peak_rss_mb.main`` is the process's exact peak
  (``VmHWM``).
* The ETA comes from measured costs, not from rows finished: each stage's remaining seconds of audio
  times its measured busy seconds per second of audio, divided by its workers; the run ends when its
  slowest stage does (the largest of these). A stage's first step is left out of its cost once later
  ones exist (it pays one-off set-up: loading a model, warming up). Reconstruction costs are per
  codec; a codec not started yet costs the measured reading time plus its family's estimate
  (``shards.CODEC_COST``) scaled by how the started codecs' own time compares with their estimates
  (those with the same estimate, when one has started).
  Busy seconds are measured while the stages share the cores, so the ETA errs long while they all
  run and shortens as stages finish. No ETA until every stage with work left has finished a step.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

STAGES = ("reconstruct", "model_metrics", "signal_metrics")
LABELS = {"reconstruct": "reconstruct", "model_metrics": "model metrics", "signal_metrics": "signal metrics"}
RSS_SECONDS = 0.05
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def current_rss() -> int:
    """Resident set size of this process in bytes (0 where /proc is not available)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def peak_rss() -> int:
    """This process's peak resident set size in bytes (``ru_maxrss``: KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass
class Stage:
    name: str
    label: str = ""
    workers: int = 1
    total: int = 0  # items this invocation gives the stage
    total_units: float = 0.0  # their seconds of audio (items, where a duration is unknown)
    done: int = 0
    done_units: float = 0.0
    busy: float = 0.0
    cpu: float = 0.0
    cpu_measured: bool = True  # False when a step came back without its CPU seconds (Ray)
    waits: Counter = field(default_factory=Counter)  # "input" / "output" -> seconds
    first: float | None = None  # monotonic time of the first step's start
    last: float | None = None  # of the last step's end
    current: str = ""
    running: int = 0  # steps in progress (RSS samples count for the stage while > 0)
    peak_rss: int = 0
    left: dict[str, float] = field(default_factory=dict)  # codec -> units still to do
    # steps, for the costs: per codec (reconstruct) or for the whole stage (key ""): [busy, units, fixed]
    # of the first step and the sum of all later ones (the first pays one-off set-up: model loading,
    # warm-up); ``fixed``: busy seconds that do not depend on the codec (reading the audio)
    steps: dict[str, list[list[float]]] = field(default_factory=dict)

    def cost(self, key: str) -> tuple[float, float] | None:
        """(busy, codec-independent busy) seconds per unit from the steps of ``key``: the later steps',
        or the first's while it is the only one; None before any."""
        first_later = self.steps.get(key)
        if not first_later:
            return None
        first, later = first_later
        use = later if later[1] > 0 else first
        if use[1] <= 0:
            return None
        return use[0] / use[1], use[2] / use[1]

    def rate(self) -> float | None:
        """Items per second while the stage works (its workers together; waiting for input not counted)."""
        if not self.done or self.busy <= 0:
            return None
        return self.done * self.workers / self.busy


class RunMonitor:
    """One invocation's live accounting (thread-safe). ``work``: per codec, the (codec, utterance) items
    to do; ``stages``: the stages this run has, with their worker counts; ``priors``: estimated codec
    costs per second of audio (``shards.codec_costs``)."""

    def __init__(self, work: dict[str, list[Any]], stages: dict[str, int], cores: int = 1,
                 priors: dict[str, float] | None = None, rows_total: int = 0, rows_done: int = 0,
                 labels: dict[str, str] | None = None):
        self.cores = max(1, cores)
        self.priors = priors or {}
        items = [w for ws in work.values() for w in ws]
        self.by_duration = all(getattr(w.utt, "duration", None) for w in items)
        labels = {**LABELS, **(labels or {})}
        self.stages = {s: Stage(s, labels.get(s, s), workers=max(1, n)) for s, n in stages.items()}
        for st in self.stages.values():
            for codec, ws in work.items():
                units = sum(self.units(w) for w in ws)
                st.left[codec] = units
                st.total += len(ws)
                st.total_units += units
        self.metrics: dict[str, dict[str, Any]] = {}
        self.rows_total, self.rows_done = rows_total, rows_done
        self.worker_rss = 0
        self.workers_cpu = 0.0  # CPU seconds of work done in metric worker processes
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ticks: list[tuple[float, Callable[[], None]]] = []
        self._changes: list[Callable[[], None]] = []

    def units(self, w: Any) -> float:
        return float(w.utt.duration) if self.by_duration else 1.0

    # -- feeding ----------------------------------------------------------------------------------
    def begin(self, stage: str, label: str = "") -> float:
        """A step of ``stage`` starts (on ``label``: a codec or a metric); returns the start time."""
        now = time.monotonic()
        with self._lock:
            st = self.stages.get(stage)
            if st is not None:
                st.first = now if st.first is None else st.first
                st.running += 1
                if label:
                    st.current = label
        return now

    def end(self, stage: str, codec: str, items: Iterable[Any], busy: float, cpu: float | None,
            running: bool = True, fixed: float = 0.0) -> None:
        """A step of ``stage`` finished ``items`` of ``codec`` in ``busy`` seconds (``cpu`` of them on a
        CPU; None: not measured; ``fixed`` of them whatever the codec: reading the audio). ``running``:
        the step was announced with ``begin``."""
        items = list(items)
        units = sum(self.units(w) for w in items)
        rss = current_rss() if running else 0  # a step shorter than RSS_SECONDS still gets one sample
        now = time.monotonic()
        with self._lock:
            st = self.stages.get(stage)
            if st is None:
                return
            st.peak_rss = max(st.peak_rss, rss)
            st.first = now - busy if st.first is None else st.first
            st.last = now
            st.running -= int(running)
            st.done += len(items)
            st.done_units += units
            st.busy += busy
            if cpu is None:
                st.cpu_measured = False
            else:
                st.cpu += cpu
            st.left[codec] = max(0.0, st.left.get(codec, 0.0) - units)
            for key in (codec, ""):
                steps = st.steps.get(key)
                if steps is None:
                    st.steps[key] = [[busy, units, fixed], [0.0, 0.0, 0.0]]
                else:
                    steps[1][0] += busy
                    steps[1][1] += units
                    steps[1][2] += fixed

    def dropped(self, stage: str, codec: str, items: Iterable[Any]) -> None:
        """Items that will not reach ``stage`` (they failed before it)."""
        items = list(items)
        units = sum(self.units(w) for w in items)
        with self._lock:
            st = self.stages.get(stage)
            if st is not None:
                st.total -= len(items)
                st.total_units -= units
                st.left[codec] = max(0.0, st.left.get(codec, 0.0) - units)

    def current(self, stage: str, label: str) -> None:
        """What ``stage`` works on now; a change (a codec loading, the next codec's metrics) redraws the
        display at once rather than at its next tick."""
        with self._lock:
            st = self.stages.get(stage)
            changed = st is not None and st.current != label
            if changed:
                st.current = label
        if changed:
            for fn in list(self._changes):
                try:
                    fn()
                except Exception:  # a display problem must not end the run
                    pass

    def on_change(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` (in the caller's thread) when a stage's current codec or metric changes."""
        self._changes.append(fn)

    def wait(self, stage: str, kind: str, seconds: float) -> None:
        """``seconds`` the stage waited on a queue: ``input`` (nothing to do) or ``output`` (next stage full)."""
        with self._lock:
            if stage in self.stages:
                self.stages[stage].waits[kind] += seconds

    def metric_costs(self, stage: str, costs: dict[str, list[float]], items: int) -> None:
        """Busy and CPU seconds per metric (``evaluate``'s ``costs``) for ``items`` items."""
        with self._lock:
            for name, (busy, cpu) in costs.items():
                m = self.metrics.setdefault(name, {"stage": stage, "items": 0, "busy_seconds": 0.0, "cpu_seconds": 0.0})
                m["items"] += items
                m["busy_seconds"] += busy
                m["cpu_seconds"] += cpu

    def worker_peak(self, stage: str, rss: int, cpu: float) -> None:
        """A metric worker's own peak RSS in bytes and the CPU seconds of the step it reports."""
        with self._lock:
            self.worker_rss = max(self.worker_rss, rss)
            self.workers_cpu += cpu
            if stage in self.stages:
                self.stages[stage].peak_rss = max(self.stages[stage].peak_rss, rss)

    def rows(self, n: int) -> None:
        with self._lock:
            self.rows_done += n

    # -- the sampler ------------------------------------------------------------------------------
    def every(self, seconds: float, fn: Callable[[], None]) -> None:
        """Call ``fn`` every ``seconds`` from the sampler thread (the progress display)."""
        self._ticks.append((seconds, fn))

    def start(self) -> RunMonitor:
        """Start sampling RSS (and the ``every`` callbacks) in a daemon thread."""
        self._thread = threading.Thread(target=self._sample, name="codecbench-monitor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _sample(self) -> None:
        due: dict[int, float] = {}
        while not self._stop.wait(RSS_SECONDS):
            rss = current_rss()
            with self._lock:
                for st in self.stages.values():
                    if st.running > 0 and st.name != "signal_metrics":
                        st.peak_rss = max(st.peak_rss, rss)
            now = time.monotonic()
            for k, (seconds, fn) in enumerate(list(self._ticks)):
                if now >= due.setdefault(k, now + seconds):
                    due[k] = now + seconds
                    try:
                        fn()
                    except Exception:  # a display problem must not end the run
                        pass

    # -- reading ----------------------------------------------------------------------------------
    def _left(self, st: Stage) -> float | None:
        """Busy seconds the stage still needs at its measured costs; None while unmeasured.
        Reconstruction is costed per codec; a codec not started yet costs the measured reading
        time plus its estimate (``priors``) scaled by how the started codecs' own time compares
        with their estimates."""
        if not any(st.left.values()):
            return 0.0
        if st.name != "reconstruct":
            cost = st.cost("")
            return None if cost is None else sum(st.left.values()) * cost[0]
        measured = {c: cost for c in st.left if c and (cost := st.cost(c)) is not None}
        if not measured:
            return None
        reading = sum(fixed for _, fixed in measured.values()) / len(measured)
        known = [c for c in measured if self.priors.get(c)]

        def scale(like: list[str]) -> float:  # measured own time / estimate
            return sum(measured[c][0] - measured[c][1] for c in like) / sum(self.priors[c] for c in like)

        total = 0.0
        for codec, left in st.left.items():
            if not left:
                continue
            if codec in measured:
                total += left * measured[codec][0]
            elif known and self.priors.get(codec):
                alike = [c for c in known if self.priors[c] == self.priors[codec]]  # same family estimate
                total += left * (reading + self.priors[codec] * scale(alike or known))
            else:
                total += left * sum(busy for busy, _ in measured.values()) / len(measured)
        return total

    def eta(self) -> float | None:
        """Seconds until the slowest stage is done (see the module docstring); None while unmeasured."""
        with self._lock:
            worst = 0.0
            for st in self.stages.values():
                left = self._left(st)
                if left is None:
                    return None
                worst = max(worst, left / st.workers)
            return worst

    def unmeasured_codecs(self) -> int:
        """Codecs with work left whose cost is still an estimate (not started yet)."""
        st = self.stages.get("reconstruct")
        if st is None:
            return 0
        with self._lock:
            return sum(1 for c, left in st.left.items() if c and left > 0 and st.cost(c) is None)

    def snapshot(self) -> dict[str, Any]:
        """What the display shows: elapsed, ETA, rows, and per stage done/total, rate, current label."""
        eta, guessed = self.eta(), self.unmeasured_codecs()
        with self._lock:
            return {"elapsed": time.monotonic() - self.started, "eta": eta, "estimated_codecs": guessed,
                    "rows": self.rows_done,
                    "rows_total": self.rows_total,
                    "stages": [{"name": st.name, "label": st.label, "done": st.done,
                                "total": st.total, "rate": st.rate(), "current": st.current, "workers": st.workers}
                               for st in self.stages.values()]}

    def timings(self) -> dict[str, Any]:
        """The profile for ``timings.json`` (see the module docstring)."""
        main = resource.getrusage(resource.RUSAGE_SELF)
        with self._lock:
            stages = {}
            for st in self.stages.values():
                span = (st.last - st.first) if st.first is not None and st.last is not None else 0.0
                stages[st.name] = {
                    "items": st.done, "audio_seconds": round(st.done_units, 3) if self.by_duration else None,
                    "workers": st.workers, "busy_seconds": round(st.busy, 3),
                    "cpu_seconds": round(st.cpu, 3) if st.cpu_measured else None,
                    "idle_seconds": round(max(0.0, span * st.workers - st.busy), 3),
                    "queue_wait_seconds": {k: round(v, 3) for k, v in sorted(st.waits.items())},
                    "peak_rss_mb": round(st.peak_rss / 2**20, 1)}
            metrics = {n: {**m, "busy_seconds": round(m["busy_seconds"], 3), "cpu_seconds": round(m["cpu_seconds"], 3)}
                       for n, m in sorted(self.metrics.items())}
            return {"cores": self.cores, "stages": stages, "metrics": metrics,
                    "cpu_seconds": {"main": round(main.ru_utime + main.ru_stime, 3),
                                    "workers": round(self.workers_cpu, 3)},
                    "peak_rss_mb": {"main": round(peak_rss() / 2**20, 1),
                                    "signal_worker": round(self.worker_rss / 2**20, 1)}}
