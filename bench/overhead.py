"""Harness overhead and throughput of `codecbench run`, measured against calling the codec and metrics directly.

Three things are timed on the same clips, in alternating order, ``--repeats`` times (medians printed):

* single calls: per clip, ``codec.reconstruct`` + each metric's ``safe_compute``, one after the
  other in this process (no harness);
* ``codecbench run --workers 0``: the harness with every metric inline, so
  overhead = harness / single calls (loading, resampling, bookkeeping, writing; no parallelism to hide it);
* ``codecbench run --workers N``: throughput, compared with the ideal single calls / N
  (efficiency = ideal / measured; 1.0 means perfect scaling over N worker processes).

Everything is warmed up once (imports, codec, metric set-up, a harness run) before timing. CPU
seconds are this process's plus its reaped children's and its forkserver's (the worker pool), per
side, medians too.
Every harness run writes a fresh run folder (no resume short-cut).

    PYTHONPATH=. python bench/overhead.py [--dataset MANIFEST --langs hi,en] [--codec opus-12kbps] [--workers N]
    PYTHONPATH=. python bench/overhead.py --synthetic 2 --repeats 3        # tiny input (make bench-smoke)
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from codecbench import audio
from codecbench.cli import main as cli
from codecbench.codecs.registry import load_codec
from codecbench.data import filter_langs, load_dataset
from codecbench.metrics.base import MetricInput, safe_compute
from codecbench.metrics.registry import select
from codecbench.pipeline.workers import server_cpu_seconds

METRICS = ["pesq_wb", "pesq_nb", "stoi", "estoi", "mel_distance", "si_sdr", "bitrate", "rtf"]


def cpu_seconds() -> float:
    """This process's, its reaped children's and its forkserver's (the pool's workers are forked there)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime + server_cpu_seconds()


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds incl. reaped children) of one call."""
    c0, t0 = cpu_seconds(), time.perf_counter()
    fn()
    return time.perf_counter() - t0, cpu_seconds() - c0


def synthetic_manifest(folder: Path, n: int, seconds: float = 2.0) -> Path:
    """n speech-like 16 kHz clips (harmonic tone, moving pitch, amplitude modulation)."""
    from codecbench.testing import test_signal

    rows = []
    for i in range(n):
        audio.save(folder / f"s{i}.wav", test_signal(seconds + 0.3 * i, 16000, i), 16000)
        rows.append(json.dumps({"id": f"s{i}", "path": f"s{i}.wav", "lang": "xx"}))
    (folder / "manifest.jsonl").write_text("\n".join(rows) + "\n")
    return folder / "manifest.jsonl"


def main(argv: list[str] | None = None) -> int:
    shared = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "manifest.json"
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default=str(shared) if shared.exists() else None)
    p.add_argument("--langs", default="hi,en" if shared.exists() else None)
    p.add_argument("--synthetic", type=int, default=0, help="use N synthetic clips instead of --dataset")
    p.add_argument("--codec", default="opus-12kbps")
    p.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    if args.repeats < 3:
        p.error("--repeats must be >= 3 (medians of alternating repeats)")
    tmp = tempfile.TemporaryDirectory()
    if args.synthetic or not args.dataset:
        args.dataset, args.langs = str(synthetic_manifest(Path(tmp.name), args.synthetic or 4)), None
    langs = args.langs.split(",") if args.langs else None
    utts = filter_langs(load_dataset(args.dataset), langs)
    waves = [audio.load(u.path) for u in utts]
    metrics = select(METRICS)
    for m in metrics:
        m.setup("cpu")
    codec = load_codec(args.codec, "cpu")

    def single() -> None:
        for u, (x, sr) in zip(utts, waves, strict=True):
            rec = codec.reconstruct(x[None], np.array([len(x)]), sr)
            mi = MetricInput(ref=x, deg=rec.item(0), sample_rate=sr, utterance=u, codec=codec.info,
                             codes=rec.codes[0] if rec.codes else None,
                             bits=float(rec.bits[0]) if rec.bits is not None else None,
                             encode_seconds=rec.encode_seconds, decode_seconds=rec.decode_seconds)
            for m in metrics:
                safe_compute(m, mi)

    runs = iter(range(10**6))

    def harness(workers: int) -> Callable[[], None]:
        def go() -> None:
            argv = ["run", "--codecs", args.codec, "--dataset", args.dataset, "--metrics", ",".join(METRICS),
                    "--workers", str(workers), "--save-audio", "none", "--out", f"{tmp.name}/run{next(runs)}", "-q"]
            if langs:
                argv += ["--langs", ",".join(langs)]
            with contextlib.redirect_stdout(io.StringIO()):  # the run folder path it prints
                rc = cli(argv)
            if rc != 0:
                raise SystemExit("codecbench run failed")
        return go

    sides = {"single": single, "workers0": harness(0), f"workers{args.workers}": harness(args.workers)}
    for fn in sides.values():  # warm-up: imports, caches, pool start-up code paths
        fn()
    wall: dict[str, list[float]] = {k: [] for k in sides}
    cpu: dict[str, list[float]] = {k: [] for k in sides}
    order = list(sides)
    for r in range(args.repeats):  # alternate (rotate) the order so drift hits every side alike
        for k in order[r % 3:] + order[: r % 3]:
            w, c = timed(sides[k])
            wall[k].append(w)
            cpu[k].append(c)
    med = {k: statistics.median(v) for k, v in wall.items()}
    medc = {k: statistics.median(v) for k, v in cpu.items()}
    audio_s = sum(len(x) / sr for x, sr in waves)
    n = args.workers
    print(f"clips: {len(utts)} ({audio_s:.1f} s of audio), codec {args.codec}, metrics {', '.join(METRICS)}")
    print(f"cores: {os.cpu_count()}, python {sys.version.split()[0]}; medians of {args.repeats} alternating repeats "
          f"after a warm-up")
    print(f"{'side':<34} {'wall s (median)':>16} {'cpu s (median)':>15}   all wall s")
    labels = {"single": "single calls (sequential, direct)", "workers0": "codecbench run --workers 0",
              f"workers{n}": f"codecbench run --workers {n}"}
    for k in sides:
        print(f"{labels[k]:<34} {med[k]:>16.3f} {medc[k]:>15.3f}   {', '.join(f'{x:.3f}' for x in wall[k])}")
    print(f"overhead ratio (--workers 0 / single calls): {med['workers0'] / med['single']:.2f}")
    ideal = med["single"] / n
    print(f"throughput with --workers {n}: ideal {ideal:.3f} s (single calls / {n}), measured {med[f'workers{n}']:.3f} s, "
          f"efficiency {ideal / med[f'workers{n}']:.2f}")
    codec.close()
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
