"""The signal-metric worker pool of the local executor: what runs inside its worker processes.

Worker start-up is part of every run's wall time, so: this module imports only the metrics (not the
codec registry or the executor); workers are forked from a ``forkserver`` process that imports this
module and the run's metric modules once (``start_server``, called as soon as the config is
resolved, so that happens while the run is planned) instead of each worker importing them; and the
workers start when the pool is made, not at the first item. A forked worker takes the parent's
current environment (``_init_worker``) and working directory (multiprocessing) at start, as a
spawned one would.
Where there is no forkserver, workers are spawned. Workers and the forkserver die with the run,
kill -9 included, and leave SIGINT/SIGTERM to it (``lifeline``).

The pool is the parallelism: each worker's numerical libraries (OpenBLAS, MKL, OpenMP) run one
thread (``WORKER_THREADS``) unless the user set a count, so N workers never run N x cores threads
(measured: 116 PESQ+STOI pairs on 2 cores took 16.2 s CPU with OpenBLAS's default threads, 13.3 s
with one each, same values).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

from codecbench.allocator import retain_freed_memory
from codecbench.metrics.base import Metric, MetricInput, Values
from codecbench.pipeline import lifeline, stages
from codecbench.pipeline.monitor import peak_rss

# thread counts of a worker's numerical libraries, where the environment does not set them
WORKER_THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
_WORKER_METRICS: list[Metric] = []  # this worker's run: its signal metrics, set up (``stages.signal_metrics``)
_PRELOAD: dict[str, None] = {}  # metric modules the forkserver imports, in order


def _context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def start_server(modules: Iterable[str] = ()) -> None:
    """Start the forkserver now (it runs alongside this process), importing this module and the
    metric ``modules`` once for every worker (a server already running keeps what it imported). The
    server dies with this process (``lifeline_server``)."""
    ctx = _context()
    if ctx.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        _PRELOAD.update(dict.fromkeys(modules))  # kept for a server restarted later in this process
        ctx.set_forkserver_preload(["codecbench.pipeline.lifeline_server", __name__, *_PRELOAD])
        # ENV_PARENT: read by lifeline_server in the new server; the thread counts apply to numpy
        # as the server imports it, so to every worker forked from it
        with _environment({lifeline.ENV_PARENT: str(os.getpid()), **_unset_threads()}):
            forkserver.ensure_running()


def worker_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's environment) with ``WORKER_THREADS`` where it sets no count."""
    out = dict(os.environ if env is None else env)
    for key, value in WORKER_THREADS.items():
        out.setdefault(key, value)
    return out


def _unset_threads() -> dict[str, str]:
    """``WORKER_THREADS`` that this process's environment does not set."""
    return {k: v for k, v in WORKER_THREADS.items() if k not in os.environ}


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for processes started inside the block (restored after it)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def server_cpu_seconds() -> float:
    """CPU seconds of this process's forkserver and the workers it has reaped (0 without one): forked
    workers are not this process's children, so its rusage does not count them (for benchmarks)."""
    from multiprocessing import forkserver

    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)
    if not pid:
        return 0.0
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime


def _init_worker(metrics: list[Metric], workdir: str, quiet: bool = True, env: dict[str, str] | None = None,
                 run_pid: int | None = None) -> None:
    """Set up a worker's metrics. ``quiet``: native libraries' log lines (e.g. TFLite's "Created
    TensorFlow Lite XNNPACK delegate") go to ``<run>/workers.log`` instead of over the progress bar.
    ``env``: the parent's, applied in a worker forked from a server started earlier (multiprocessing
    itself gives every new worker the parent's current working directory). ``run_pid``: the run's
    process, in a worker process (not inline): the worker dies with it (``lifeline``)."""
    global _WORKER_METRICS
    if run_pid is not None:
        lifeline.worker_setup(run_pid)
        retain_freed_memory()  # a worker scores item after item: no page faults for each one's arrays
    if env is not None and env != os.environ:
        os.environ.clear()
        os.environ.update(env)
    if quiet:
        log = os.open(os.path.join(workdir, "workers.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
        os.dup2(log, 2)
        os.close(log)
    _WORKER_METRICS = stages.signal_metrics(metrics, workdir, fresh=True)


def _signal_values(names: tuple[str, ...], x: MetricInput) -> Values:
    return stages.signal_values(_WORKER_METRICS, names, x)


@dataclass
class Spent:
    """What one item's signal metrics cost in the worker: busy and CPU seconds (this thread's), the
    same per metric, and the worker process's peak RSS in bytes so far."""

    busy: float
    cpu: float
    metrics: dict[str, list[float]]
    peak_rss: int


def timed_signal_values(names: tuple[str, ...], x: MetricInput) -> tuple[Values, Spent]:
    t, c = time.perf_counter(), time.thread_time()
    costs: dict[str, list[float]] = {}
    values = stages.signal_values(_WORKER_METRICS, names, x, costs)
    return values, Spent(time.perf_counter() - t, time.thread_time() - c, costs, peak_rss())


def _isolated_main(conn, metrics: list[Metric], workdir: str, names: tuple[str, ...], x: MetricInput,
                   run_pid: int) -> None:
    _init_worker(metrics, workdir, run_pid=run_pid)
    conn.send(_signal_values(names, x))
    conn.close()


def run_isolated(metrics: list[Metric], workdir: str, names: tuple[str, ...], x: MetricInput) -> Values | str:
    """Signal metrics of one item in a process of its own: the values, or why the process died."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_isolated_main, args=(child, metrics, workdir, names, x, os.getpid()), daemon=True)
    with _environment(_unset_threads()):
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


def _ready() -> None:
    """A no-op task: submitting one per worker starts the workers (spawned on demand otherwise)."""


def make_pool(workers: int, metrics: list[Metric], workdir: str):
    """The CPU pool (``workers`` processes; 0: inline), its workers started at once so their start-up
    overlaps model set-up and the first batch's loading and reconstruction."""
    if workers <= 0:
        return _Inline(metrics, workdir)
    start_server()  # no-op when the run started it; else the server gets its lifeline now
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=_context(), initializer=_init_worker,
                               initargs=(metrics, workdir, True, worker_env(), os.getpid()))
    with _environment(_unset_threads()):  # spawned workers (no forkserver) start here
        for _ in range(workers):
            pool.submit(_ready)
    return pool
