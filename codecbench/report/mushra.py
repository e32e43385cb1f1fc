"""MUSHRA listening tests (ITU-R BS.1534-3): stimuli + webMUSHRA config, and analysis of the ratings.

``codecbench mushra RUN --codecs A,B --items N --out DIR``

* Items are chosen stratified by language (as even a split as the languages allow), deterministically
  from ``--seed``; items whose reconstructions the run saved for every codec come first.
* Every stimulus is written at one common rate (``--sample-rate``, default 48 kHz; soxr VHQ) as
  16-bit WAV: the hidden reference, the 3.5 kHz (low) and 7 kHz (mid) low-pass anchors (zero-phase
  FFT brick-wall filters: nothing is left above the cut-off), and one reconstruction per codec.
* Loudness: each stimulus is normalised to ``--lufs`` (default -23 LUFS, ITU-R BS.1770 integrated
  loudness via pyloudnorm). Clipping protection lowers the whole item by one common gain when any of
  its stimuli would peak above ``--max-peak`` (default -1 dBFS), so an item's stimuli stay equally loud.
* Reconstructions come from the run's ``audio/`` folder. One that was not saved is made again by
  running the codec on the reference (``load_codec(name).reconstruct``) when ``--reencode`` is given;
  otherwise the command stops and names the missing items.

DIR receives ``stimuli/<item>/{reference,anchor35,anchor70,<codec>}.wav``, ``mushra.yaml`` (webMUSHRA
config: copy DIR into webMUSHRA's ``configs/resources/`` as ``--resource-dir`` says, the YAML into
``configs/``) and ``mushra_items.json`` (item -> utterance, language, stimulus -> codec, loudness).

``codecbench mushra-analyze RATINGS [--items mushra_items.json] [--out DIR]`` reads webMUSHRA's
``results/<testId>/mushra.csv`` (session_test_id, questionnaire columns, trial_id, rating_stimulus,
rating_score, ...), drops listeners who rated the hidden reference below 90 for more than 15% of the
items they rated (BS.1534-3 post-screening), and reports per condition and language the mean score
with a 95% t-interval (mean ± t(0.975, n-1)·s/√n over all retained ratings, as BS.1534-3 presents
results), as CSV, markdown and a plot.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from codecbench import audio
from codecbench.errors import CodecbenchError
from codecbench.report.runs import ALL_LANGS, Run, RunError
from codecbench.store import safe_name

REFERENCE = "reference"  # webMUSHRA's name for the hidden reference in its results
ANCHORS = {"anchor35": 3500.0, "anchor70": 7000.0}
MIN_SECONDS = 0.5  # BS.1770 gating needs 400 ms blocks; shorter items cannot be measured


class MushraError(CodecbenchError):
    """The stimuli cannot be made or the ratings cannot be read (exit status 2)."""


# -- signal processing ---------------------------------------------------------------------------

def lowpass(wave: np.ndarray, sample_rate: int, cutoff_hz: float) -> np.ndarray:
    """Zero-phase brick-wall low-pass: every FFT bin above ``cutoff_hz`` is set to zero."""
    x = np.asarray(wave, dtype=np.float64)
    n = len(x)
    spec = np.fft.rfft(x, n=n)
    freqs = np.fft.rfftfreq(n, d=1.0 / sample_rate)
    spec[freqs > cutoff_hz] = 0.0
    return np.fft.irfft(spec, n=n).astype(np.float32)


def loudness(wave: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness (LUFS, ITU-R BS.1770-4) via pyloudnorm; -inf for silence."""
    try:
        import pyloudnorm
    except ImportError as exc:  # pragma: no cover - in the report extra
        raise MushraError("loudness normalisation needs pyloudnorm: pip install 'codecbench[report]'") from exc
    if len(wave) < int(0.4 * sample_rate):
        raise MushraError(f"{len(wave) / sample_rate:.2f} s is too short for BS.1770 loudness (needs >= 0.4 s)")
    return float(pyloudnorm.Meter(sample_rate).integrated_loudness(np.asarray(wave, dtype=np.float64)))


