"""The token LM's models side by side on a finished run's saved codes (docs/tokens.md).

For each model setting (``--settings``, JSON option sets of the ``token_lm`` metric; default: the
n-gram with per-level and flat context, the transformer with the delay and the flat pattern), the
metric's own aggregate runs on RUN (the same splits, codes and figures as the run's summary) and
prints per codec and language the LM and unigram bits per frame, the LM bits per second against the
nominal bitrate, and the wall and CPU seconds the setting took (the transformer on the GPU when there
is one: ``device: auto``).

    PYTHONPATH=. python bench/token_lm_models.py RUN [--settings '[{"model": "ngram"}]'] [--codecs ours-rvq]
"""

from __future__ import annotations

import argparse
import json
import os
import time

DEFAULT = [{"model": "ngram"}, {"model": "ngram", "context": "flat"}, {"model": "transformer", "pattern": "delay"},
           {"model": "transformer", "pattern": "flat"}]


def main() -> None:
    from codecbench.metrics.corpus import Corpus
    from codecbench.metrics.tokens.lm import TokenLM
    from codecbench.store import CODECS, DATASET, METRICS, RunFolder

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--settings", default=json.dumps(DEFAULT))
    ap.add_argument("--codecs", default="", help="comma list (default: every codec of the run)")
    args = ap.parse_args()
    folder = RunFolder(args.run)
    rows = folder.frame()
    if args.codecs:
        rows = rows[rows["codec"].isin(args.codecs.split(","))]
    meta = folder.read_json(METRICS).get("token_lm", {"name": "token_lm"})
    codecs, dataset = folder.read_json(CODECS), folder.read_json(DATASET, [])
    print(f"{args.run}: {rows['codec'].nunique()} codecs, {rows['utt_id'].nunique()} utterances; "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    for opts in json.loads(args.settings):
        metric = TokenLM().configure(opts)  # (not the registry: no other metric module is imported)
        c0, t0 = time.process_time(), time.perf_counter()
        agg = metric.aggregate(Corpus(folder, rows, {**meta, "options": metric.opts}, codecs, dataset, {}))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        figures: dict[tuple[str, str], dict[str, float]] = {}
        modes = set()
        for r in agg.rows:
            if r.status == "ok":
                figures.setdefault((r.codec, r.lang), {})[r.metric] = r.mean
                modes.add(r.mode)
        print(f"\n{json.dumps(opts)}: {'; '.join(sorted(m for m in modes if m))} -- wall {wall:.1f} s, CPU {cpu:.1f} s")
        print(f"  {'codec':22s} {'lang':5s} {'LM bits/frame':>13s} {'unigram':>8s} {'LM kbps':>8s} {'nominal':>8s} "
              f"{'redundancy':>10s}")
        for (codec, lang), f in figures.items():
            nominal = codecs.get(codec, {}).get("nominal_bitrate") or float("nan")
            print(f"  {codec[:22]:22s} {lang:5s} {f.get('lm_bits_per_frame', float('nan')):13.1f} "
                  f"{f.get('unigram_bits_per_frame', float('nan')):8.1f} {f.get('lm_bits_per_second', 0) / 1000:8.2f} "
                  f"{nominal / 1000:8.2f} {f.get('lm_redundancy', float('nan')):10.3f}")


if __name__ == "__main__":
    main()
