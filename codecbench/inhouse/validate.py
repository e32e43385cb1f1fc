"""Periodic validation while training: held-out utterances reconstructed by the model as it ships (eval
mode: all quantizers, the config's phase refinement) and scored with codecbench's own PESQ-wb, STOI and
mel distance, per condition (``codecbench.data.conditions``: ``clean`` and derived ones that need no
outside tool). Each figure is the mean over the utterances it could be computed for; a metric that
fails everywhere (e.g. no ``pesq`` package) is reported as unavailable with its reason, never as a number.
"""

from __future__ import annotations

import time

import numpy as np

METRICS = ("pesq_wb", "stoi", "mel_distance")
LABELS = {"pesq_wb": "PESQ-wb", "stoi": "STOI", "mel_distance": "mel"}


class Validator:
    def __init__(self, held: list[tuple[str, np.ndarray]], sample_rate: int, conditions: list[str]):
        from codecbench.data.conditions import TOOLS, derive
        from codecbench.metrics.registry import get_metric

        needs_tool = [c for c in conditions if c in TOOLS]
        if needs_tool:
            raise ValueError(f"validation conditions {needs_tool} need {TOOLS[needs_tool[0]]}; pick ones computed "
                             "in-process (clean, lowpass-*, noise-*, level-*, clip-*)")
        self.sample_rate = sample_rate
        self.sets = {c: [(uid, derive(w, sample_rate, c, uid)) for uid, w in held] for c in conditions}
        self.metrics = {m: get_metric(m) for m in METRICS}
        self.n = len(held)
        self.seconds = sum(len(w) for _, w in held) / sample_rate

    def __call__(self, model, device: str) -> dict:
        """{condition: {metric: mean or None}, "failures": {metric: reason}, "seconds": wall time}."""
        import torch

        from codecbench.metrics.base import Failure, MetricInput, safe_compute
        from codecbench.types import Utterance

        t0 = time.perf_counter()
        was_training = model.training
        model.eval()
        out: dict = {"failures": {}}
        try:
            for cond, items in self.sets.items():
                values: dict[str, list[float]] = {m: [] for m in METRICS}
                for uid, wave in items:
                    with torch.no_grad():
                        y, _ = model(torch.from_numpy(wave).to(device)[None, None])
                    deg = y[0, 0].float().cpu().numpy()
                    x = MetricInput(ref=wave, deg=deg, sample_rate=self.sample_rate,
                                    utterance=Utterance(id=uid, source_sr=self.sample_rate))
                    for m, metric in self.metrics.items():
                        v = safe_compute(metric, x)[m]
                        if isinstance(v, Failure):
                            out["failures"].setdefault(m, v.reason)
                        else:
                            values[m].append(float(v))
                out[cond] = {m: (round(float(np.mean(v)), 4) if v else None) for m, v in values.items()}
        finally:
            model.train(was_training)
        out["seconds"] = round(time.perf_counter() - t0, 1)
        return out


def format_result(res: dict) -> str:
    """'clean PESQ-wb 1.94 STOI 0.894 mel 0.294 | lowpass-4000 ...' (n/a where a metric is unavailable)."""
    parts = []
    for cond, vals in res.items():
        if cond in ("failures", "seconds", "step"):
            continue
        parts.append(cond + " " + " ".join(
            f"{LABELS[m]} {'n/a' if v is None else format(v, '.3f')}" for m, v in vals.items()))
    return " | ".join(parts)
