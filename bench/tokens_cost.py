"""Cost of the token metrics (docs/tokens.md), measured on this machine in one run.

1. ``token_stability`` against a default run: ``codecbench run`` with the default codecs and metrics on
   the embedded espeak-ng set, with and without token_stability (every other default metric in both),
   alternating, ``--repeats`` times, each into a fresh folder, in this process after a warm-up run.
   Wall and CPU seconds (this process, its children and the metric workers' forkserver), medians;
   the added share of wall time. Target: <= 25 %.
2. The n-gram token LM: for each codec, the codes of ``--utterances`` utterances of one language
   (``--dataset``; default the first 100 of ../shared/corpora/hindi-news-1h), then ``TokenLM.score``
   (fit on a 75 % split, score the other 25 %, and the unigram model beside it) with the default
   options (per-level context) and with ``context: flat``, ``--repeats`` times. Target: <= 10 s per
   codec and language for the default.

The machine may be shared: the 1-minute load average before and after each part is printed, and the
CPU seconds say how much of the wall time was this benchmark's.

    PYTHONPATH=. python bench/tokens_cost.py [--repeats 2] [--utterances 100] [--codecs ours-rvq,ours-fsq]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def load() -> float:
    return os.getloadavg()[0]


def cpu_seconds() -> float:
    """This process's, its reaped children's and its forkserver's (the metric workers are forked there)."""
    from codecbench.pipeline.workers import server_cpu_seconds

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime + server_cpu_seconds()


def run_once(metrics: list[str], out: Path) -> tuple[float, float]:
    """One ``codecbench run`` in this process (imports warm after the first): wall and CPU seconds."""
    import contextlib
    import io

    from codecbench.cli import main as cli

    argv = ["run", "--metrics", ",".join(metrics), "--out", str(out), "-q", "--save-audio", "none"]
    c0, t0 = cpu_seconds(), time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        code = cli(argv)
    if code:
        raise SystemExit(f"codecbench {' '.join(argv)} failed:\n{err.getvalue()[-2000:]}")
    return time.perf_counter() - t0, cpu_seconds() - c0


def stability_overhead(repeats: int) -> None:
    from codecbench.metrics.registry import create, default_names

    here = {n: create(n).unavailable_reason() for n in default_names()}
    with_it = [n for n, why in here.items() if why is None]  # named metrics must run (unavailable: exit 2)
    without = [m for m in with_it if m != "token_stability"]
    print(f"part 1: default run (default codecs and metrics, embedded espeak-ng set), load {load():.1f}")
    print(f"  metrics: {', '.join(with_it)}")
    for n, why in here.items():
        if why:
            print(f"  not available here (not timed; the ratio is then an upper bound): {n}: {why}")
    times: dict[str, list[tuple[float, float]]] = {"without": [], "with": []}
    with tempfile.TemporaryDirectory() as tmp:
        run_once(without, Path(tmp) / "warm")  # imports, model files, the espeak set's cache
        for k in range(repeats):
            for name, metrics in (("without", without), ("with", with_it))[:: 1 if k % 2 == 0 else -1]:
                times[name].append(run_once(metrics, Path(tmp) / f"{name}{k}"))
        timing = Path(tmp) / "with0" / "timings.json"
        stages = timing.read_text() if timing.exists() else ""
    med = {n: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for n, v in times.items()}
    for n, (w, c) in med.items():
        print(f"  {n:8s} token_stability: wall {w:6.1f} s, CPU {c:6.1f} s (median of {repeats})")
    added = med["with"][0] / med["without"][0] - 1
    print(f"  token_stability adds {100 * added:.1f}% wall time, {100 * (med['with'][1] / med['without'][1] - 1):.1f}% "
          f"CPU time (target <= 25% wall); load now {load():.1f}")
    if stages:
        import json

        print("  stage seconds of one run with it:", json.loads(stages)["stage_seconds"])


def lm_cost(codecs: list[str], dataset: str, n: int, repeats: int) -> None:
    from codecbench import audio
    from codecbench.codecs.registry import load_codec
    from codecbench.data import load_dataset
    from codecbench.metrics.registry import create
    from codecbench.metrics.tokens.splits import split

    utts = load_dataset(dataset).utterances[:n]
    ids = [u.id for u in utts]
    sp = split([(u, "") for u in ids], 0.25, 0)
    seconds = sum(u.duration or 0 for u in utts)
    print(f"part 2: n-gram token LM, {len(utts)} utterances ({seconds / 60:.1f} min) of {dataset}, "
          f"{len(sp.train)} train / {len(sp.test)} test, load {load():.1f}")
    metrics = [create("token_lm"), create("token_lm", {"context": "flat"})]
    for name in codecs:
        codec = load_codec(name, "cpu")
        codes = {}
        t0 = time.perf_counter()
        for k in range(0, len(utts), 8):
            batch = utts[k:k + 8]
            waves = [audio.load(u.path) for u in batch]
            for u, c in zip(batch, codec.encode_items([w for w, _ in waves], waves[0][1]), strict=True):
                codes[u.id] = c
        codec.close()
        books = codec.info.codebooks
        sizes, rates = [b.size for b in books], [b.frame_rate for b in books]
        train = [codes[u] for u in sorted(sp.train)]
        test = [codes[u] for u in sorted(sp.test)]
        tokens = sum(len(c) for u in codes.values() for c in u)
        frames = sum(len(u[0]) for u in test)
        print(f"  {name}: {len(books)} levels x {sizes[0]} entries, {tokens} tokens (encoded in "
              f"{time.perf_counter() - t0:.0f} s)")
        for metric in metrics:
            runs = []
            for _ in range(repeats):
                c0, t1 = time.process_time(), time.perf_counter()
                bits, unigram, mode = metric.score(train, test, sizes, rates)
                runs.append((time.perf_counter() - t1, time.process_time() - c0))
            print(f"    {mode}: wall {statistics.median(w for w, _ in runs):.2f} s, CPU "
                  f"{statistics.median(c for _, c in runs):.2f} s (median of {repeats}; target <= 10 s for the "
                  f"default); {bits.sum() / frames:.1f} bits/frame, unigram {unigram.sum() / frames:.1f}; "
                  f"load {load():.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--utterances", type=int, default=100)
    ap.add_argument("--codecs", default="ours-rvq,ours-fsq")
    ap.add_argument("--dataset", default=str(ROOT.parent / "shared" / "corpora" / "hindi-news-1h"))
    ap.add_argument("--skip-run", action="store_true", help="only part 2")
    ap.add_argument("--skip-lm", action="store_true", help="only part 1")
    args = ap.parse_args()
    print(f"{os.cpu_count()} CPUs; numpy {np.__version__}")
    if not args.skip_run:
        stability_overhead(args.repeats)
    if not args.skip_lm:
        lm_cost(args.codecs.split(","), args.dataset, args.utterances, args.repeats)


if __name__ == "__main__":
    main()
