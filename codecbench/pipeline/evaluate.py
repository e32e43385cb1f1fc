"""One way to call metrics: ``evaluate(metrics, items)`` turns every exception into recorded failures.

Used by every executor's model-metric and signal-metric stages and by ``codecbench score``. Batched
(model) metrics get the whole list through ``compute_batch``; the others are called per item. An
``Unavailable`` raised while computing (a model or package missing) is recorded as ``unavailable``.
``costs`` collects each metric's busy and CPU seconds (the calling thread's: a library's own helper
threads, e.g. torch's, are not in it) for the run's profile (``pipeline.monitor``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from codecbench.errors import Unavailable
from codecbench.metrics.base import Metric, MetricInput, Values, complete, fail_all, safe_compute
from codecbench.types import Failure

Costs = dict[str, list[float]]  # metric name -> [busy seconds, CPU seconds]


def evaluate(metrics: list[Metric], items: list[MetricInput], costs: Costs | None = None,
             announce: Callable[[str], None] | None = None) -> list[Values]:
    """Values of every metric's outputs for every item (a Failure where it failed). ``announce``:
    called with each metric's name before it runs (the progress display)."""
    out: list[Values] = [{} for _ in items]
    if not items:
        return out
    for m in metrics:
        if announce is not None:
            announce(m.name)
        t, c = time.perf_counter(), time.thread_time()
        if m.info().batched:
            try:
                results = m.compute_batch(items)
                if len(results) != len(items):
                    raise RuntimeError(f"{m.name} returned {len(results)} results for {len(items)} items")
            except Unavailable as exc:  # a model or package missing: not a value, computed by a later run
                results = [fail_all(m, Failure.unavailable(str(exc))) for _ in items]
            except Exception as exc:  # a metric bug must not end a run; the reason says what happened
                results = [fail_all(m, Failure.failed(f"{type(exc).__name__}: {exc}")) for _ in items]
            for vals, res in zip(out, results, strict=True):
                vals.update(complete(m, res))
        else:
            for vals, x in zip(out, items, strict=True):
                vals.update(safe_compute(m, x))
        if costs is not None:
            spent = costs.setdefault(m.name, [0.0, 0.0])
            spent[0] += time.perf_counter() - t
            spent[1] += time.thread_time() - c
    return out
