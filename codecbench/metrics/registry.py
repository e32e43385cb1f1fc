"""Metric registry: built-in metric modules plus plugins from the ``codecbench.metrics`` entry points.

Each module in ``BUILTIN_MODULES`` exposes ``metrics() -> list[Metric]`` and stays cheap to import
(models load in ``Metric.setup``). Metrics are selected by metric name or by output column name.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import warnings
from importlib.metadata import entry_points

from codecbench import has_module
from codecbench.errors import UnknownName
from codecbench.metrics.base import Metric

ENTRY_POINT_GROUP = "codecbench.metrics"

BUILTIN_MODULES = (
    "codecbench.metrics.pesq",
    "codecbench.metrics.stoi",
    "codecbench.metrics.spectral",
    "codecbench.metrics.bitrate",
    "codecbench.metrics.codebook",
    "codecbench.metrics.throughput",
    "codecbench.metrics.visqol",
    "codecbench.metrics.speaker",
    "codecbench.metrics.asr",
    "codecbench.metrics.dnsmos",
    "codecbench.metrics.abx",
)

_METRICS: dict[str, Metric] | None = None


def all_metrics() -> dict[str, Metric]:
    global _METRICS
    if _METRICS is not None:
        return _METRICS
    found: dict[str, Metric] = {}
    for mod_name in BUILTIN_MODULES:
        if not has_module(mod_name):
            continue
        for m in importlib.import_module(mod_name).metrics():
            found[m.name] = m
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
            items = obj() if callable(obj) and not isinstance(obj, Metric) else obj
            for m in [items] if isinstance(items, Metric) else items:
                found.setdefault(m.name, m)
        except Exception as exc:
            warnings.warn(f"metric plugin {ep.name!r} failed to load: {exc}", stacklevel=2)
    _METRICS = found
    return found


def get_metric(name: str) -> Metric:
    return all_metrics()[name]


def output_owner() -> dict[str, str]:
    """Output column name -> metric name."""
    return {o.name: m.name for m in all_metrics().values() for o in m.info().outputs}


def select(names: list[str] | None) -> list[Metric]:
    """Metrics for a list of metric or output names; None means the default set."""
    metrics = all_metrics()
    if not names:
        return [m for m in metrics.values() if m.info().default]
    owners = output_owner()
    chosen: list[str] = []
    for n in names:
        key = n if n in metrics else owners.get(n)
        if key is None:
            known = sorted(set(metrics) | set(owners))
            close = difflib.get_close_matches(n, known, n=3)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise UnknownName(f"unknown metric {n!r}.{hint} Known: {', '.join(known)}")
        if key not in chosen:
            chosen.append(key)
    return [metrics[k] for k in chosen]
