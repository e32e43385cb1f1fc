"""Minimal-pair ABX speed: every triplet of the built-in contrast set for one codec, against the 60 s target.

Reconstructs every token of ``contrasts:LANGS`` with one codec, extracts the ABX features (the
per-item part, timed apart), then times the corpus part exactly as the summary runs it
(``abx_corpus.codec_triplets``: the originals' floor and the codec's error over every triplet).
Also prints the vectorised DTW against a plain Python DP on the same pairs.

    python bench/abx_speed.py [--langs en,hi,ta] [--codec opus-6kbps]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from codecbench import audio
from codecbench.codecs.registry import load_codec
from codecbench.data import load_dataset
from codecbench.metrics.abx import FEATURE_DIR, feature_path, save_features, word_features
from codecbench.metrics.abx_corpus import codec_triplets, make_triplets, tokens_from_dataset
from codecbench.metrics.dtw import cosine_distances, dtw_distances

TARGET_SECONDS = 60.0


def python_dtw(a: np.ndarray, b: np.ndarray) -> float:
    cost = cosine_distances(a, b)
    n, m = cost.shape
    acc = np.full((n, m), np.inf)
    for i in range(n):
        for j in range(m):
            if i == 0 and j == 0:
                acc[i, j] = 2 * cost[0, 0]
                continue
            best = np.inf
            if i and j:
                best = acc[i - 1, j - 1] + 2 * cost[i, j]
            if i:
                best = min(best, acc[i - 1, j] + cost[i, j])
            if j:
                best = min(best, acc[i, j - 1] + cost[i, j])
            acc[i, j] = best
    return acc[-1, -1] / (n + m)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--langs", default="en,hi,ta")
    p.add_argument("--codec", default="opus-6kbps")
    args = p.parse_args()
    ds = load_dataset(f"contrasts:{args.langs}")
    codec = load_codec(args.codec, "cpu")
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp)
        t0 = time.perf_counter()
        for u in ds.utterances:
            wave, sr = audio.load(u.path)
            rec = codec.reconstruct(wave[None], np.array([len(wave)]), sr)
            save_features(feature_path(run_dir, args.codec, u.id), *word_features(wave, rec.item(0), sr))
        t_items = time.perf_counter() - t0
        tokens = tokens_from_dataset([{"id": u.id, "lang": u.lang, "speaker": u.speaker, "extra": u.extra}
                                      for u in ds.utterances])
        t0 = time.perf_counter()
        tri = codec_triplets(run_dir, args.codec, tokens, {u.id for u in ds.utterances}, {}, features=FEATURE_DIR)
        t_corpus = time.perf_counter() - t0
        n_pairs = len({tuple(sorted(k)) for a, b, x in make_triplets(tokens) for k in ((a.id, x.id), (b.id, x.id))})
        feats = {t.id: np.load(feature_path(run_dir, args.codec, t.id))["ref"] for t in tokens[:40]}
    ids = list(feats)
    sample = [(feats[ids[i]], feats[ids[(i * 7 + 3) % len(ids)]]) for i in range(len(ids))]
    t0 = time.perf_counter()
    slow = [python_dtw(a, b) for a, b in sample]
    t_loop = time.perf_counter() - t0
    t0 = time.perf_counter()
    fast = dtw_distances(sample)
    t_vec = time.perf_counter() - t0
    assert np.allclose(slow, fast)
    print(f"{len(tokens)} tokens ({args.langs}), codec {args.codec}: codec + features {t_items:.1f} s (per-item part)")
    print(f"corpus part: {len(tri)} triplets, {n_pairs} DTW pairs x 2 (original, codec) in {t_corpus:.2f} s")
    print(f"ratio to the {TARGET_SECONDS:.0f} s target: {t_corpus / TARGET_SECONDS:.3f} (below 1 meets it)")
    print(f"vectorised DTW vs Python DP on {len(sample)} pairs: {t_vec:.3f} s vs {t_loop:.3f} s "
          f"(ratio {t_vec / t_loop:.3f})")


if __name__ == "__main__":
    main()
