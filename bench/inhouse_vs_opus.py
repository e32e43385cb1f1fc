"""In-house codecs against Opus on held-out Hindi speech.

Sections: (1) the quantized codecs (ours-rvq with all quantizers, ours-fsq) beside Opus at the
nearest bitrate, with the *measured* bitrate (code bits per second of audio) and the paired
difference ours - Opus; (2) the continuous VAE on its own (it has no bitrate, so no Opus pairing;
compared with ours-rvq instead); (3) the RVQ rate-quality curve over quantizer counts chosen at
inference; (4) codebook use on other held-out speech as perplexity per codebook (2 ** entropy of
the pooled codes; the share of entries ever used saturates at 100% long before use is even).
Per-utterance scores are summarised as mean [95% bootstrap CI] and median.

    python bench/inhouse_vs_opus.py [--rvq CKPT] [--fsq CKPT] [--vae CKPT] [--curve 1,2,4,8,16] [--write-cards]

``--write-cards`` records the verdict in each evaluated checkpoint's config.json (``evaluation``,
shown by ``codecbench codecs``; joined to the by-condition summary of ``bench/inhouse_conditions.py``
when that was written) and the tables in its TRAINING.md.

Evaluation audio: ../shared/testdata/hi (utterances 0-15 of hindi-news-1h, excluded from training).
Codebook use: the last 20 utterances of hindi-news-1h (also excluded from training).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np

from codecbench import audio
from codecbench.codecs.registry import load_codec
from codecbench.metrics.base import Failure, MetricInput, safe_compute
from codecbench.metrics.bitrate import code_bits
from codecbench.metrics.codebook import pooled_utilization
from codecbench.metrics.registry import get_metric
from codecbench.stats import bootstrap_ci, paired_difference
from codecbench.types import Utterance

SHARED = Path(__file__).resolve().parents[2] / "shared"
METRICS = (("pesq_wb", "PESQ-wb"), ("stoi", "STOI"), ("mel_distance", "mel dist"))
GOAL = ("ours-rvq (16 q, <= 6.4 kbps measured) >= opus-6kbps on PESQ-wb and STOI on the test clips and, paired "
        "(p < 0.05), under the shifted conditions of bench/inhouse_conditions.py; ours-fsq (~6 kbps) and ours-vae "
        "no worse than ours-rvq")


class _Tee(io.StringIO):
    """Prints as it goes and keeps the text for the cards."""

    def write(self, s: str) -> int:
        sys.__stdout__.write(s)
        sys.__stdout__.flush()
        return super().write(s)


def evaluate(name: str, items, metrics) -> dict:
    """Reconstruct each item with codec ``name`` and score it. Per-metric arrays (NaN = failure, listed)."""
    codec = load_codec(name, device="cpu")
    scores: dict[str, list[float]] = {m: [] for m, _ in METRICS}
    failures, bits, seconds, codes = [], [], [], []
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
        if rec.bits is not None:  # real payload (Opus packets)
            bits.append(float(rec.bits[0]))
        elif rec.codes:  # code bits, as the bitrate_measured metric counts them
            bits.append(code_bits(rec.codes[0], [lvl.size for lvl in codec.info.codebooks]))
        if rec.codes:
            codes.append(rec.codes[0])
    codec.close()
    return {"name": name, "info": codec.info, "scores": {k: np.array(v) for k, v in scores.items()},
            "failures": failures, "measured_bps": sum(bits) / sum(seconds) if bits else None, "codes": codes}


def mean(res: dict, metric: str) -> float:
    return float(np.nanmean(res["scores"][metric]))


def summary(v: np.ndarray) -> str:
    lo, hi = bootstrap_ci(v)
    return f"{np.nanmean(v):.3f} [{lo:.3f},{hi:.3f}] {np.nanmedian(v):.3f}"


def rate(res: dict) -> str:
    info = res["info"]
    if res["measured_bps"]:
        return f"{res['measured_bps'] / 1000:.2f} kbps measured"
    if info.nominal_bitrate:
        return f"{info.nominal_bitrate / 1000:.2f} kbps nominal"
    return f"latent {info.latent_dim} x {info.frame_rate:g} Hz"


def table(results: list[dict]) -> None:
    head = f"{'codec':<22} {'rate':<22}" + "".join(f" {label + ' mean [95% CI] median':>30}" for _, label in METRICS)
    print(head + "\n" + "-" * len(head))
    for res in results:
        print(f"{res['info'].name:<22} {rate(res):<22}" + "".join(f" {summary(res['scores'][m]):>30}" for m, _ in METRICS))


def paired(res: dict, ref: dict) -> None:
    print(f"{res['info'].name} - {ref['info'].name} (mean [95% CI], sign-flip p; PESQ/STOI higher is better, mel lower)")
    for m, label in METRICS:
        d = paired_difference(ref["scores"][m], res["scores"][m])
        print(f"   {label:<9} {d['mean_diff']:+.3f} [{d['ci_low']:+.3f},{d['ci_high']:+.3f}] p={d['p_value']:.3f} (n={d['n']})")


def _diff(res: dict, ref: dict, metric: str, digits: int) -> str:
    d = paired_difference(ref["scores"][metric], res["scores"][metric])
    return (f"diff {d['mean_diff']:+.{digits}f} [{d['ci_low']:+.{digits}f},{d['ci_high']:+.{digits}f}] "
            f"p={d['p_value']:.3f}")


def standing(res: dict, ref: dict, n: int) -> str:
    """One line for `codecbench codecs`: the measured difference to Opus at the nearest bitrate, with its
    evidence (test set, n, mean difference, 95% CI, p); "DEMO QUALITY" when behind on PESQ-wb or STOI."""
    p, s, po, so = mean(res, "pesq_wb"), mean(res, "stoi"), mean(ref, "pesq_wb"), mean(ref, "stoi")
    text = (f"{n} test clips (hindi-news-1h utterances 0-15: the training corpus's broadcast source, held out of "
            f"training): PESQ-wb {p:.2f} vs {po:.2f} for {ref['info'].name}, {_diff(res, ref, 'pesq_wb', 2)}; "
            f"STOI {s:.3f} vs {so:.3f}, {_diff(res, ref, 'stoi', 3)}")
    return text if p >= po and s >= so else f"DEMO QUALITY: behind {ref['info'].name} on the {text}"


def against_rvq(res: dict, rvq: dict) -> str:
    """'no worse than ours-rvq ...' or 'worse than ours-rvq on <metrics> ...' (means on the same clips)."""
    p, s, pr, sr = mean(res, "pesq_wb"), mean(res, "stoi"), mean(rvq, "pesq_wb"), mean(rvq, "stoi")
    worse = [label for label, a, b in (("PESQ-wb", p, pr), ("STOI", s, sr)) if a < b]
    than = f"worse than ours-rvq on {' and '.join(worse)}" if worse else "no worse than ours-rvq"
    return (f"{than} (PESQ-wb {p:.2f} vs {pr:.2f}, {_diff(res, rvq, 'pesq_wb', 2)}; STOI {s:.3f} vs {sr:.3f}, "
            f"{_diff(res, rvq, 'stoi', 3)})")


def vae_standing(vae: dict, rvq: dict, rvq_is_demo: bool) -> str:
    text = f"continuous latent, no bitrate (not comparable with Opus); {against_rvq(vae, rvq)} on the 16 test clips"
    return ("DEMO QUALITY: " + text) if rvq_is_demo or "worse than ours-rvq on" in text else text


def curve(counts: list[int], full: dict, n_q: int, name, items, metrics) -> list[dict]:
    print(f"{'quantizers':>10} {'kbps':>6}" + "".join(f" {label:>9}" for _, label in METRICS))
    rows = []
    for n in counts:
        res = full if n == n_q else evaluate(name(f"ours-rvq-{n}q"), items, metrics)
        rows.append(res)
        print(f"{n:>10} {res['measured_bps'] / 1000:>6.2f}" + "".join(f" {mean(res, m):>9.3f}" for m, _ in METRICS))
    pesq = [mean(r, "pesq_wb") for r in rows]
    rising = all(b >= a for a, b in zip(pesq, pesq[1:], strict=False))
    print(f"PESQ-wb rises monotonically: {rising}; span {max(pesq) - min(pesq):.3f} (goal: monotonic, >= 0.5)")
    return rows


def usage(codec_name: str, held) -> None:
    codec = load_codec(codec_name, device="cpu")
    codes = [codec.reconstruct(w[None], np.array([len(w)]), sr).codes[0] for _, w, sr in held]
    stats = pooled_utilization(codes, [lvl.size for lvl in codec.info.codebooks])
    perp = np.array([s["perplexity"] for s in stats])
    rel = perp / np.array([s["size"] for s in stats])
    print(f"{codec.info.name}: {len(stats)} codebooks of {stats[0]['size']}, {stats[0]['n_codes']} codes each")
    print("   perplexity per codebook: " + " ".join(f"{v:.0f}" for v in perp))
    print(f"   median perplexity {np.median(perp):.1f} (min {perp.min():.1f}, max {perp.max():.1f}); median "
          f"perplexity / size {np.median(rel):.2f}; entries ever used (saturating): median "
          f"{100 * np.median([s['used_share'] for s in stats]):.0f}%")


def write_cards(folders: dict[str, Path], verdicts: dict[str, str], report: str, command: str) -> None:
    for kind, folder in folders.items():
        meta_path = folder / "config.json"
        meta = json.loads(meta_path.read_text())
        ev = meta.get("evaluation", {})
        by_condition = ev.get("by_condition")  # written by bench/inhouse_conditions.py; kept
        meta["evaluation"] = {"test_clips": verdicts[kind], "by_condition": by_condition,
                              "verdict": "; ".join(x for x in (verdicts[kind], by_condition) if x),
                              "goal": GOAL, "command": command}
        meta_path.write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n")
        card = folder / "TRAINING.md"
        text = card.read_text() if card.is_file() else ""
        head, sep, rest = text.partition("\n## Evaluation\n")
        tail = rest[rest.find("\n## "):] if sep and rest.find("\n## ") >= 0 else ""  # e.g. by condition
        card.write_text(head.rstrip() + f"\n\n## Evaluation\n\n{verdicts[kind]}\n\n`{command}`\n\n```\n{report}```\n"
                        + tail)
        print(f"wrote the evaluation into {meta_path} and {card}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--eval-dir", default=str(SHARED / "testdata" / "hi"), help="held-out Hindi WAVs")
    p.add_argument("--heldout", default=str(SHARED / "corpora" / "hindi-news-1h" / "manifest.jsonl") + "[-20:]",
                   help="manifest (slice) for codebook use")
    for kind in ("rvq", "fsq", "vae"):
        p.add_argument(f"--{kind}", default=None, help=f"{kind.upper()} checkpoint folder (default: the bundled one)")
    p.add_argument("--curve", default="1,2,4,8,16", help="RVQ quantizer counts for the curve")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--write-cards", action="store_true", help="record the results in the checkpoints' cards")
    args = p.parse_args(argv)

    import torch

    from codecbench.codecs.inhouse import bundled_checkpoint
    from codecbench.inhouse.data import read_manifest

    torch.set_num_threads(args.threads)
    paths = sorted(Path(args.eval_dir).glob("*.wav"))[: args.limit]
    if not paths:
        print(f"no WAVs in {args.eval_dir}", file=sys.stderr)
        return 2
    items = [(q.stem, *audio.load(q)) for q in paths]
    metrics = {m: get_metric(m) for m, _ in METRICS}
    ckpt = {k: getattr(args, k) for k in ("rvq", "fsq", "vae")}

    def name(base: str) -> str:
        kind = base.split("-")[1]
        return f"{base}:{ckpt[kind]}" if ckpt[kind] else base

    out = _Tee()
    with redirect_stdout(out):
        secs = sum(len(w) / sr for _, w, sr in items)
        print(f"evaluation: {len(items)} utterances, {secs:.1f} s from {Path(args.eval_dir).name} (not used in training)")
        opus = {n: evaluate(n, items, metrics) for n in ("opus-6kbps", "opus-12kbps")}
        ours = {k: evaluate(name(f"ours-{k}"), items, metrics) for k in ("rvq", "fsq", "vae")}

        def nearest(res: dict) -> dict:
            return min(opus.values(), key=lambda r: abs(r["info"].nominal_bitrate - res["measured_bps"]))

        print("\n== quantized in-house codecs vs Opus (measured bitrates) ==")
        table([ours["rvq"], ours["fsq"], *opus.values()])
        for kind in ("rvq", "fsq"):
            paired(ours[kind], nearest(ours[kind]))
        paired(ours["fsq"], ours["rvq"])  # the goal: FSQ (and VAE) no worse than RVQ
        print("\n== continuous VAE (no bitrate: not paired with Opus; against ours-rvq) ==")
        table([ours["vae"], ours["rvq"]])
        paired(ours["vae"], ours["rvq"])
        fails = [f for r in [*ours.values(), *opus.values()] for f in r["failures"]]
        if fails:
            print(f"\n{len(fails)} metric failure(s) (excluded from means): " + "; ".join(fails[:5]))
        n_q = len(ours["rvq"]["info"].codebooks)
        print("\n== RVQ rate-quality curve (quantizers chosen at inference; measured kbps) ==")
        curve([int(c) for c in args.curve.split(",")], ours["rvq"], n_q, name, items, metrics)
        held = [(i.id, *audio.load(i.path)) for i in read_manifest(args.heldout)]
        print(f"\n== codebook use on {len(held)} other held-out utterances ({Path(args.heldout).parent.name}"
              f"/{Path(args.heldout).name}) ==")
        for kind in ("rvq", "fsq"):
            usage(name(f"ours-{kind}"), held)
        verdicts = {k: standing(ours[k], nearest(ours[k]), len(items)) for k in ("rvq", "fsq")}
        verdicts["fsq"] += f"; {against_rvq(ours['fsq'], ours['rvq'])}"
        verdicts["vae"] = vae_standing(ours["vae"], ours["rvq"], verdicts["rvq"].startswith("DEMO"))
        print(f"\n== verdict (goal: {GOAL}) ==")
        for kind, text in verdicts.items():
            print(f"ours-{kind}: {text}")
    report = out.getvalue()
    if args.write_cards:
        folders = {k: Path(ckpt[k]) if ckpt[k] else bundled_checkpoint(k) for k in ("rvq", "fsq", "vae")}
        write_cards(folders, verdicts, report, "python bench/inhouse_vs_opus.py " + " ".join(argv or sys.argv[1:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
