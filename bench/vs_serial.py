"""Pair scoring against a serial scorer built like VERSA's, both timed as whole commands.

Pairs (real speech): clips of ../shared/corpora/hindi-news-1h beyond the first 16 (those are
../shared/testdata/hi) lasting 4-6 s, the first ``--pairs`` (116) of them, each against its Opus
6 kbps reconstruction (codecbench's libopus codec), the reference the corpus's 16 kHz FLAC and the
degraded side a 16-bit WAV, listed in two ``wav.scp`` files, so both sides read the same files.

Two commands, each started as a fresh ``python`` process and timed from the outside (start-up,
imports, reading, scoring and writing results all included, as a user compares them):

* **serial**: a script (in the environment as given: numpy's BLAS may use several threads, so its CPU
  time can exceed its wall time) that imports soundfile, pesq and pystoi, reads each pair with soundfile and
  calls ``pesq(16000, ref, deg, "wb")``, ``stoi`` and ``stoi(extended=True)`` one pair after the
  other, then writes the scores as JSON (what VERSA's scorer does for these metrics);
* **codecbench**: ``codecbench score REF.scp DEG.scp --out DIR --metrics pesq_wb,stoi,estoi -q``
  (its input gate and data checks included), values read back from ``DIR/rows.jsonl``.

Both run in this environment (byte code cached, no thread-count variables needed: run it as a user
would). They alternate (serial first on odd repeats) ``--repeats`` times after a warm-up of each on 8
pairs; min and median of each are printed, with the CPU seconds of every process of each command
(``commands.command``: the pool's forkserver and workers counted too), the machine's load average
before each command, and the largest value gap (goal <= 1e-6).

The **floor** is what 2 cores could do at best with codecbench's metric code: the sum over pairs of
the CPU seconds of single calls (reading both files, pesq_wb, stoi and estoi, in this warmed-up
process, one BLAS thread as in codecbench's workers) divided by the cores, plus the measured start-up of a Python process importing numpy,
soundfile and pesq (min of 5). Goals: codecbench >= 3x the serial command, wall <= 1.25 x floor.
The single-call CPU is also printed by part, with the ceiling PESQ alone sets: both commands call the
same ITU C code, so serial / (PESQ CPU / cores) bounds any speed-up on these cores.
A second line keeps the older figure: the serial loop inside this (warmed-up) process.

    PYTHONPATH=. python bench/vs_serial.py [--repeats 3] [--pairs 116]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from commands import command, subreaper
from commands import cores as n_cores

# The commands run in this environment as given (a user's: numerical libraries pick their own thread
# counts); single calls in this process run one thread each, as codecbench's metric workers do, so
# the floor is the CPU the work needs, not what idle BLAS threads spin.
USER_ENV = dict(os.environ)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS = SHARED / "corpora" / "hindi-news-1h"
METRICS = ("pesq_wb", "stoi", "estoi")
SR = 16000
Scores = dict[str, dict[str, float]]  # utterance id -> metric -> value

SERIAL = r'''
"""A serial scorer shaped like VERSA's (versa/bin/scorer.py with its pesq and stoi modules): librosa,
soundfile and tqdm imported at start, INFO logging, one pair after the other, a line per pair."""
import json, logging, sys
import librosa  # noqa: F401  (VERSA's scorer imports it, for resampling mismatched rates)
import soundfile as sf
from pesq import pesq
from pystoi import stoi
from tqdm import tqdm

logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s")


def scp(path):
    return [line.split(maxsplit=1) for line in open(path).read().splitlines() if line.strip()]


degs = dict(scp(sys.argv[2]))
with open(sys.argv[3], "w") as out:
    for uid, ref_path in tqdm(scp(sys.argv[1])):
        gt, sr = sf.read(ref_path)
        gen, gen_sr = sf.read(degs[uid])
        if gen_sr != sr:
            gen = librosa.resample(gen, orig_sr=gen_sr, target_sr=sr)
        n = min(len(gt), len(gen))
        score = {"key": uid, "pesq_wb": float(pesq(sr, gt, gen, "wb")),
                 "stoi": float(stoi(gt[:n], gen[:n], sr)), "estoi": float(stoi(gt[:n], gen[:n], sr, extended=True))}
        logging.info(f"Score for {uid} is {score}")
        out.write(json.dumps(score) + "\n")
'''



def build_pairs(folder: Path, n: int) -> tuple[Path, Path]:
    """Write the Opus 6 kbps reconstructions and the two wav.scp lists; returns (ref.scp, deg.scp)."""
    import numpy as np

    from codecbench import audio
    from codecbench.codecs.registry import load_codec

    rows = [json.loads(line) for line in (CORPUS / "manifest.jsonl").read_text().splitlines() if line.strip()]
    chosen = [r for r in rows[16:] if 4.0 <= float(r["duration"]) <= 6.0][:n]
    codec = load_codec("opus-6kbps", "cpu")
    ref_lines, deg_lines = [], []
    for r in chosen:
        path = CORPUS / r["path"]
        ref, sr = audio.load(path)
        assert sr == SR, (path, sr)
        rec = codec.reconstruct(ref[None], np.array([len(ref)]), sr)
        deg_path = folder / "deg" / f"{r['id']}.wav"
        audio.save(deg_path, rec.item(0), sr)
        ref_lines.append(f"{r['id']} {path}")
        deg_lines.append(f"{r['id']} {deg_path}")
    codec.close()
    (folder / "ref.scp").write_text("\n".join(ref_lines) + "\n")
    (folder / "deg.scp").write_text("\n".join(deg_lines) + "\n")
    return folder / "ref.scp", folder / "deg.scp"


def _scp(path: Path) -> list[tuple[str, str]]:
    return [tuple(line.split(maxsplit=1)) for line in path.read_text().splitlines() if line.strip()]


def serial_command(ref_scp: Path, deg_scp: Path, folder: Path) -> tuple[Scores, float, float]:
    script = folder / "serial_scorer.py"
    script.write_text(SERIAL)
    out = folder / "serial.json"
    wall, cpu = command([sys.executable, str(script), str(ref_scp), str(deg_scp), str(out)], env=USER_ENV)
    scores = [json.loads(line) for line in out.read_text().splitlines()]
    return {s.pop("key"): s for s in scores}, wall, cpu


def codecbench_command(ref_scp: Path, deg_scp: Path, out_dir: Path) -> tuple[Scores, float, float]:
    cmd = [sys.executable, "-m", "codecbench", "score", str(ref_scp), str(deg_scp), "--out", str(out_dir),
           "--metrics", ",".join(METRICS), "-q"]
    wall, cpu = command(cmd, env=USER_ENV)
    out: Scores = {}
    for line in (out_dir / "rows.jsonl").read_text().splitlines():
        row = json.loads(line)
        out[row["utt_id"]] = {m: float(row[m]) for m in METRICS}
    return out, wall, cpu


# -- the floor ------------------------------------------------------------------------------------
def single_calls_cpu(ref_scp: Path, deg_scp: Path) -> dict[str, float]:
    """Sum over pairs of the CPU seconds of reading both files ("read") and of one call of each metric
    (codecbench's implementations), in this process, after a warm-up pair."""
    import soundfile as sf

    from codecbench.metrics.base import MetricInput, safe_compute
    from codecbench.metrics.registry import select
    from codecbench.types import Utterance

    metrics = select(list(METRICS))
    for m in metrics:
        m.setup("cpu")
    degs = dict(_scp(deg_scp))
    pairs = _scp(ref_scp)
    total = dict.fromkeys(["read", *(m.name for m in metrics)], 0.0)
    for k, (uid, ref_path) in enumerate([pairs[0], *pairs]):
        c0 = time.process_time()
        ref, sr = sf.read(ref_path, dtype="float32")
        deg, _ = sf.read(degs[uid], dtype="float32")
        spent = {"read": time.process_time() - c0}
        x = MetricInput(ref=ref, deg=deg, sample_rate=sr, utterance=Utterance(id=uid, path=ref_path))
        for m in metrics:
            c0 = time.process_time()
            safe_compute(m, x)
            spent[m.name] = time.process_time() - c0
        if k:  # the first is the warm-up
            for key, seconds in spent.items():
                total[key] += seconds
    return total


def start_up() -> float:
    """Wall seconds of a fresh Python importing numpy, soundfile and pesq (min of 5)."""
    return min(command([sys.executable, "-c", "import numpy, soundfile, pesq"], env=USER_ENV)[0] for _ in range(5))


def serial_in_process(ref_scp: Path, deg_scp: Path) -> float:
    """Wall seconds of the serial loop in this (warmed-up) process."""
    import soundfile as sf
    from pesq import pesq
    from pystoi import stoi

    degs = dict(_scp(deg_scp))
    t0 = time.perf_counter()
    for uid, ref_path in _scp(ref_scp):
        ref, sr = sf.read(ref_path)
        deg, _ = sf.read(degs[uid])
        pesq(sr, ref, deg, "wb"), stoi(ref, deg, sr), stoi(ref, deg, sr, extended=True)
    return time.perf_counter() - t0


def _first(ref_scp: Path, deg_scp: Path, folder: Path, n: int) -> tuple[Path, Path]:
    """The first ``n`` pairs' lists (for warming up)."""
    for name, scp in (("ref_few.scp", ref_scp), ("deg_few.scp", deg_scp)):
        (folder / name).write_text("\n".join(scp.read_text().splitlines()[:n]) + "\n")
    return folder / "ref_few.scp", folder / "deg_few.scp"


def _fmt(xs: list[float]) -> str:
    return f"min {min(xs):6.2f}  median {statistics.median(xs):6.2f}  ({', '.join(f'{x:.2f}' for x in xs)})"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=116)
    p.add_argument("--repeats", type=int, default=3, help="alternating pairs of runs (>= 3 for the goal)")
    p.add_argument("--no-in-process", action="store_true", help="skip the in-process serial loop")
    p.add_argument("--threads", type=int, default=None,
                   help="set OMP/OPENBLAS/MKL_NUM_THREADS for both commands (default: the environment as given)")
    args = p.parse_args()
    if args.threads is not None:
        USER_ENV.update({v: str(args.threads) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
    if not CORPUS.is_dir():
        raise SystemExit(f"needs {CORPUS}")
    subreaper()
    cores = n_cores()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ref_scp, deg_scp = build_pairs(folder, args.pairs)
        n = len(_scp(ref_scp))
        from codecbench import audio

        seconds = sum(audio.info(path)[1] for _, path in _scp(ref_scp))
        few = _first(ref_scp, deg_scp, folder, 8)
        serial_command(*few, folder)  # warm-up: byte code written, files in the page cache
        codecbench_command(*few, folder / "warm-up")
        parts = single_calls_cpu(ref_scp, deg_scp)
        single = sum(parts.values())
        boot = start_up()
        walls: dict[str, list[float]] = {"serial": [], "codecbench": []}
        cpus: dict[str, list[float]] = {"serial": [], "codecbench": []}
        loads = []
        serial = ours = {}
        for r in range(args.repeats):
            for side in (("serial", "codecbench") if r % 2 == 0 else ("codecbench", "serial")):
                loads.append(os.getloadavg()[0])
                if side == "serial":
                    serial, w, c = serial_command(ref_scp, deg_scp, folder)
                else:
                    ours, w, c = codecbench_command(ref_scp, deg_scp, folder / f"run{r}")
                walls[side].append(w)
                cpus[side].append(c)
        in_process = None if args.no_in_process else serial_in_process(ref_scp, deg_scp)
    gaps = {m: max(abs(ours[u][m] - serial[u][m]) for u in serial) for m in METRICS}
    floor = single / cores + boot
    med = {k: statistics.median(v) for k, v in walls.items()}
    threads = "as given" if args.threads is None else str(args.threads)
    print(f"{n} pairs, {seconds:.0f} s of reference speech (hindi-news-1h vs opus-6kbps); metrics "
          f"{', '.join(METRICS)}; {cores} cores; {args.repeats} alternating repeats; BLAS threads {threads}")
    print(f"serial command      wall {_fmt(walls['serial'])}  CPU median {statistics.median(cpus['serial']):.2f} s")
    print(f"codecbench score    wall {_fmt(walls['codecbench'])}  CPU median {statistics.median(cpus['codecbench']):.2f} s")
    print(f"speed-up (serial / codecbench, whole commands): median x{med['serial'] / med['codecbench']:.2f}, "
          f"min x{min(walls['serial']) / min(walls['codecbench']):.2f} (goal >= x3); CPU-time ratio "
          f"x{statistics.median(cpus['serial']) / statistics.median(cpus['codecbench']):.2f}")
    print(f"floor: {single:.2f} s single-call CPU / {cores} cores + {boot:.2f} s start-up = {floor:.2f} s; "
          f"codecbench / floor = {med['codecbench'] / floor:.2f} median, {min(walls['codecbench']) / floor:.2f} min "
          f"(goal <= 1.25)")
    print(f"bound: no scorer calling these metrics on {cores} cores beats serial / floor = "
          f"x{med['serial'] / floor:.2f} (median serial command / floor)")
    print("single-call CPU by part: " + ", ".join(f"{k} {v:.2f} s" for k, v in parts.items())
          + f"; pesq_wb alone (the ITU C code both commands call) on {cores} cores: {parts['pesq_wb'] / cores:.2f} s, "
          f"so x{med['serial'] / (parts['pesq_wb'] / cores):.2f} even if nothing else cost anything")
    if in_process is not None:
        print(f"in-process serial loop (warmed up, this process): {in_process:.2f} s wall; speed-up against it "
              f"x{in_process / med['codecbench']:.2f}")
    print(f"load average (1 min) before each command: {', '.join(f'{x:.1f}' for x in loads)}")
    print("max |codecbench - serial|: " + ", ".join(f"{m} {g:.1e}" for m, g in gaps.items()))


if __name__ == "__main__":
    main()
