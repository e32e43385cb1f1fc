"""STOI+ESTOI speed: codecbench's vectorised implementation against pystoi, per utterance, on CPU.

Real clips from ../shared/testdata (Hindi + English) with noise added at 5 dB SNR. pystoi is called
twice per pair (stoi, then extended), as a metric loop would; codecbench's ``stoi_scores`` returns
both from one front end. Also timed: ``stoi_batch`` over all pairs at once. Prints wall-clock and
CPU-time ratios (CPU time is steadier on a shared machine) and the largest value difference.

    OMP_NUM_THREADS=1 python bench/stoi_speed.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from codecbench import audio
from codecbench.metrics.stoi_fast import StoiScores, stoi_batch, stoi_scores

TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata"


def _pairs() -> list[tuple[np.ndarray, np.ndarray, int]]:
    rng = np.random.default_rng(0)
    out = []
    for f in sorted((TESTDATA / "hi").glob("*.wav")) + sorted((TESTDATA / "en").glob("*.*")):
        ref, sr = audio.load(f)
        noise = rng.standard_normal(len(ref)).astype(np.float32)
        out.append((ref, ref + noise * np.std(ref) / np.std(noise) * 10 ** (-5 / 20), sr))
    return out


def _timed(fn) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3, help="passes over the clips (best pass counts)")
    args = p.parse_args()
    if not TESTDATA.is_dir():
        raise SystemExit(f"needs {TESTDATA}")
    from pystoi import stoi

    pairs = _pairs()
    seconds = sum(len(r) / sr for r, _, sr in pairs)
    ref_values = [(stoi(r, d, sr), stoi(r, d, sr, extended=True)) for r, d, sr in pairs]
    ours = [stoi_scores(r, d, sr) for r, d, sr in pairs]  # warm-up, and values
    gap = max(max(abs(a - o.stoi), abs(b - o.estoi)) for (a, b), o in zip(ref_values, ours, strict=True))

    def run_pystoi():
        for r, d, sr in pairs:
            stoi(r, d, sr)
            stoi(r, d, sr, extended=True)

    def run_ours():
        for r, d, sr in pairs:
            stoi_scores(r, d, sr)

    def run_batch():
        by_rate: dict[int, list] = {}
        for r, d, sr in pairs:
            by_rate.setdefault(sr, []).append((r, d))
        for sr, items in by_rate.items():
            out = stoi_batch([r for r, _ in items], [d for _, d in items], sr)
            assert all(isinstance(o, StoiScores) for o in out)

    best = {}
    for name, fn in (("pystoi", run_pystoi), ("codecbench", run_ours), ("codecbench batch", run_batch)):
        best[name] = min((_timed(fn) for _ in range(args.repeat)), key=lambda t: t[1])
    n = len(pairs)
    print(f"{n} pairs, {seconds:.1f} s of speech; per utterance (STOI + ESTOI), best of {args.repeat}:")
    for name, (w, c) in best.items():
        print(f"  {name:17s} wall {1e3 * w / n:7.2f} ms   cpu {1e3 * c / n:7.2f} ms")
    for name in ("codecbench", "codecbench batch"):
        w, c = best[name]
        print(f"speed-up {name} vs pystoi: wall x{best['pystoi'][0] / w:.2f}, cpu x{best['pystoi'][1] / c:.2f}")
    print(f"max |codecbench - pystoi| = {gap:.2e}")


if __name__ == "__main__":
    main()