def normalise_item(stimuli: dict[str, np.ndarray], sample_rate: int, target_lufs: float,
                   max_peak_dbfs: float) -> tuple[dict[str, np.ndarray], dict[str, float], float]:
    """Bring every stimulus to ``target_lufs``; then one common gain keeps all peaks <= ``max_peak_dbfs``.

    Returns (stimuli, loudness before, common gain in dB applied for clipping protection).
    """
    before = {k: loudness(w, sample_rate) for k, w in stimuli.items()}
    silent = [k for k, v in before.items() if not math.isfinite(v)]
    if silent:
        raise MushraError(f"silent stimulus/stimuli ({', '.join(silent)}): loudness cannot be normalised")
    out = {k: w * 10 ** ((target_lufs - before[k]) / 20.0) for k, w in stimuli.items()}
    peak = max(audio.peak_dbfs(w) for w in out.values())
    common = min(0.0, max_peak_dbfs - peak)
    if common < 0:
        out = {k: w * 10 ** (common / 20.0) for k, w in out.items()}
    return {k: w.astype(np.float32) for k, w in out.items()}, before, common


# -- item choice ---------------------------------------------------------------------------------

def choose_items(run: Run, codecs: list[str], n_items: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n_items`` utterances stratified by language (even split, remainder to the first languages in
    sorted order, shortfalls moved to other languages); ones with every codec's audio saved first."""
    rows = run.rows()
    saved: dict[str, set[str]] = {}
    for rec in rows[rows["codec"].isin(codecs)].to_dict("records"):
        if run.audio_file(str(rec.get("audio") or "")) is not None:
            saved.setdefault(rec["utt_id"], set()).add(rec["codec"])
    scored = {(r["codec"], r["utt_id"]) for r in rows[["codec", "utt_id"]].to_dict("records")}
    by_lang: dict[str, list[dict[str, Any]]] = {}
    rng = np.random.default_rng(seed)
    for u in run.dataset:
        if float(u.get("duration") or 0) < MIN_SECONDS or run.reference_file(u["id"]) is None:
            continue
        if not all((c, u["id"]) in scored for c in codecs):
            continue
        by_lang.setdefault(str(u.get("lang")), []).append(u)
    for lang in sorted(by_lang):
        us = by_lang[lang]
        order = rng.permutation(len(us))
        us[:] = sorted((us[i] for i in order), key=lambda u: len(saved.get(u["id"], ())) < len(codecs))
    langs = sorted(by_lang)
    if not langs:
        raise MushraError("no utterance of the run can be used (reference file present, >= 0.5 s, scored by every codec)")
    quota = {lang: n_items // len(langs) + (1 if i < n_items % len(langs) else 0) for i, lang in enumerate(langs)}
    chosen = {lang: by_lang[lang][: quota[lang]] for lang in langs}
    short = n_items - sum(len(v) for v in chosen.values())
    for lang in langs:  # move a language's shortfall to languages with items to spare
        spare = by_lang[lang][len(chosen[lang]):]
        take = spare[: max(0, short)]
        chosen[lang] += take
        short -= len(take)
    items = [u for lang in langs for u in chosen[lang]]
    if len(items) < n_items:
        print(f"codecbench mushra: only {len(items)} usable items (asked for {n_items})", file=sys.stderr)
    return items


# -- stimuli -------------------------------------------------------------------------------------

@dataclass
class Item:
    id: str
    utt_id: str
    lang: str
    text: str
    stimuli: dict[str, str] = field(default_factory=dict)  # stimulus key -> condition (codec / anchor / reference)
    files: dict[str, str] = field(default_factory=dict)  # stimulus key -> path relative to DIR
    loudness_before: dict[str, float] = field(default_factory=dict)
    loudness_after: dict[str, float] = field(default_factory=dict)
    clip_gain_db: float = 0.0
    reencoded: list[str] = field(default_factory=list)


def _reconstruction(run: Run, codec: str, utt_id: str, ref: np.ndarray, sr: int, reencode: bool,
                    loaded: dict[str, Any]) -> tuple[np.ndarray, bool]:
    rows = run.rows()
    sel = rows[(rows["codec"] == codec) & (rows["utt_id"] == utt_id)]
    rel = str(sel["audio"].iloc[0]) if len(sel) and "audio" in sel.columns else ""
    path = run.audio_file(rel if rel != "nan" else "")
    if path is not None:
        wave, wsr = audio.load(path)
        return audio.fit_length(audio.resample(wave, wsr, sr), len(ref)), False
    if not reencode:
        raise MushraError(f"the run did not save {codec}'s reconstruction of {utt_id}; pass --reencode to run the "
                          "codec again on it, or re-run with --save-audio all")
    if codec not in loaded:
        from codecbench.codecs.registry import load_codec

        loaded[codec] = load_codec(codec, device="auto")
    rec = loaded[codec].reconstruct(ref[None, :], np.array([len(ref)]), sr)
    return rec.item(0), True


def make_stimuli(run_dir: str | Path, codecs: list[str], n_items: int, out: str | Path, seed: int = 0,
                 sample_rate: int = 48000, target_lufs: float = -23.0, max_peak_dbfs: float = -1.0,
                 max_seconds: float | None = 12.0, reencode: bool = False,
                 resource_dir: str = "configs/resources/codecbench") -> list[Item]:
    run = Run.open(run_dir)
    known = set(run.rows()["codec"].unique())
    missing = [c for c in codecs if c not in known]
    if missing:
        raise MushraError(f"codec(s) not in the run: {', '.join(missing)} (the run has: {', '.join(sorted(known))})")
    keys = {c: safe_name(c) for c in codecs}
    clash = [c for c, k in keys.items() if k in (REFERENCE, *ANCHORS)] + \
        [c for c in codecs if list(keys.values()).count(keys[c]) > 1]
    if clash:
        raise MushraError(f"codec name(s) clash as stimulus names: {', '.join(clash)}")
    out = Path(out)
    items: list[Item] = []
    loaded: dict[str, Any] = {}
    try:
        for k, u in enumerate(choose_items(run, codecs, n_items, seed)):
            ref_path = run.reference_file(u["id"])
            ref, sr = audio.load(ref_path)
            cropped = bool(max_seconds) and len(ref) > int(max_seconds * sr)
            if cropped:
                ref = _fade_out(ref[: int(max_seconds * sr)], sr)
            item = Item(f"{safe_name(str(u.get('lang')))}_{k:02d}", u["id"], str(u.get("lang")), str(u.get("text") or ""))
            waves = {REFERENCE: audio.resample(ref, sr, sample_rate)}
            for key, cutoff in ANCHORS.items():
                waves[key] = lowpass(waves[REFERENCE], sample_rate, cutoff)
            for c in codecs:
                rec, again = _reconstruction(run, c, u["id"], ref, sr, reencode, loaded)
                if again:
                    item.reencoded.append(c)
                if cropped:  # the same crop and fade as the reference
                    rec = _fade_out(audio.fit_length(rec, len(ref)), sr)
                waves[keys[c]] = audio.fit_length(audio.resample(rec, sr, sample_rate), len(waves[REFERENCE]))
            waves, item.loudness_before, item.clip_gain_db = normalise_item(waves, sample_rate, target_lufs, max_peak_dbfs)
            for key, w in waves.items():
                rel = f"stimuli/{item.id}/{key}.wav"
                audio.save(out / rel, w, sample_rate)
                item.files[key] = rel
                item.loudness_after[key] = loudness(w, sample_rate)
            item.stimuli = {REFERENCE: REFERENCE, **{a: a for a in ANCHORS}, **{keys[c]: c for c in codecs}}
            items.append(item)
    finally:
        for codec in loaded.values():
            codec.close()
    write_config(items, out, codecs, keys, resource_dir)
    (out / "mushra_items.json").write_text(json.dumps({
        "run": run.name, "sample_rate": sample_rate, "target_lufs": target_lufs, "max_peak_dbfs": max_peak_dbfs,
        "seed": seed, "codecs": codecs, "anchors_hz": ANCHORS,
        "items": [vars(i) for i in items]}, indent=1, ensure_ascii=False), encoding="utf-8")
    return items


def _fade_out(wave: np.ndarray, sr: int, seconds: float = 0.05) -> np.ndarray:
    n = min(len(wave), int(seconds * sr))
    w = wave.copy()
    w[len(w) - n:] *= np.linspace(1.0, 0.0, n, dtype=np.float32)
    return w


def write_config(items: list[Item], out: Path, codecs: list[str], keys: dict[str, str], resource_dir: str) -> Path:
    """A webMUSHRA YAML config: a welcome page, one randomised MUSHRA page per item, a finish page
    whose questionnaire asks for a listener id (the ``name`` column of mushra.csv)."""
    import yaml

    prefix = resource_dir.rstrip("/")
    pages: list[Any] = [{
        "type": "generic", "id": "welcome", "name": "Welcome",
        "content": "Rate the basic audio quality of each signal against the reference (0-100). "
                   "Any difference from the reference is an impairment. One of the signals is the reference itself.",
    }]
    trials = []
    for item in items:
        trials.append({
            "type": "mushra", "id": item.id, "name": f"Item {item.id}",
            "content": "Rate every condition against the reference.",
            "showWaveform": False, "enableLooping": True, "randomize": True, "showConditionNames": False,
            "reference": f"{prefix}/{item.files[REFERENCE]}",
            "createAnchor35": False, "createAnchor70": False,
            "stimuli": {k: f"{prefix}/{item.files[k]}" for k in item.files if k != REFERENCE},
        })
    pages.append(["random", *trials])
    pages.append({
        "type": "finish", "name": "Thank you", "content": "Thank you for taking part.",
        "showResults": False, "writeResults": True,
        "questionnaire": [{"type": "text", "label": "Listener ID", "name": "name"}],
    })
    config = {"testname": "codecbench MUSHRA", "testId": "codecbench_mushra", "bufferSize": 2048,
              "stopOnErrors": True, "showButtonPreviousPage": True, "remoteService": "service/write.php",
              "pages": pages}
    path = out / "mushra.yaml"
    header = (f"# webMUSHRA config written by codecbench: copy {out.name}/stimuli to webMUSHRA/{prefix}/stimuli,\n"
              "# this file to webMUSHRA/configs/, and open index.html?config=mushra.yaml\n"
              f"# conditions: {', '.join(f'{keys[c]}={c}' for c in codecs)}; anchors: anchor35 (3.5 kHz), "
              "anchor70 (7 kHz) low-pass; hidden reference: 'reference'\n")
    path.write_text(header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


# -- analysis ------------------------------------------------------------------------------------

LISTENER_COLUMNS = ("session_uuid", "uuid", "name", "email", "listener", "participant", "listener_id")


@dataclass
class Screening:
    listener: str
    items: int
    items_ref_below: int
    excluded: bool


def post_screen(ratings, listener_col: str, threshold: float = 90.0, max_share: float = 0.15) -> list[Screening]:
    """BS.1534-3: exclude a listener who rates the hidden reference below ``threshold`` for more than
    ``max_share`` of the items (trials) they rated."""
    out = []
    for listener, df in ratings.groupby(listener_col, sort=True):
        ref = df[df["rating_stimulus"] == REFERENCE]
        per_item = ref.groupby("trial_id")["rating_score"].min()
        n_items = int(df["trial_id"].nunique())
        below = int((per_item < threshold).sum())
        out.append(Screening(str(listener), n_items, below, n_items > 0 and below / n_items > max_share))
    return out


def t_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and its t-interval (NaN bounds for fewer than two values)."""
    from scipy import stats

    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return math.nan, math.nan, math.nan
    m = float(x.mean())
    if len(x) < 2:
        return m, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return m, m - half, m + half


def read_ratings(path: str | Path, listener_col: str | None):
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise MushraError(f"no ratings file at {p}")
    df = pd.read_csv(p)
    need = {"trial_id", "rating_stimulus", "rating_score"}
    if not need <= set(df.columns):
        raise MushraError(f"{p} is not a webMUSHRA mushra.csv (needs columns {', '.join(sorted(need))})")
    col = listener_col or next((c for c in LISTENER_COLUMNS if c in df.columns), None)
    if col is None or col not in df.columns:
        raise MushraError(f"no listener column in {p} (looked for {', '.join(LISTENER_COLUMNS)}); name it with "
                          "--listener-column")
    df = df.copy()
    df["listener"] = df[col].astype(str)
    df["rating_score"] = pd.to_numeric(df["rating_score"], errors="coerce")
    df["trial_id"] = df["trial_id"].astype(str)
    df["rating_stimulus"] = df["rating_stimulus"].astype(str)
    return df


def analyze(ratings, items_meta: dict[str, Any] | None, threshold: float = 90.0, max_share: float = 0.15):
    """(screening, scores DataFrame: condition, lang, n, n_listeners, mean, ci_low, ci_high)."""
    import pandas as pd

    screening = post_screen(ratings, "listener", threshold, max_share)
    keep = {s.listener for s in screening if not s.excluded}
    df = ratings[ratings["listener"].isin(keep)].copy()
    trial_lang, stim_cond = {}, {}
    for it in (items_meta or {}).get("items", []):
        trial_lang[it["id"]] = it["lang"]
        for k, cond in it["stimuli"].items():
            stim_cond[k] = cond
    df["lang"] = df["trial_id"].map(lambda t: trial_lang.get(t, ALL_LANGS))
    df["condition"] = df["rating_stimulus"].map(lambda s: stim_cond.get(s, s))
    rows = []
    langs = sorted(set(df["lang"]) - {ALL_LANGS})
    for cond in sorted(df["condition"].unique(), key=_condition_order):
        for lang in [*langs, ALL_LANGS]:
            sel = df[(df["condition"] == cond) & ((df["lang"] == lang) if lang != ALL_LANGS else True)]
            m, lo, hi = t_interval(sel["rating_score"].to_numpy())
            rows.append({"condition": cond, "lang": lang, "n": int(sel["rating_score"].notna().sum()),
                         "n_listeners": int(sel["listener"].nunique()), "mean": m, "ci_low": lo, "ci_high": hi})
    return screening, pd.DataFrame(rows, columns=["condition", "lang", "n", "n_listeners", "mean", "ci_low", "ci_high"])


def _condition_order(c: str) -> tuple[int, str]:
    return (0 if c == REFERENCE else 2 if c in ANCHORS else 1, c)


def scores_markdown(screening: list[Screening], scores, threshold: float, max_share: float) -> str:
    excluded = [s for s in screening if s.excluded]
    lines = [f"## MUSHRA results ({len(screening) - len(excluded)} of {len(screening)} listeners kept)", "",
             f"Post-screening (ITU-R BS.1534-3): listeners who rated the hidden reference below {threshold:g} for more "
             f"than {100 * max_share:g}% of their items are excluded.", ""]
    if excluded:
        lines += ["Excluded: " + ", ".join(f"{s.listener} ({s.items_ref_below}/{s.items} items)" for s in excluded), ""]
    lines += ["Mean score with 95% t-interval over all retained ratings.", "",
              "| condition | lang | n | listeners | mean [95% CI] |", "|---|---|---:|---:|---|"]
    for r in scores.to_dict("records"):
        ci = "" if not math.isfinite(r["ci_low"]) else f" [{r['ci_low']:.1f}, {r['ci_high']:.1f}]"
        mean = "–" if not math.isfinite(r["mean"]) else f"{r['mean']:.1f}"
        lines.append(f"| {_md(r['condition'])} | {_md(r['lang'])} | {r['n']} | {r['n_listeners']} | {mean}{ci} |")
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def scores_plot(scores, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conds = list(dict.fromkeys(scores["condition"]))
    langs = list(dict.fromkeys(scores["lang"]))
    width = 0.8 / max(1, len(langs))
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(conds) * max(1, len(langs)) ** 0.5), 3.8))
    for j, lang in enumerate(langs):
        sub = scores[scores["lang"] == lang].set_index("condition").reindex(conds)
        xs = np.arange(len(conds)) - 0.4 + width * (j + 0.5)
        m = sub["mean"].to_numpy(dtype=float)
        lo = np.nan_to_num(m - sub["ci_low"].to_numpy(dtype=float))
        hi = np.nan_to_num(sub["ci_high"].to_numpy(dtype=float) - m)
        ax.bar(xs, m, width=width, yerr=[lo, hi], capsize=2, label=lang)
    ax.set_xticks(range(len(conds)))
    ax.set_xticklabels(conds, rotation=20, ha="right")
    ax.set_ylim(0, 100)
    ax.set_ylabel("MUSHRA score")
    ax.set_title("MUSHRA: mean and 95% CI per condition and language")
    ax.legend(fontsize=7)
    ax.grid(True, axis="y", alpha=0.3)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "mushra_scores.png", out / "mushra_scores.svg"]
    for p in paths:
        fig.savefig(p, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return paths


# -- commands ------------------------------------------------------------------------------------

def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def cmd_mushra(args: argparse.Namespace) -> int:
    try:
        items = make_stimuli(args.run, args.codecs, args.items, args.out, seed=args.seed, sample_rate=args.sample_rate,
                             target_lufs=args.lufs, max_peak_dbfs=args.max_peak, max_seconds=args.max_seconds or None,
                             reencode=args.reencode, resource_dir=args.resource_dir)
    except (MushraError, RunError) as exc:
        print(f"codecbench mushra: error: {exc}", file=sys.stderr)
        return 2
    langs: dict[str, int] = {}
    for it in items:
        langs[it.lang] = langs.get(it.lang, 0) + 1
    print(f"{len(items)} items ({', '.join(f'{k}: {v}' for k, v in langs.items())}) at {args.sample_rate} Hz, "
          f"{args.lufs:g} LUFS -> {Path(args.out) / 'mushra.yaml'}")
    return 0


def cmd_mushra_analyze(args: argparse.Namespace) -> int:
    try:
        ratings = read_ratings(args.ratings, args.listener_column)
        meta = json.loads(Path(args.items).read_text(encoding="utf-8")) if args.items else None
    except (MushraError, OSError, ValueError) as exc:
        print(f"codecbench mushra-analyze: error: {exc}", file=sys.stderr)
        return 2
    screening, scores = analyze(ratings, meta, args.threshold, args.max_share)
    out = Path(args.out) if args.out else Path(args.ratings).parent
    out.mkdir(parents=True, exist_ok=True)
    scores.to_csv(out / "mushra_scores.csv", index=False)
    md = scores_markdown(screening, scores, args.threshold, args.max_share)
    (out / "mushra_scores.md").write_text(md, encoding="utf-8")
    if not scores.empty:
        scores_plot(scores, out)
    print(md)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("mushra", help="MUSHRA (BS.1534-3) stimuli and webMUSHRA config from a run",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="run folder")
    p.add_argument("--codecs", type=_csv, required=True, help="comma-separated codecs of the run to test")
    p.add_argument("--items", type=int, default=12, help="number of items (stratified by language; default 12)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sample-rate", type=int, default=48000, help="common rate of all stimuli (default 48000)")
    p.add_argument("--lufs", type=float, default=-23.0, help="loudness target, LUFS (default -23)")
    p.add_argument("--max-peak", type=float, default=-1.0, help="peak ceiling for clipping protection, dBFS")
    p.add_argument("--max-seconds", type=float, default=12.0, help="crop items to this length (0: no crop)")
    p.add_argument("--reencode", action="store_true",
                   help="run a codec again on items whose reconstruction the run did not save")
    p.add_argument("--resource-dir", default="configs/resources/codecbench",
                   help="where the stimuli folder will live inside webMUSHRA (paths in the YAML)")
    p.set_defaults(func=cmd_mushra)

    a = subparsers.add_parser("mushra-analyze", help="post-screen webMUSHRA ratings and report scores with 95%% CIs",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("ratings", help="webMUSHRA results CSV (results/<testId>/mushra.csv)")
    a.add_argument("--items", default=None, help="mushra_items.json written by `codecbench mushra` (languages, codecs)")
    a.add_argument("--out", default=None, help="output folder (default: beside RATINGS)")
    a.add_argument("--listener-column", default=None, help="column naming the listener (default: first of "
                   + ", ".join(LISTENER_COLUMNS) + ")")
    a.add_argument("--threshold", type=float, default=90.0, help="hidden-reference score threshold (default 90)")
    a.add_argument("--max-share", type=float, default=0.15,
                   help="largest share of items rated below the threshold a listener may have (default 0.15)")
    a.set_defaults(func=cmd_mushra_analyze)
