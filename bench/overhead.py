"""Harness overhead: wall time of `codecbench run` against the sum of single-call costs on the same clips.

Single-call cost = one codec.reconstruct per clip + each metric computed directly, one after the
other, in this process. The ratio (harness / single calls) prints at the end; below 1 means the
worker pool's concurrency more than pays for loading, resampling, bookkeeping and writing.

    python bench/overhead.py [--dataset MANIFEST] [--codec opus-12kbps] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from codecbench import audio
from codecbench.codecs.registry import load_codec
from codecbench.config import BenchConfig
from codecbench.data import filter_langs, load_dataset
from codecbench.metrics.base import MetricInput, safe_compute
from codecbench.metrics.registry import select
from codecbench.pipeline import run

METRICS = ["pesq_wb", "pesq_nb", "stoi", "estoi", "mel_distance", "si_sdr", "bitrate", "rtf"]


def main() -> None:
    shared = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "manifest.json"
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default=str(shared) if shared.exists() else None)
    p.add_argument("--langs", default="hi,en" if shared.exists() else None)
    p.add_argument("--codec", default="opus-12kbps")
    p.add_argument("--workers", type=int, default=None)
    args = p.parse_args()
    langs = args.langs.split(",") if args.langs else None
    utts = filter_langs(load_dataset(args.dataset), langs)
    metrics = select(METRICS)

    codec = load_codec(args.codec, "cpu")
    single = 0.0
    for i, u in enumerate([utts[0], *utts]):  # the first pass over clip 0 only warms up imports and caches
        t0 = time.perf_counter()
        x, sr = audio.load(u.path)
        rec = codec.reconstruct(x[None], np.array([len(x)]), sr)
        mi = MetricInput(ref=x, deg=rec.item(0), sample_rate=sr, utterance=u, codec=codec.info,
                         bits=float(rec.bits[0]) if rec.bits is not None else None,
                         encode_seconds=rec.encode_seconds, decode_seconds=rec.decode_seconds)
        for m in metrics:
            safe_compute(m, mi)
        if i > 0:
            single += time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run(BenchConfig(codecs=[args.codec], dataset=args.dataset, langs=langs, metrics=METRICS, workers=args.workers,
                      save_audio="none"), out=Path(tmp) / "run", progress=False)
        harness = time.perf_counter() - t0

    audio_s = sum(u.duration or 0 for u in utts)
    workers = args.workers if args.workers is not None else max(1, (os.cpu_count() or 2) - 1)
    print(f"clips: {len(utts)} ({audio_s:.1f} s of audio), codec {args.codec}, metrics {', '.join(METRICS)}")
    print(f"cores: {os.cpu_count()}, metric workers: {workers}, python {sys.version.split()[0]}")
    print(f"sum of single calls (codec + metrics, sequential, warm): {single:.2f} s")
    print(f"harness wall time (codecbench run, incl. worker start-up, summaries): {harness:.2f} s")
    print(f"overhead ratio harness / single calls: {harness / single:.2f}")


if __name__ == "__main__":
    main()
