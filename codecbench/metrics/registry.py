"""Metric registry (``METRICS``, a ``codecbench.registry.Registry``): built-in metric modules plus
plugins from the ``codecbench.metrics`` entry points.

Each module in ``BUILTIN_MODULES`` exposes ``metrics() -> list[Metric]``: prototypes that describe a
metric and its options, cheap to import (models load in ``Metric.setup``). A run never uses a
prototype: ``create(name, options)`` returns a fresh, configured instance. Metrics are selected by
metric name, by output column name, or by family (``pesq`` = pesq_wb + pesq_nb; see ``FAMILIES``).
"""

from __future__ import annotations

import difflib
import functools
from typing import Any

from codecbench.errors import UnknownName
from codecbench.metrics.base import Metric
from codecbench.registry import Registry

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
    "codecbench.metrics.mos",
    "codecbench.metrics.abx",
    "codecbench.metrics.reference",
)

# A family name selects several metrics (`--metrics pesq`).
FAMILIES = {
    "pesq": ("pesq_wb", "pesq_nb"),
    "stoi": ("stoi", "estoi"),
    "visqol": ("visqol_speech", "visqol_audio"),
    "speaker": ("spk_sim_ecapa", "spk_sim_ge2e"),
    "wavlm": ("spk_sim_wavlm", "spk_sim_wavlm_ecapa"),
}

METRICS: Registry[Metric] = Registry("metric", ENTRY_POINT_GROUP, BUILTIN_MODULES, "metrics", Metric)


def all_metrics() -> dict[str, Metric]:
    """Every metric prototype by name (built-ins first, then plugins); the live mapping."""
    return METRICS.all()


def get_metric(name: str) -> Metric:
    """The prototype of a metric (metadata and declared options; never set up)."""
    return METRICS.get(name)


def create(name: str, options: dict[str, Any] | None = None) -> Metric:
    """A fresh metric instance configured with resolved ``options`` (see ``codecbench.pipeline.resolve``)."""
    proto = all_metrics().get(name)
    if proto is None:
        raise UnknownName(f"unknown metric {name!r}. Known: {', '.join(sorted(all_metrics()))}")
    unknown = sorted(set(options or {}) - set(proto.options))
    if unknown:
        valid = ", ".join(sorted(proto.options)) or "none"
        raise UnknownName(f"metric {name!r} has no option {', '.join(map(repr, unknown))}; its options: {valid}")
    return proto.configure(dict(options or {}))


def configured(name: str, options: dict[str, Any] | None = None) -> Metric | None:
    """The metric ``name`` configured with options as a run folder stored them (metrics.json), for its
    declarations and aggregate; None when it is not registered here (e.g. a plugin not installed)."""
    proto = all_metrics().get(name)
    return None if proto is None else proto.configure(dict(options or {}))


def output_owner() -> dict[str, str]:
    """Output column name -> metric name."""
    return {o.name: m.name for m in all_metrics().values() for o in m.info().outputs}


def default_names() -> list[str]:
    return [n for n, m in all_metrics().items() if m.info().default and not m.info().data_check]


def data_check_names() -> list[str]:
    """Metrics every run computes whatever its metric list (``MetricInfo.data_check``)."""
    return [n for n, m in all_metrics().items() if m.info().data_check]


@functools.cache
def trained_languages(name: str) -> tuple[str, ...]:
    """The languages a metric's model was trained on (``MetricInfo.trained_languages``; () when not declared)."""
    m = all_metrics().get(name)
    return tuple(m.info().trained_languages or ()) if m is not None else ()


def resolve_names(names: list[str]) -> list[str]:
    """Metric names for metric, output-column or family names, in order, without repeats."""
    metrics = all_metrics()
    owners = output_owner()
    chosen: list[str] = []
    for n in names:
        keys = list(FAMILIES.get(n, ())) or ([n] if n in metrics else [owners[n]] if n in owners else [])
        if not keys:
            known = sorted(set(metrics) | set(owners) | set(FAMILIES))
            close = difflib.get_close_matches(n, known, n=3)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise UnknownName(f"unknown metric {n!r}.{hint} Known: {', '.join(known)}")
        chosen += [k for k in keys if k in metrics and k not in chosen]
    return chosen


def select(names: list[str] | None) -> list[Metric]:
    """Fresh default-configured metrics for metric/output/family names; None or [] means the default set."""
    return [create(n) for n in (resolve_names(names) if names else default_names())]
