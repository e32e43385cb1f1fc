"""Memory of a run over long utterances: peak RSS per stage against utterance length, and the bound it
implies at the limits a run enforces.

One utterance per length (``--lengths``, seconds: real Hindi speech, hindi-news-1h clips beyond the
first 16 joined end to end), each scored by ``codecbench run`` as a command with ``--codecs`` (default:
ours-fsq, an in-house neural codec, whose activations grow with the input) and ``--metrics`` (default:
the default set), one fresh run folder per length. From each run's ``timings.json``
(``codecbench.pipeline.monitor``): the peak RSS of the stages (reconstruct, model metrics: the run's
process while they work; signal metrics: a metric worker's own peak). A least-squares line per stage,
``peak = base + slope x seconds``, is fitted and evaluated at the limits: one utterance is at most
``max_duration`` (300 s) and a codec batch holds at most ``max_batch_seconds`` (160 s) of padded
audio, so the codec stage's peak is bounded by its line at 160 s (a longer utterance is a batch of
its own) and 300 s; the metric workers' by their line at 300 s.

    PYTHONPATH=. python bench/memory_long.py [--lengths 10,20,40,80] [--codecs ours-fsq] [--metrics ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from commands import command, load, subreaper

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS = SHARED / "corpora" / "hindi-news-1h"
SR = 16000


def long_utterance(folder: Path, seconds: float, start: int) -> Path:
    """A manifest of one utterance of ``seconds`` s: corpus clips from ``start`` joined, then cut."""
    from codecbench import audio

    rows = [json.loads(line) for line in (CORPUS / "manifest.jsonl").read_text().splitlines() if line.strip()]
    parts, total, k = [], 0, start
    while total < seconds * SR:
        x, sr = audio.load(CORPUS / rows[k % len(rows)]["path"])
        x = audio.resample(x, sr, SR)
        parts.append(x)
        total += len(x)
        k += 1
    wave = np.concatenate(parts)[: int(seconds * SR)]
    name = f"long{int(seconds)}"
    audio.save(folder / f"{name}.wav", wave, SR)
    (folder / f"{name}.jsonl").write_text(json.dumps({"id": name, "path": f"{name}.wav", "lang": "hi"}) + "\n")
    return folder / f"{name}.jsonl"


def fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    slope, base = np.polyfit(np.asarray(xs, float), np.asarray(ys, float), 1)
    return float(base), float(slope)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lengths", default="10,20,40,80", help="utterance lengths in seconds")
    p.add_argument("--codecs", default="ours-fsq")
    p.add_argument("--metrics", default=None, help="default: the default set")
    args = p.parse_args()
    if not CORPUS.is_dir():
        raise SystemExit(f"needs {CORPUS}")
    subreaper()
    lengths = [float(x) for x in args.lengths.split(",")]
    peaks: dict[str, list[float]] = {}
    print(f"codecs {args.codecs}; metrics {args.metrics or 'default'}; peak RSS in MB per stage")
    with tempfile.TemporaryDirectory() as tmp:
        for seconds in lengths:
            manifest = long_utterance(Path(tmp), seconds, start=16)
            out = Path(tmp) / f"run{int(seconds)}"
            argv = [sys.executable, "-m", "codecbench", "run", "--dataset", str(manifest), "--codecs", args.codecs,
                    "--out", str(out), "--save-audio", "none", "-q", *(["--metrics", args.metrics] if args.metrics else [])]
            before = load()
            wall, cpu = command(argv)
            t = json.loads((out / "timings.json").read_text())
            row = {f"{name}": s["peak_rss_mb"] for name, s in t["stages"].items()}
            row["main process"] = t["peak_rss_mb"]["main"]
            for k, v in row.items():
                peaks.setdefault(k, []).append(v)
            print(f"{seconds:6.0f} s: " + ", ".join(f"{k} {v:.0f}" for k, v in row.items())
                  + f"  ({wall:.0f} s wall, {cpu:.0f} s CPU, load {before:.1f})")
    if len(lengths) < 2:
        return
    print("fit: peak = base + slope x seconds; at 160 s (max_batch_seconds: the largest codec batch) and 300 s "
          "(max_duration: the longest utterance)")
    for k, ys in peaks.items():
        base, slope = fit(lengths, ys)
        print(f"  {k:<16} base {base:6.0f} MB, {slope:5.2f} MB/s -> {base + 160 * slope:6.0f} MB at 160 s, "
              f"{base + 300 * slope:6.0f} MB at 300 s")


if __name__ == "__main__":
    main()
