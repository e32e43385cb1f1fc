"""In-house codecs against Opus by recording/channel condition, on speech kept out of training.

Sets (clean sources): ``hi``, the 16 test clips (../shared/testdata/hi: hindi-news-1h utterances 0-15,
the training corpus's own broadcast speech, excluded from training); ``en`` and ``ta``, 16 espeak-ng
sentences each (``codecbench.inhouse.espeak.SENTENCES``, voices +m3/+f2 alternating, 165 words/min; no
shipped checkpoint trains on en or ta espeak speech). Each clip is passed through every condition of
``codecbench.data.conditions`` (narrowband low-pass, G.711 µ-law and the telephone band via 8 kHz,
G.723.1, pink noise, levels, clipping); the derived clip is the codec's input and the reference.

Per condition: mean PESQ-wb, STOI and mel distance per codec over the 48 clips, and the paired difference
of each in-house codec to ``--baseline`` (opus-6kbps) over clips: mean [95% bootstrap CI] and a
sign-flip permutation p (codecbench.stats). "shifted" pools the conditions other than clean per clip
(the per-clip mean over them, so the n stays the number of clips). Scores are cached per codec, set,
condition and clip in ``--cache`` (keyed by the checkpoint's file hashes), so a rerun only computes what
is new.

    python bench/inhouse_conditions.py --codecs new=ours-rvq:runs/rvq,ours-rvq,opus-6kbps,opus-12kbps
    python bench/inhouse_conditions.py --sets hi --conditions clean,lowpass-4000 --limit 2    # smoke
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from codecbench import audio
from codecbench.data.conditions import CONDITIONS, derive
from codecbench.stats import paired_difference

SHARED = Path(__file__).resolve().parents[2] / "shared"
METRICS = (("pesq_wb", "PESQ-wb"), ("stoi", "STOI"), ("mel_distance", "mel"))
VOICES = ("+m3", "+f2")
SPEED = 165


def espeak_set(lang: str, folder: Path) -> list[tuple[str, np.ndarray, int]]:
    from codecbench.inhouse.espeak import SENTENCES

    exe = shutil.which("espeak-ng")
    if exe is None:
        sys.exit("espeak-ng is not installed")
    out = []
    for i, text in enumerate(SENTENCES[lang]):
        wav = folder / f"{lang}_{i:02d}.wav"
        if not wav.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            subprocess.run([exe, "-v", lang + VOICES[i % 2], "-s", str(SPEED), "-w", str(wav), text], check=True,
                           capture_output=True)
        out.append((wav.stem, *audio.load(wav)))
    return out


def load_sets(names: list[str], limit: int | None, cache_dir: Path) -> dict[str, list]:
    sets = {}
    for name in names:
        if name == "hi":
            sets[name] = [(p.stem, *audio.load(p)) for p in sorted((SHARED / "testdata" / "hi").glob("*.wav"))]
        else:
            sets[name] = espeak_set(name, cache_dir / "espeak-eval")
        sets[name] = sets[name][:limit]
    return sets


def codec_key(spec: str) -> str:
    """The codec name plus a hash of the checkpoint it loads (a retrained checkpoint is another codec)."""
    from codecbench.codecs.inhouse import bundled_checkpoint

    base, _, path = spec.partition(":")
    if not base.startswith("ours-"):
        return spec
    folder = Path(path) if path else bundled_checkpoint(base.split("-")[1])
    h = hashlib.sha256()
    for f in ("model.safetensors", "config.json"):
        h.update((folder / f).read_bytes() if f == "model.safetensors" else
                 json.dumps(json.loads((folder / f).read_text())["model"], sort_keys=True).encode())
    return f"{base}#{h.hexdigest()[:12]}"  # the same weights under another path are the same codec


def score_codec(spec: str, jobs: list[tuple[str, str, str, np.ndarray, int]], threads: int) -> dict:
    """{"set/condition/uid": {metric: value or None, "bits": .., "seconds": ..}} for one codec."""
    import torch

    from codecbench.codecs.registry import load_codec
    from codecbench.metrics.base import Failure, MetricInput, safe_compute
    from codecbench.metrics.bitrate import code_bits
    from codecbench.metrics.registry import get_metric
    from codecbench.types import Utterance

    torch.set_num_threads(threads)
    metrics = {m: get_metric(m) for m, _ in METRICS}
    codec = load_codec(spec, device="cpu")
    out = {}
    for set_name, cond, uid, wave, sr in jobs:
        rec = codec.reconstruct(wave[None], np.array([len(wave)]), sr)
        x = MetricInput(ref=wave, deg=rec.item(0), sample_rate=sr, utterance=Utterance(id=uid, source_sr=sr),
                        codec=codec.info)
        row: dict = {}
        for m, _ in METRICS:
            v = safe_compute(metrics[m], x)[m]
            row[m] = None if isinstance(v, Failure) else float(v)
            if isinstance(v, Failure):
                row.setdefault("failures", []).append(f"{m}: {v.reason}")
        if rec.bits is not None:
            row["bits"] = float(rec.bits[0])
        elif rec.codes:
            row["bits"] = code_bits(rec.codes[0], [lvl.size for lvl in codec.info.codebooks])
        row["seconds"] = len(wave) / sr
        out[f"{set_name}/{cond}/{uid}"] = row
    codec.close()
    return out


def fmt_diff(d: dict, digits: int) -> str:
    star = "*" if d["p_value"] < 0.05 else " "
    return (f"{d['mean_diff']:+.{digits}f} [{d['ci_low']:+.{digits}f},{d['ci_high']:+.{digits}f}] "
            f"p={d['p_value']:.3f}{star}")


class Scores:
    """Per-clip scores of every codec, looked up by condition ("shifted": the per-clip mean over the
    conditions other than clean) and set."""

    def __init__(self, scores: dict[str, dict], sets: dict, conditions: list[str]):
        self.scores, self.sets = scores, sets
        self.n = {s: len(v) for s, v in sets.items()}
        self.keys = {c: [f"{s}/{c}/{uid}" for s, items in sets.items() for uid, _, _ in items] for c in conditions}
        self.shifted = [c for c in conditions if c != "clean"]
        self.groups = list(conditions) + (["shifted"] if self.shifted else [])

    def values(self, label: str, cond: str, metric: str, only: str | None = None) -> np.ndarray:
        if cond == "shifted":
            v = np.nanmean(np.stack([self.values(label, c, metric) for c in self.shifted]), axis=0)
        else:
            row = self.scores[label]
            v = np.array([np.nan if row[k][metric] is None else row[k][metric] for k in self.keys[cond]])
        if only is None:
            return v
        start = sum(self.n[t] for t in list(self.sets)[: list(self.sets).index(only)])
        return v[start:start + self.n[only]]  # keys list the sets in this order

    def pair(self, label: str, other: str, cond: str, metric: str, only: str | None = None) -> dict:
        return paired_difference(self.values(other, cond, metric, only), self.values(label, cond, metric, only))

    def per_condition(self, label: str, other: str, metric: str) -> str:
        """'better in 11/12 conditions, worse in g723-6k3 (-0.10, p = 0.013)' (p < 0.05 each)."""
        better, worse = [], []
        for c in self.shifted:
            d = self.pair(label, other, c, metric)
            if d["p_value"] < 0.05:
                (better if d["mean_diff"] > 0 else worse).append(f"{c} ({d['mean_diff']:+.3f}, p = {d['p_value']:.3f})")
        text = f"better in {len(better)}/{len(self.shifted)} conditions"
        return text + (f", worse in {', '.join(worse)}" if worse else "")

    def standing(self, label: str, other: str, names: dict[str, str]):
        """``label`` against ``other`` on the pooled shifted conditions, as a codecbench.claims Standing."""
        from codecbench.claims import Difference, EvalSet, Standing

        what = {"hi": "hi clips (../shared/testdata/hi; only these come from the training corpus)",
                "en": "en espeak-ng sentences", "ta": "ta espeak-ng sentences"}
        clips = " + ".join(f"{k} {what.get(s, s + ' clips')}" for s, k in self.n.items())
        note = "per condition (TRAINING.md), paired over clips: " + "; ".join(
            f"{name} {self.per_condition(label, other, m)}" for m, name in (("pesq_wb", "PESQ-wb"), ("stoi", "STOI")))
        test_set = EvalSet(f"bench/inhouse_conditions.py: {len(self.shifted)} shifted conditions ("
                           f"{', '.join(self.shifted)}) of {clips}, per-clip means over the conditions",
                           sum(self.n.values()), tuple(self.n), "hindi-news-1h" if "hi" in self.n else "", True, note)
        diffs = tuple(Difference.from_scores(m, lab, True, self.values(other, "shifted", m),
                                             self.values(label, "shifted", m))
                      for m, lab in (("pesq_wb", "PESQ-wb"), ("stoi", "STOI")))
        return Standing(names.get(label, label), names.get(other, other), test_set, diffs)


def report(labels: list[str], sc: Scores, baseline: str, rvq: str | None) -> str:
    ours = [lb for lb in labels if lb != baseline and not lb.startswith("opus")]
    lines = [f"clips per condition: {', '.join(f'{s} {n}' for s, n in sc.n.items())}; 'shifted' = per-clip mean "
             f"over the {len(sc.shifted)} conditions other than clean", "", "means per condition (PESQ-wb / STOI)"]
    head = f"{'condition':<14}" + "".join(f" {lb:>18}" for lb in labels)
    lines += [head, "-" * len(head)]
    for cond in sc.groups:
        lines.append(f"{cond:<14}" + "".join(f" {np.nanmean(sc.values(lb, cond, 'pesq_wb')):>8.3f} / "
                                             f"{np.nanmean(sc.values(lb, cond, 'stoi')):.3f}" for lb in labels))
    rates = []
    for lb in labels:
        rows = [r for r in sc.scores[lb].values() if "bits" in r]
        if rows:
            rates.append(f"{lb} {sum(r['bits'] for r in rows) / sum(r['seconds'] for r in rows) / 1000:.2f} kbps")
    lines.append("measured bitrate over all clips and conditions: " + (", ".join(rates) or "n/a"))
    pairs = [(lb, baseline) for lb in ours] + [(lb, rvq) for lb in ours if rvq and lb != rvq]
    no_rate = {lb for lb in labels if not any("bits" in r for r in sc.scores[lb].values())}
    for lb, other in pairs:
        note = " (no bitrate: not like for like)" if lb in no_rate and other == baseline else ""
        lines += ["", f"{lb} - {other}{note}, paired over clips: mean [95% CI] sign-flip p (* p < 0.05)"]
        head = f"{'condition':<14} {'PESQ-wb':>34} {'STOI':>34} {'mel (lower better)':>34}"
        lines += [head, "-" * len(head)]
        for cond in sc.groups:
            lines.append(f"{cond:<14} " + " ".join(f"{fmt_diff(sc.pair(lb, other, cond, m), d):>34}"
                                                   for m, d in (("pesq_wb", 3), ("stoi", 4), ("mel_distance", 3))))
    if len(sc.sets) > 1:
        for lb in ours:
            lines += ["", f"{lb} - {baseline} per set: PESQ-wb / STOI mean differences (* p < 0.05, paired over "
                      "that set's clips)"]
            head = f"{'condition':<14}" + "".join(f" {s + f' (n={n})':>22}" for s, n in sc.n.items())
            lines += [head, "-" * len(head)]
            for cond in sc.groups:
                cells = []
                for s in sc.sets:
                    dp, ds = sc.pair(lb, baseline, cond, "pesq_wb", s), sc.pair(lb, baseline, cond, "stoi", s)
                    cells.append(f"{dp['mean_diff']:+.2f}{'*' if dp['p_value'] < 0.05 else ' '} / "
                                 f"{ds['mean_diff']:+.3f}{'*' if ds['p_value'] < 0.05 else ' '}")
                lines.append(f"{cond:<14}" + "".join(f" {c:>22}" for c in cells))
    names = {lb: lb for lb in labels}
    lines += ["", "standings (codecbench.claims; none for a codec without a bitrate against Opus)"]
    lines += [f"- {sc.standing(lb, o, names).text()}" for lb, o in pairs if not (lb in no_rate and o == baseline)]
    fails = [f"{lb} {k}: {f}" for lb in labels for k, r in sc.scores[lb].items() for f in r.get("failures", [])]
    if fails:
        lines.append(f"\n{len(fails)} metric failure(s), excluded from means and pairs: " + "; ".join(fails[:6]))
    return "\n".join(lines) + "\n"


WRITER = "bench/inhouse_conditions.py"


def write_cards(labels: dict[str, str], sc: Scores, text: str, command: str, baseline: str, rvq: str | None) -> None:
    """The tables into each evaluated in-house checkpoint's TRAINING.md ("## Evaluation by condition");
    its standings on the pooled shifted conditions (against ``baseline``, and FSQ/VAE against ``rvq``;
    the VAE, without a bitrate, only against ``rvq``) into its config.json ``evaluation.standings``
    (codecbench.claims), beside those of bench/inhouse_vs_opus.py."""
    from codecbench.codecs.inhouse import bundled_checkpoint

    names = {lb: spec.split(":")[0] for lb, spec in labels.items()}
    for label, spec in labels.items():
        base, _, path = spec.partition(":")
        if not base.startswith("ours-") or base.count("-") > 1:
            continue
        folder = Path(path) if path else bundled_checkpoint(base.split("-")[1])
        others = [baseline] if base != "ours-vae" else []
        others += [rvq] if rvq and rvq != label else []
        standings = [sc.standing(label, o, names) for o in others]
        card = folder / "TRAINING.md"
        old = card.read_text() if card.is_file() else ""
        head, sep, rest = old.partition("\n## Evaluation by condition")
        tail = rest[rest.find("\n## ", 1):] if sep and rest.find("\n## ", 1) >= 0 else ""
        listed = "".join(f"- {st.text()}\n" for st in standings)
        card.write_text(head.rstrip() + f"\n\n## Evaluation by condition\n\n{listed}\n(`{label}` in the tables is "
                        f"this checkpoint.)\n\n`{command}`\n\n```\n{text}```\n" + tail)
        meta = json.loads((folder / "config.json").read_text())
        ev = meta.setdefault("evaluation", {})
        kept = [s for s in ev.get("standings") or () if not (isinstance(s, dict) and s.get("written_by") == WRITER)]
        ev["standings"] = kept + [{**st.to_dict(), "written_by": WRITER} for st in standings]
        (folder / "config.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n")
        print(f"wrote the condition tables into {card} and the standings into {folder / 'config.json'}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--codecs", default="ours-rvq,ours-fsq,ours-vae,opus-6kbps,opus-12kbps",
                   help="comma-separated codec names, LABEL=NAME to name one (e.g. new=ours-rvq:runs/rvq)")
    p.add_argument("--baseline", default="opus-6kbps", help="label the in-house codecs are paired with")
    p.add_argument("--rvq", default=None, help="label the other in-house codecs are also paired with (default: "
                                               "the first ours-rvq)")
    p.add_argument("--sets", default="hi,en,ta")
    p.add_argument("--conditions", default=",".join(CONDITIONS))
    p.add_argument("--limit", type=int, default=None, help="clips per set")
    p.add_argument("--workers", type=int, default=1, help="codecs scored in parallel processes")
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument("--cache", default=None, help="JSON file of per-clip scores (default: none)")
    p.add_argument("--write-cards", action="store_true",
                   help="append the tables to the TRAINING.md of every in-house checkpoint evaluated")
    args = p.parse_args(argv)

    from codecbench.data.synthetic import cache_root

    labels = {}
    for item in [c.strip() for c in args.codecs.split(",") if c.strip()]:
        label, _, spec = item.rpartition("=")
        labels[label or spec] = spec
    if args.baseline not in labels:
        p.error(f"--baseline {args.baseline} is not among --codecs")
    conditions = [c for c in args.conditions.split(",") if c]
    sets = load_sets([s for s in args.sets.split(",") if s], args.limit, cache_root())
    derived = {(s, c, uid): (derive(w, sr, c, f"{s}/{uid}"), 16000)
               for s, items in sets.items() for uid, w, sr in items for c in conditions}
    cache_path = Path(args.cache) if args.cache else None
    cache = json.loads(cache_path.read_text()) if cache_path and cache_path.is_file() else {}
    keys = {label: codec_key(spec) for label, spec in labels.items()}
    todo = {}
    for label in labels:
        have = cache.get(keys[label], {})
        jobs = [(s, c, uid, w, sr) for (s, c, uid), (w, sr) in derived.items() if f"{s}/{c}/{uid}" not in have]
        if jobs:
            todo[label] = jobs
    print(f"{len(derived)} derived clips; scoring {sum(len(j) for j in todo.values())} codec x clip pairs "
          f"({', '.join(f'{lb} {len(j)}' for lb, j in todo.items()) or 'all cached'})", flush=True)
    with ProcessPoolExecutor(max(1, args.workers)) as pool:
        futures = {lb: pool.submit(score_codec, labels[lb], jobs, args.threads) for lb, jobs in todo.items()}
        for lb, fut in futures.items():
            cache.setdefault(keys[lb], {}).update(fut.result())
            print(f"scored {lb}", flush=True)
            if cache_path:
                cache_path.write_text(json.dumps(cache))
    sc = Scores({lb: cache[keys[lb]] for lb in labels}, sets, conditions)
    rvq = args.rvq or next((lb for lb, spec in labels.items() if spec.split(":")[0] == "ours-rvq"), None)
    text = report(list(labels), sc, args.baseline, rvq)
    print(text)
    if args.write_cards:
        write_cards(labels, sc, text, "python bench/inhouse_conditions.py " + " ".join(argv or sys.argv[1:]),
                    args.baseline, rvq)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
