"""In-house codecs against Opus on held-out Hindi speech.

Sections: (1) the quantized codecs (ours-rvq with all quantizers, ours-fsq) beside Opus at the
nearest bitrate, with the *measured* bitrate (code bits per second of audio) and the paired
difference ours - Opus; (2) the continuous VAE on its own (it has no bitrate, so no Opus pairing;
compared with ours-rvq instead); (3) the RVQ rate-quality curve over quantizer counts chosen at
inference; (4) codebook use on other held-out speech as perplexity per codebook (2 ** entropy of
the pooled codes; the share of entries ever used saturates at 100% long before use is even).
Per-utterance scores are summarised as mean [95% bootstrap CI] and median.

    python bench/inhouse_vs_opus.py [--rvq CKPT] [--fsq CKPT] [--vae CKPT] [--curve 1,2,4,8,16] [--write-cards]

``--write-cards`` records the standings in each evaluated checkpoint's config.json
(``evaluation.standings``, shown by ``codecbench codecs``) and them with the tables in its TRAINING.md.

Evaluation audio: ../shared/testdata/hi, utterances 0-15 of hindi-news-1h: excluded from training but
drawn from the training corpus (same sources and channel), which every standing says (found by
comparing samples with the checkpoints' training manifests, codecbench.inhouse.card.training_overlap).
Standings (codecbench.claims): mean paired difference [95% CI] and sign-flip p per goal metric, "no
significant difference" when p >= 0.05. Codebook use: the last 20 utterances of hindi-news-1h (also
excluded from training).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np

from codecbench import audio
from codecbench.claims import Difference, EvalSet, Standing
from codecbench.codecs.registry import load_codec
from codecbench.metrics.base import Failure, MetricInput, safe_compute
from codecbench.metrics.bitrate import code_bits
from codecbench.metrics.codebook import pooled_utilization
from codecbench.metrics.registry import get_metric
from codecbench.stats import bootstrap_ci, paired_difference
from codecbench.types import Utterance

SHARED = Path(__file__).resolve().parents[2] / "shared"
METRICS = (("pesq_wb", "PESQ-wb"), ("stoi", "STOI"), ("mel_distance", "mel dist"))
GOAL = ("ours-rvq (16 q, <= 6.4 kbps measured) >= opus-6kbps on PESQ-wb and STOI on the test clips and better "
        "(p < 0.05) under the shifted conditions of bench/inhouse_conditions.py; ours-fsq (~6 kbps) and ours-vae "
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


GOAL_METRICS = (("pesq_wb", "PESQ-wb"), ("stoi", "STOI"))


def standing(res: dict, ref: dict, test_set: EvalSet) -> Standing:
    """``res`` against ``ref`` on the goal metrics: paired differences with CI and p (codecbench.claims)."""
    diffs = tuple(Difference.from_scores(m, label, True, ref["scores"][m], res["scores"][m]) for m, label in GOAL_METRICS)
    return Standing(res["info"].name.split(":")[0], ref["info"].name.split(":")[0], test_set, diffs)


def eval_set(items, eval_dir: str, ckpt_folders: list[Path], drawn_from: str | None) -> EvalSet:
    """The evaluation set as the standings name it, with the training corpus it was drawn from: found by
    comparing its samples with the checkpoints' training manifests (or stated with --drawn-from)."""
    from codecbench.inhouse.card import training_overlap

    manifests = []
    for folder in ckpt_folders:
        meta = json.loads((folder / "config.json").read_text())
        manifests += meta.get("training", {}).get("data", {}).get("manifests", [])
    found = training_overlap(items, list(dict.fromkeys(manifests)), root=Path(__file__).resolve().parents[1])
    corpus = drawn_from or found["corpus"]
    if found["matched"] and found["matched"] < len(items):
        corpus += f" ({found['matched']} of the {len(items)} clips)"
    langs = tuple(sorted({p.stem.split("_")[0] for p in Path(eval_dir).glob("*.wav")})) if Path(eval_dir).is_dir() else ()
    shown = os.path.relpath(Path(eval_dir).resolve(), Path(__file__).resolve().parents[1])
    return EvalSet(shown if not shown.startswith("../..") else str(eval_dir), len(items), langs, corpus,
                   held_out=found["in_training"] == 0, note=band_note(items))


def band_note(items) -> str:
    """How many clips are band-limited below what PESQ-wb rates (codecbench.datachecks' rule)."""
    from codecbench.datachecks import BAND_SHARE
    from codecbench.metrics.reference import effective_bandwidth

    limit = BAND_SHARE * 7000.0  # PESQ-wb's band (MetricInfo.band_hz)
    bws = [effective_bandwidth(w, sr) for _, w, sr in items]
    k = sum(bw < limit for bw in bws)
    return (f"{k} of the {len(items)} clips are band-limited below {limit / 1000:.1f} kHz (effective bandwidth "
            f"{min(bws) / 1000:.1f}-{max(bws) / 1000:.1f} kHz), where PESQ-wb rates up to 7 kHz") if k else ""


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


def write_cards(folders: dict[str, Path], standings: dict[str, list[Standing]], report: str, command: str) -> None:
    from codecbench.inhouse.card import evaluation_section

    for kind, folder in folders.items():
        meta_path = folder / "config.json"
        meta = json.loads(meta_path.read_text())
        kept = [s for s in (meta.get("evaluation") or {}).get("standings") or ()
                if isinstance(s, dict) and s.get("written_by")]  # e.g. bench/inhouse_conditions.py's
        meta["evaluation"] = {"standings": [s.to_dict() for s in standings[kind]] + kept, "goal": GOAL,
                              "command": command}
        meta_path.write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n")
        card = folder / "TRAINING.md"
        text = card.read_text() if card.is_file() else ""
        head, sep, rest = text.partition("\n## Evaluation\n")
        tail = rest[rest.find("\n## "):] if sep and rest.find("\n## ") >= 0 else ""  # e.g. by condition
        card.write_text(head.rstrip() + "\n\n" + evaluation_section(meta, report) + tail)
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
    p.add_argument("--drawn-from", default=None, help="the training corpus the evaluation clips come from, when "
                   "their samples differ from it (found automatically when they are identical)")
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

    folders = {k: Path(ckpt[k]) if ckpt[k] else bundled_checkpoint(k) for k in ("rvq", "fsq", "vae")}
    tset = eval_set(items, args.eval_dir, list(folders.values()), args.drawn_from)
    out = _Tee()
    with redirect_stdout(out):
        secs = sum(len(w) / sr for _, w, sr in items)
        print(f"evaluation: {tset.describe()}; {secs:.1f} s")
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
        standings = {"rvq": [standing(ours["rvq"], nearest(ours["rvq"]), tset)],
                     "fsq": [standing(ours["fsq"], nearest(ours["fsq"]), tset), standing(ours["fsq"], ours["rvq"], tset)],
                     "vae": [standing(ours["vae"], ours["rvq"], tset)]}  # no bitrate: not paired with Opus
        print(f"\n== standings (goal: {GOAL}) ==")
        for kind, items_ in standings.items():
            for st in items_:
                print(f"ours-{kind}: {st.text()}")
    report = out.getvalue()
    if args.write_cards:
        write_cards(folders, standings, report, "python bench/inhouse_vs_opus.py " + " ".join(argv or sys.argv[1:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
