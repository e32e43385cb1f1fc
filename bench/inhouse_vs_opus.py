"""In-house codecs against Opus on Hindi speech they were not trained on.

For ours-rvq, ours-fsq and ours-vae: PESQ-wb, STOI, mel distance and bitrate, with Opus at the
nearest bitrate beside each (paired difference ours - Opus with its bootstrap CI and p-value); the
RVQ rate-quality curve over its quantizer counts; and RVQ (and FSQ) codebook usage per codebook on
held-out speech (share of entries used; goal > 90% for RVQ, i.e. no collapse), measured with
codecbench's own utilization metric (codecbench.metrics.codebook).

    python bench/inhouse_vs_opus.py [--rvq CKPT] [--fsq CKPT] [--vae CKPT] [--curve 1,2,4,8,16]

Evaluation audio: ../shared/testdata/hi (train_000..train_015 of hindi-news-1h, excluded from
training). Utilization: the last 20 utterances of hindi-news-1h (also excluded from training).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from codecbench import audio
from codecbench.codecs.registry import all_specs, load_codec
from codecbench.metrics.base import Failure, MetricInput, safe_compute
from codecbench.metrics.codebook import pooled_utilization
from codecbench.metrics.registry import get_metric
from codecbench.stats import bootstrap_ci, paired_difference
from codecbench.types import Utterance

SHARED = Path(__file__).resolve().parents[2] / "shared"
METRICS = (("pesq_wb", "PESQ-wb"), ("stoi", "STOI"), ("mel_distance", "mel dist"))


def load_items(paths: list[Path]) -> list[tuple[str, np.ndarray, int]]:
    out = []
    for p in paths:
        wave, sr = audio.load(p)
        out.append((p.stem, wave, sr))
    return out


def evaluate(name: str, items, metrics) -> dict:
    """Reconstruct each item with codec ``name`` and score it. Returns per-metric arrays (NaN = failure)."""
    codec = load_codec(name, device="cpu")
    scores = {m: [] for m, _ in METRICS}
    failures: list[str] = []
    bits, seconds, codes = [], [], []
    for uid, wave, sr in items:
        rec = codec.reconstruct(wave[None], np.array([len(wave)]), sr)
        x = MetricInput(ref=wave, deg=rec.item(0), sample_rate=sr, utterance=Utterance(id=uid, source_sr=sr),
                        codec=codec.info, codes=rec.codes[0] if rec.codes else None,
                        bits=None if rec.bits is None else float(rec.bits[0]))
        for metric_name, _ in METRICS:
            v = safe_compute(metrics[metric_name], x)[metric_name]
            if isinstance(v, Failure):
                failures.append(f"{uid} {metric_name}: {v.reason}")
                v = float("nan")
            scores[metric_name].append(v)
        seconds.append(len(wave) / sr)
        if rec.bits is not None:
            bits.append(float(rec.bits[0]))
        if rec.codes:
            codes.append(rec.codes[0])
    measured = sum(bits) / sum(seconds) if bits else None
    codec.close()
    return {"name": name, "info": codec.info, "scores": {k: np.array(v) for k, v in scores.items()},
            "failures": failures, "measured_bps": measured, "codes": codes}


def rate_of(result: dict) -> float | None:
    return result["measured_bps"] or result["info"].nominal_bitrate


def fmt_rate(result: dict) -> str:
    info = result["info"]
    if info.nominal_bitrate is None and info.latent_rate:
        return f"latent {info.latent_dim}x{info.frame_rate:g}Hz={info.latent_rate:g}/s"
    r = rate_of(result)
    kind = "measured" if result["measured_bps"] else "nominal"
    return f"{r / 1000:.2f} kbps {kind}"


def mean_ci(v: np.ndarray) -> str:
    lo, hi = bootstrap_ci(v)
    return f"{np.nanmean(v):.3f} [{lo:.3f},{hi:.3f}]"


def nearest_opus(bitrate: float | None, opus: dict[str, dict]) -> dict:
    target = 6000.0 if bitrate is None else bitrate
    return min(opus.values(), key=lambda r: abs(r["info"].nominal_bitrate - target))


def print_usage(title: str, codes: list[list[np.ndarray]], sizes: list[int]) -> list[dict]:
    stats = pooled_utilization(codes, sizes)
    print(f"\n{title}")
    print(f"{'level':>5} {'size':>5} {'codes':>6} {'used':>7} {'entropy bits':>12} {'perplexity':>10}")
    for s in stats:
        print(f"{s['level']:>5} {s['size']:>5} {s['n_codes']:>6} {100 * s['used_share']:>6.1f}% "
              f"{s['entropy_bits']:>12.2f} {s['perplexity']:>10.1f}")
    shares = [s["used_share"] for s in stats]
    print(f"min used share {100 * min(shares):.1f}%, mean {100 * np.mean(shares):.1f}%; "
          f"codebooks above 90%: {sum(s > 0.9 for s in shares)}/{len(shares)}")
    return stats


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--eval-dir", default=str(SHARED / "testdata" / "hi"), help="held-out Hindi WAVs")
    p.add_argument("--heldout", default=str(SHARED / "corpora" / "hindi-news-1h" / "manifest.jsonl") + "[-20:]",
                   help="manifest (slice) for codebook usage")
    p.add_argument("--rvq", default=None, help="RVQ checkpoint folder (default: the bundled one)")
    p.add_argument("--fsq", default=None)
    p.add_argument("--vae", default=None)
    p.add_argument("--curve", default=None, help="RVQ quantizer counts for the curve (default: all)")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    eval_paths = sorted(Path(args.eval_dir).glob("*.wav"))[: args.limit]
    if not eval_paths:
        print(f"no WAVs in {args.eval_dir}", file=sys.stderr)
        return 2
    items = load_items(eval_paths)
    total = sum(len(w) / sr for _, w, sr in items)
    print(f"evaluation: {len(items)} utterances, {total:.1f} s from {args.eval_dir} (not used in training)")
    metrics = {m: get_metric(m) for m, _ in METRICS}
    ckpt = {"rvq": args.rvq, "fsq": args.fsq, "vae": args.vae}

    def name(base: str, kind: str) -> str:
        return f"{base}:{ckpt[kind]}" if ckpt[kind] else base

    opus = {n: evaluate(n, items, metrics) for n in ("opus-6kbps", "opus-12kbps")}
    ours = {k: evaluate(name(f"ours-{k}", k), items, metrics) for k in ("rvq", "fsq", "vae")}
    rvq_rate = ours["rvq"]["info"].nominal_bitrate
    n_q = len(ours["rvq"]["info"].codebooks)
    q6 = max(1, min(n_q, round(6000 / (rvq_rate / n_q))))  # quantizers closest to 6 kbps
    if q6 != n_q:
        ours["rvq@6k"] = evaluate(name(f"ours-rvq-{q6}q", "rvq"), items, metrics)

    header = f"{'codec':<28} {'rate':<26}" + "".join(f" {label + ' mean [95% CI]':>28}" for _, label in METRICS)
    print("\n== in-house codecs vs Opus at the nearest bitrate ==")
    print(header)
    print("-" * len(header))
    for res in [*ours.values(), *opus.values()]:
        row = f"{res['info'].name:<28} {fmt_rate(res):<26}"
        row += "".join(f" {mean_ci(res['scores'][m]):>28}" for m, _ in METRICS)
        print(row)
    print("\npaired difference ours - Opus (mean [95% CI], sign-flip p); PESQ/STOI higher is better, mel lower")
    for res in ours.values():
        ref = nearest_opus(res["info"].nominal_bitrate, opus)
        note = "" if res["info"].nominal_bitrate else " (continuous latent: no bitrate; shown against Opus 6 kbps)"
        print(f"{res['info'].name} vs {ref['info'].name}{note}")
        for m, label in METRICS:
            d = paired_difference(ref["scores"][m], res["scores"][m])
            print(f"   {label:<9} {d['mean_diff']:+.3f} [{d['ci_low']:+.3f},{d['ci_high']:+.3f}] p={d['p_value']:.3f} (n={d['n']})")
    fails = [f for r in [*ours.values(), *opus.values()] for f in r["failures"]]
    if fails:
        print(f"\n{len(fails)} metric failure(s) (excluded from means): " + "; ".join(fails[:5]))

    counts = [int(c) for c in args.curve.split(",")] if args.curve else list(range(1, n_q + 1))
    print("\n== RVQ rate-quality curve (quantizer count chosen at inference) ==")
    print(f"{'quantizers':>10} {'kbps':>6}" + "".join(f" {label:>9}" for _, label in METRICS))
    for n in counts:
        res = ours["rvq"] if n == n_q else evaluate(name(f"ours-rvq-{n}q", "rvq"), items, metrics)
        print(f"{n:>10} {res['info'].nominal_bitrate / 1000:>6.2f}"
              + "".join(f" {np.nanmean(res['scores'][m]):>9.3f}" for m, _ in METRICS))
    for res in opus.values():
        print(f"{'opus':>10} {res['measured_bps'] / 1000:>6.2f}"
              + "".join(f" {np.nanmean(res['scores'][m]):>9.3f}" for m, _ in METRICS) + f"  ({res['info'].name}, measured)")

    from codecbench.inhouse.data import read_manifest

    held = read_manifest(args.heldout)
    held_items = [(i.id, *audio.load(i.path)) for i in held]
    secs = sum(len(w) / sr for _, w, sr in held_items)
    print(f"\n== codebook usage on held-out speech: {len(held_items)} utterances, {secs:.1f} s ({args.heldout}) ==")
    for kind in ("rvq", "fsq"):
        codec = load_codec(name(f"ours-{kind}", kind), device="cpu")
        codes = [codec.reconstruct(w[None], np.array([len(w)]), sr).codes[0] for _, w, sr in held_items]
        print_usage(f"{codec.info.name} ({len(codec.info.codebooks)} codebooks)", codes,
                    [lvl.size for lvl in codec.info.codebooks])
    print("\ncodecs listed:", ", ".join(n for n in all_specs() if n.startswith("ours")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
