"""Scoring without a codec (``codecbench score``): one pair of audio files to compact JSON, or a pair
list (Kaldi wav.scp files, folders, or a JSONL of id/ref/deg) to a run folder.

A pair list is a run like any other (``BenchConfig.degraded``): the same plan, stages, local
executor, resume and run folder as ``codecbench run``, with the degraded files loaded where a codec
would run (``pipeline.stages.load_degraded``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codecbench import audio, inputs
from codecbench.config import BenchConfig, MetricSpec
from codecbench.data.loaders import AUDIO_EXTENSIONS
from codecbench.errors import CodecbenchError
from codecbench.metrics.base import MetricInput
from codecbench.metrics.registry import all_metrics, create
from codecbench.pipeline.evaluate import evaluate
from codecbench.types import Failure, Utterance

DEFAULTS = BenchConfig()


class InputRejected(CodecbenchError):
    """A file of a two-file ``score`` that would fail its row in a pair list (the same reason)."""


def default_score_metrics() -> list[str]:
    """The metrics scored by default: the default signal metrics that need only the two files (a
    reference, no model, no codec codes or timings) — PESQ, STOI, ESTOI, mel distance, SI-SDR."""
    return [n for n, m in all_metrics().items()
            if (i := m.info()).default and i.needs_reference and not i.batched and not i.needs_codes and not i.model]


def prepare_pair(ref_path: str | Path, deg_path: str | Path, text: str | None = None, lang: str | None = None,
                 min_duration: float = DEFAULTS.min_duration,
                 max_duration: float = DEFAULTS.max_duration) -> tuple[MetricInput, dict[str, Any]]:
    """Read both files through the input gate a run uses (``codecbench.inputs``: the same checks and
    reasons as a row of a pair list; a reference or degraded file that would fail its row is an
    ``InputRejected``), and bring the degraded one to the reference's rate; lengths stay as given.

    Self-aligning metrics (PESQ, ViSQOL) score the signals as they are; metrics that need equal
    lengths align them with ``audio.align_lengths``. ``length_note`` says when that alignment drops
    more than ``audio.LENGTH_TOLERANCE_S``; ``flags`` carries the reference's notes (clipping, a
    silent channel, ...).
    """
    try:
        checked = inputs.read_reference(ref_path)
        reason = inputs.reference_reason(checked, min_duration, max_duration)
    except audio.AudioError as exc:
        reason = str(exc)
    if reason:
        raise InputRejected(_named("reference", ref_path, reason))
    try:
        deg, sr_deg = inputs.read_degraded(deg_path, max_duration)
    except (ValueError, audio.AudioError) as exc:
        raise InputRejected(_named("degraded file", deg_path, str(exc))) from None
    ref, sr = checked.wave, checked.sr
    deg = audio.resample(deg, sr_deg, sr)
    notes = {"ref_sample_rate": sr, "deg_sample_rate": sr_deg, "ref_samples": len(ref), "deg_samples": len(deg),
             "length_note": audio.length_note(len(ref), len(deg), sr), "flags": checked.flags}
    u = Utterance(id=Path(ref_path).stem, path=str(ref_path), source_sr=sr, duration=len(ref) / sr, text=text,
                  lang=lang)  # text and lang: what ASR metrics (wer) need; lang is forced on the ASR
    return MetricInput(ref=ref, deg=deg, sample_rate=sr, utterance=u), notes


def _named(side: str, path: str | Path, reason: str) -> str:
    return f"{side}: {reason}" if str(path) in reason else f"{side} {path}: {reason}"


def score_pair(x: MetricInput, specs: list[MetricSpec]) -> dict[str, Any]:
    """Values, failures and metric metadata for one pair (compact: metadata once per metric)."""
    metrics = [create(s.name, s.options) for s in specs]
    runnable = []
    values: dict[str, Any] = {}
    failures: dict[str, Any] = {}
    for m in metrics:
        reason = m.unavailable_reason()
        if reason:
            failures.update({o.name: {"kind": "unavailable", "reason": reason} for o in m.info().outputs})
        else:
            m.setup("cpu")
            runnable.append(m)
    (res,) = evaluate(runnable, [x])
    for m in metrics:
        for o in m.info().outputs:
            if o.name in failures:
                values[o.name] = None
                continue
            v = res.get(o.name, Failure.failed("not computed"))
            values[o.name] = None if isinstance(v, Failure) else v
            if isinstance(v, Failure):
                failures[o.name] = {"kind": v.kind.value, "reason": v.reason}
    meta = {}
    for m in metrics:
        info = m.info().to_dict()
        info["outputs"] = [o["name"] for o in info["outputs"]]
        meta[m.name] = {**{k: v for k, v in info.items() if v not in (None, "", False) or k == "batched"},
                        "options": m.opts}
    return {"values": values, "failures": failures, "metrics": meta}


def score_files(ref: str, deg: str, metric_names: list[str | MetricSpec] | None = None, metric_opts: list[str] | None = None,
                text: str | None = None, lang: str | None = None, max_duration: float | None = None) -> dict[str, Any]:
    from codecbench.pipeline.resolve import resolve_metrics

    cfg = BenchConfig(metrics=[MetricSpec.of(n) for n in metric_names or default_score_metrics()])
    if metric_opts:
        cfg = cfg.with_metric_options(metric_opts)
    specs = resolve_metrics(cfg.metrics or [], "cpu")
    x, notes = prepare_pair(ref, deg, text, lang, cfg.min_duration,
                            cfg.max_duration if max_duration is None else max_duration)
    return {"ref": str(ref), "deg": str(deg), **notes, **score_pair(x, specs)}


def is_audio_file(path: str | Path) -> bool:
    """Whether a ``score`` argument names one audio file (not a pair list)."""
    return Path(path).suffix.lower() in AUDIO_EXTENSIONS


def pairs_config(ref: str, deg: str | None, label: str | None = None,
                 metric_names: list[str | MetricSpec] | None = None,
                 metric_opts: list[str] | None = None, **execution: Any) -> BenchConfig:
    """The run config of a pair list: REF and DEG lists (or REF alone: a JSONL of id/ref/deg).

    Without ``metric_names`` the metrics of ``default_score_metrics()`` are scored, and one that
    cannot run here is recorded as unavailable (named metrics that cannot run stop the run).
    """
    cfg = BenchConfig(dataset=str(ref), degraded=None if deg is None else str(deg), dataset_format="pairs",
                      codecs=[label] if label else None,
                      metrics=[MetricSpec.of(n) for n in metric_names or default_score_metrics()],
                      require_metrics=bool(metric_names), **{k: v for k, v in execution.items() if v is not None})
    cfg.validate("command line")
    return cfg.with_metric_options(metric_opts) if metric_opts else cfg
