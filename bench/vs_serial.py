"""Pair scoring against a serial scorer: codecbench wall time / a per-utterance loop of the reference
libraries (what VERSA's scorer does), on the same ref/deg files, with pesq_wb + stoi + estoi.

Pairs: every real speech clip in ../shared/testdata (16 Hindi, 2 English) x 6 degradations built
here (white noise at 0/10/20 dB SNR, 3.4 kHz low-pass, 8-bit mu-law, clipping), written as 16 kHz
WAV files with ``wav.scp`` lists, so both sides read the same files. Degraded files keep the
reference's length (no alignment question here; see tests/test_core_alignment.py for that).

The serial side reads each pair with soundfile and calls ``pesq.pesq`` and ``pystoi.stoi`` twice
(classic, extended), one utterance after the other, in this (warmed-up) process. The codecbench side
is the real command, started as a fresh process (start-up, imports and the worker pool included):
``codecbench score REF.scp DEG.scp --out DIR --metrics pesq_wb,stoi,estoi -q``, values read back from
``DIR/rows.jsonl``. While it runs, /proc is sampled every 0.2 s to measure how busy the CPU pool
is: the share of the pool's lifetime each worker had work (on a CPU, or runnable and waiting for
one while other users' processes ran: /proc/PID/schedstat), and the share it spent on a CPU. Prints both
wall and CPU times, the ratios, the pool utilisation, the machine's load and the largest value gap.

    OMP_NUM_THREADS=1 python bench/vs_serial.py [--workers 2] [--limit N]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
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


def score_serial(ref_scp: Path, deg_scp: Path) -> tuple[Scores, float]:
    """The reference libraries, one utterance after the other (VERSA's scorer loop); returns the
    values and the CPU seconds spent inside ``pesq`` (which codecbench calls too)."""
    import soundfile as sf
    from pesq import pesq
    from pystoi import stoi

    degs = dict(_scp(deg_scp))
    out: Scores = {}
    pesq_cpu = 0.0
    for uid, ref_path in _scp(ref_scp):
        ref, sr = sf.read(ref_path, dtype="float32")
        deg, _ = sf.read(degs[uid], dtype="float32")
        c0 = time.process_time()
        wb = float(pesq(sr, ref, deg, "wb"))
        pesq_cpu += time.process_time() - c0
        out[uid] = {"pesq_wb": wb, "stoi": float(stoi(ref, deg, sr)), "estoi": float(stoi(ref, deg, sr, extended=True))}
    return out, pesq_cpu


def _schedstat(pid: int) -> tuple[float, float] | None:
    """(seconds on a CPU, seconds runnable but waiting for one) of a process, None when it is gone."""
    try:
        on_cpu, waiting, _ = Path(f"/proc/{pid}/schedstat").read_text().split()
    except (OSError, ValueError):
        return None
    return int(on_cpu) / 1e9, int(waiting) / 1e9


def _children(pid: int) -> list[tuple[int, bytes]]:
    """(pid, command line) of each child process of ``pid``."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (d / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            out.append((int(d.name), cmd))
    return out


def _pool(pid: int) -> tuple[list[int], list[int]]:
    """(the metric pool's workers, the processes this process does not wait for): spawned children
    of ``pid``, or the children of its forkserver (the forkserver and its children are not waited
    for by ``pid``, so their CPU time is not in its rusage)."""
    workers, unwaited = [], []
    for child, cmd in _children(pid):
        if b"spawn_main" in cmd:
            workers.append(child)
        elif b"forkserver" in cmd:
            forked = [worker for worker, _ in _children(child)]
            workers.extend(forked)
            unwaited.extend([child, *forked])
    return workers, unwaited


def score_codecbench(ref_scp: Path, deg_scp: Path, out_dir: Path, workers: int) -> tuple[Scores, dict[str, float]]:
    """codecbench's side: the pair-scoring command; returns (values, CPU pool figures). /proc is
    scanned for the pool's processes once a second and only their schedstat read every 0.2 s, so the
    sampling itself takes little of the CPU it measures."""
    import json
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "codecbench", "score", str(ref_scp), str(deg_scp), "--out", str(out_dir),
           "--metrics", ",".join(METRICS), "--workers", str(workers), "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    first: dict[int, tuple[float, float, float]] = {}  # worker pid -> (time, on CPU, waiting) when first seen
    last: dict[int, tuple[float, float, float]] = {}
    pool_pids: list[int] = []
    unwaited_cpu: dict[int, float] = {}  # pid -> on-CPU seconds, for processes outside proc's rusage
    unwaited: list[int] = []
    main_cpu, next_scan = 0.0, 0.0
    while proc.poll() is None:
        now = time.perf_counter()
        if now >= next_scan or len(pool_pids) < workers:
            found, found_unwaited = _pool(proc.pid)
            pool_pids = sorted(set(pool_pids) | set(found))
            unwaited = sorted(set(unwaited) | set(found_unwaited))
            next_scan = now + 1.0
        for pid in pool_pids:
            st = _schedstat(pid)
            if st is not None:
                first.setdefault(pid, (now, *st))
                last[pid] = (now, *st)
        for pid in unwaited:
            st = _schedstat(pid)
            if st is not None:
                unwaited_cpu[pid] = st[0]
        main_cpu = (_schedstat(proc.pid) or (main_cpu, 0.0))[0]
        time.sleep(0.2)
    if proc.returncode != 0:
        raise SystemExit(f"codecbench score failed with status {proc.returncode}")
    spans = [(last[p][0] - first[p][0], last[p][1] - first[p][1], last[p][2] - first[p][2])
             for p in first if last[p][0] > first[p][0]]
    pool = {"workers_seen": len(spans), "main_cpu": main_cpu, "unwaited_cpu": sum(unwaited_cpu.values()),
            "on_cpu": sum(c for _, c, _ in spans) / max(sum(t for t, _, _ in spans), 1e-9),
            "demand": sum(c + w for _, c, w in spans) / max(sum(t for t, _, _ in spans), 1e-9)}
    out: Scores = {}
    for line in (out_dir / "rows.jsonl").read_text().splitlines():
        row = json.loads(line)
        out[row["utt_id"]] = {m: float(row[m]) for m in METRICS}
    return out, pool


def _first(ref_scp: Path, deg_scp: Path, folder: Path) -> tuple[Path, Path]:
    """One-pair lists (for warming up)."""
    for name, scp in (("ref1.scp", ref_scp), ("deg1.scp", deg_scp)):
        (folder / name).write_text(scp.read_text().splitlines()[0] + "\n")
    return folder / "ref1.scp", folder / "deg1.scp"


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
        score_serial(*_first(ref_scp, deg_scp, Path(tmp)))  # warm up the serial side's imports
        load0 = os.getloadavg()[0]
        t0, c0 = time.perf_counter(), _cpu()
        ours, pool = score_codecbench(ref_scp, deg_scp, Path(tmp) / "run", args.workers)
        t_ours, c_ours = time.perf_counter() - t0, _cpu() - c0 + pool["unwaited_cpu"]  # + forkserver and its workers
        t0, c0 = time.perf_counter(), _cpu()
        serial, pesq_cpu = score_serial(ref_scp, deg_scp)
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
    # A worker that has work is on a CPU or waiting in the run queue for one (other users' load):
    # "had work" near 100% means the pool is saturated; "on a CPU" is what the machine granted it.
    print(f"CPU pool ({pool['workers_seen']} workers, sampled from /proc/PID/schedstat): had work "
          f"{pool['demand']:.0%} of the time, on a CPU {pool['on_cpu']:.0%}; main process {pool['main_cpu']:.1f} s CPU; "
          f"load average before the runs {load0:.1f} on {os.cpu_count()} cores")
    # codecbench calls the same pesq library for identical values: its CPU time is a floor
    print(f"pesq alone: {pesq_cpu:.2f} s CPU = {pesq_cpu / c_serial:.0%} of the serial loop's; calling it, no scorer on "
          f"{args.workers} free cores beats x{args.workers * c_serial / pesq_cpu:.2f}")
    print("max |codecbench - reference|: " + ", ".join(f"{m} {g:.1e}" for m, g in gaps.items()))


if __name__ == "__main__":
    main()
