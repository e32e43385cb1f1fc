"""Pair scoring against a serial scorer: codecbench wall time / a per-utterance loop of the reference
libraries (what VERSA's scorer does), on the same ref/deg files, with pesq_wb + stoi + estoi.

Pairs: every real speech clip in ../shared/testdata (16 Hindi, 2 English) x 6 degradations built
here (white noise at 0/10/20 dB SNR, 3.4 kHz low-pass, 8-bit mu-law, clipping), written as 16 kHz
WAV files with ``wav.scp`` lists, so both sides read the same files. Degraded files keep the
reference's length (no alignment question here; see tests/test_core_alignment.py for that).

The serial side reads each pair with soundfile and calls ``pesq.pesq`` and ``pystoi.stoi`` twice
(classic, extended), one utterance after the other. The codecbench side is ``score_codecbench``:
until ``codecbench score REF.scp DEG.scp --out DIR`` is wired, it scores the pairs with the metric
objects in a pool of ``--workers`` processes (the runner's signal-metric path); switch that one
function to the CLI call once pair scoring lands. Prints both wall times, the ratio, the speed-up
and the largest value difference.

    OMP_NUM_THREADS=1 python bench/vs_serial.py [--workers 2] [--limit N]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from codecbench import audio

TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata"
METRICS = ("pesq_wb", "stoi", "estoi")
SR = 16000
Scores = dict[str, dict[str, float]]  # utterance id -> metric -> value


def _degrade(ref: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    if kind.startswith("noise"):
        snr = float(kind.removeprefix("noise"))
        noise = rng.standard_normal(len(ref)).astype(np.float32)
        return ref + noise * (np.std(ref) / np.std(noise)) * 10 ** (-snr / 20)
    if kind == "lowpass":
        return audio.fit_length(audio.resample(audio.resample(ref, SR, 6800), 6800, SR), len(ref))
    if kind == "mulaw8":
        mu = 255.0
        y = np.sign(ref) * np.log1p(mu * np.abs(np.clip(ref, -1, 1))) / np.log1p(mu)
        y = np.round(y * 127) / 127
        return np.sign(y) * ((1 + mu) ** np.abs(y) - 1) / mu
    if kind == "clipped":
        return np.clip(ref, -0.3 * np.max(np.abs(ref)), 0.3 * np.max(np.abs(ref)))
    raise ValueError(kind)


def build_pairs(folder: Path, limit: int | None) -> tuple[Path, Path]:
    """Write ref/deg WAVs and their wav.scp lists; returns (ref.scp, deg.scp)."""
    rng = np.random.default_rng(0)
    clips = sorted((TESTDATA / "hi").glob("*.wav")) + sorted((TESTDATA / "en").glob("*.*"))
    ref_lines, deg_lines = [], []
    for clip in clips:
        ref, sr = audio.load(clip)
        ref = audio.resample(ref, sr, SR)
        ref_path = folder / "ref" / f"{clip.stem}.wav"
        audio.save(ref_path, ref, SR, subtype="FLOAT")
        for kind in ("noise0", "noise10", "noise20", "lowpass", "mulaw8", "clipped"):
            uid = f"{clip.stem}-{kind}"
            deg_path = folder / "deg" / f"{uid}.wav"
            audio.save(deg_path, _degrade(ref, kind, rng).astype(np.float32), SR, subtype="FLOAT")
            ref_lines.append(f"{uid} {ref_path}")
            deg_lines.append(f"{uid} {deg_path}")
    n = len(ref_lines) if limit is None else limit
    (folder / "ref.scp").write_text("\n".join(ref_lines[:n]) + "\n")
    (folder / "deg.scp").write_text("\n".join(deg_lines[:n]) + "\n")
    return folder / "ref.scp", folder / "deg.scp"


def _scp(path: Path) -> list[tuple[str, str]]:
    return [tuple(line.split(maxsplit=1)) for line in path.read_text().splitlines() if line.strip()]


def score_serial(ref_scp: Path, deg_scp: Path) -> Scores:
    """The reference libraries, one utterance after the other (VERSA's scorer loop)."""
    import soundfile as sf
    from pesq import pesq
    from pystoi import stoi

    degs = dict(_scp(deg_scp))
    out: Scores = {}
    for uid, ref_path in _scp(ref_scp):
        ref, sr = sf.read(ref_path, dtype="float32")
        deg, _ = sf.read(degs[uid], dtype="float32")
        out[uid] = {"pesq_wb": float(pesq(sr, ref, deg, "wb")), "stoi": float(stoi(ref, deg, sr)),
                    "estoi": float(stoi(ref, deg, sr, extended=True))}
    return out


def _score_chunk(chunk: list[tuple[str, str, str]]) -> Scores:
    from codecbench.metrics.base import MetricInput, safe_compute
    from codecbench.metrics.registry import select
    from codecbench.types import Utterance

    metrics = select(list(METRICS))
    out: Scores = {}
    for uid, ref_path, deg_path in chunk:
        ref, sr = audio.load(ref_path)
        deg, sr_deg = audio.load(deg_path)
        x = MetricInput(ref=ref, deg=audio.resample(deg, sr_deg, sr), sample_rate=sr, utterance=Utterance(uid))
        values: dict[str, float] = {}
        for m in metrics:
            values.update(safe_compute(m, x))
        out[uid] = values
    return out


def score_codecbench(ref_scp: Path, deg_scp: Path, out_dir: Path, workers: int) -> Scores:
    """codecbench's side. Today: metric objects in a process pool over pair chunks. Once pair
    scoring is wired, replace the body with ``codecbench score REF.scp DEG.scp --out out_dir
    --metrics pesq_wb,stoi,estoi`` and read the values back from ``out_dir/rows.jsonl``."""
    from codecbench.data.pairs import load_pairs

    pairs = load_pairs(ref_scp, deg_scp).items
    jobs = [(p.id, p.ref, p.deg) for p in pairs]
    chunks = [jobs[i:i + 4] for i in range(0, len(jobs), 4)]  # small chunks keep both workers busy
    out: Scores = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for part in pool.map(_score_chunk, chunks):
            out.update(part)
    return out


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the pool's workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    p.add_argument("--limit", type=int, default=None, help="score only the first N pairs")
    args = p.parse_args()
    if not TESTDATA.is_dir():
        raise SystemExit(f"needs {TESTDATA}")
    with tempfile.TemporaryDirectory() as tmp:
        ref_scp, deg_scp = build_pairs(Path(tmp), args.limit)
        n = len(_scp(ref_scp))
        seconds = sum(audio.info(path)[1] for _, path in _scp(deg_scp))
        _score_chunk([next(iter((u, r, d) for (u, r), (_, d) in zip(_scp(ref_scp), _scp(deg_scp), strict=True)))])
        t0, c0 = time.perf_counter(), _cpu()
        ours = score_codecbench(ref_scp, deg_scp, Path(tmp) / "run", args.workers)
        t_ours, c_ours = time.perf_counter() - t0, _cpu() - c0
        t0, c0 = time.perf_counter(), _cpu()
        serial = score_serial(ref_scp, deg_scp)
        t_serial, c_serial = time.perf_counter() - t0, _cpu() - c0
    gaps = {m: max(abs(ours[u][m] - serial[u][m]) for u in serial) for m in METRICS}
    print(f"{n} pairs, {seconds:.0f} s of degraded speech; metrics {', '.join(METRICS)}; {args.workers} workers")
    print(f"serial reference loop: {t_serial:8.2f} s wall, {c_serial:8.2f} s CPU")
    print(f"codecbench:            {t_ours:8.2f} s wall, {c_ours:8.2f} s CPU (all processes)")
    print(f"codecbench / serial = {t_ours / t_serial:.3f} wall  (speed-up x{t_serial / t_ours:.2f}; goal >= x3)")
    # on a shared machine the wall ratio depends on the load; CPU time / workers is what the ratio
    # would be with the workers' cores to themselves
    ideal = c_ours / args.workers
    print(f"with {args.workers} free cores: codecbench / serial = {ideal / c_serial:.3f} (x{c_serial / ideal:.2f}), "
          f"CPU-time ratio {c_ours / c_serial:.3f}; load average now {os.getloadavg()[0]:.1f}")
    print("max |codecbench - reference|: " + ", ".join(f"{m} {g:.1e}" for m, g in gaps.items()))


if __name__ == "__main__":
    main()
