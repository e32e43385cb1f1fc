"""Score one reference/degraded pair without any codec (``codecbench score``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codecbench import audio
from codecbench.metrics.base import Failure, Metric, MetricInput, safe_compute
from codecbench.metrics.registry import select
from codecbench.types import Utterance

# Signal metrics scored by default: the ones that need only the two files.
DEFAULT_SCORE_METRICS = ["pesq_wb", "pesq_nb", "stoi", "estoi", "mel_distance", "si_sdr"]


def prepare_pair(ref_path: str | Path, deg_path: str | Path) -> tuple[MetricInput, dict[str, Any]]:
    """Load both files and bring the degraded one to the reference's rate; lengths stay as given.

    Self-aligning metrics (PESQ, ViSQOL) score the signals as they are; metrics that need equal
    lengths align them with ``audio.align_lengths``. ``length_note`` says when that alignment drops
    more than ``audio.LENGTH_TOLERANCE_S``.
    """
    ref, sr = audio.load(ref_path)
    deg, sr_deg = audio.load(deg_path)
    deg = audio.resample(deg, sr_deg, sr)
    notes = {"ref_sample_rate": sr, "deg_sample_rate": sr_deg, "ref_samples": len(ref), "deg_samples": len(deg),
             "length_note": audio.length_note(len(ref), len(deg), sr)}
    u = Utterance(id=Path(ref_path).stem, path=str(ref_path), source_sr=sr, duration=len(ref) / sr)
    return MetricInput(ref=ref, deg=deg, sample_rate=sr, utterance=u), notes


def score_pair(x: MetricInput, metrics: list[Metric]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for m in metrics:
        info = m.info()
        reason = m.unavailable_reason()
        if reason:
            results = {o.name: Failure.unavailable(reason) for o in info.outputs}
        else:
            m.setup("cpu")
            results = m.compute_batch([x])[0] if info.batched else safe_compute(m, x)
        meta = info.to_dict()
        meta.pop("outputs")
        for o in info.outputs:
            v = results.get(o.name, Failure.failed("not computed"))
            values[o.name] = {"value": None if isinstance(v, Failure) else v,
                              "failure": v.reason if isinstance(v, Failure) else None,
                              "failure_kind": v.kind.value if isinstance(v, Failure) else None, "metric": meta}
    return values


def score_files(ref: str, deg: str, metric_names: list[str] | None = None) -> dict[str, Any]:
    x, notes = prepare_pair(ref, deg)
    metrics = select(metric_names or DEFAULT_SCORE_METRICS)
    return {"ref": str(ref), "deg": str(deg), **notes, "metrics": score_pair(x, metrics)}
