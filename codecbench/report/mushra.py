"""MUSHRA listening tests (ITU-R BS.1534-3): stimuli and a webMUSHRA config (written by mushra_config.py);
the analysis of the ratings is in mushra_analysis.py.

``codecbench mushra RUN --codecs A,B --items N --out DIR``

* Items are chosen stratified by language (as even a split as the languages allow), deterministically
  from ``--seed``; items whose reconstructions the run saved for every codec come first.
* Every stimulus is written at one common rate (``--sample-rate``, default 48 kHz; soxr VHQ) as
  16-bit WAV: the hidden reference, the 3.5 kHz (low) and 7 kHz (mid) low-pass anchors (zero-phase
  FFT brick-wall filters: nothing is left above the cut-off), and one reconstruction per codec.
* Loudness: each stimulus is normalised to ``--lufs`` (default -23 LUFS, ITU-R BS.1770 integrated
  loudness via pyloudnorm). Clipping protection lowers the whole item by one common gain when any of
  its stimuli would peak above ``--max-peak`` (default -1 dBFS), so an item's stimuli stay equally loud.
* Reconstructions come from the run's ``audio/`` folder. One that was not saved (a default run keeps
  4 per codec and language) is made again by running the codec on the reference
  (``load_codec(name).reconstruct``) and marked in mushra_items.json; ``--no-reencode`` stops instead.
* A training page comes first (BS.1534-3): an utterance that is not a test item where the run saved
  one for every codec (else the first test item), its conditions named and in order;
  ``mushra-analyze`` never scores it.

DIR receives ``stimuli/<item>/{reference,anchor35,anchor70,<codec>}.wav``, ``mushra.yaml`` (webMUSHRA
config: copy DIR into webMUSHRA's ``configs/resources/`` as ``--resource-dir`` says, the YAML into
``configs/``) and ``mushra_items.json`` (item -> utterance, language, stimulus -> codec, loudness, the
test id); with ``--html`` also ``index.html``, a listening page that runs from the file system
(codecbench/report/mushra_page.py).

``codecbench mushra-analyze RATINGS... [--items mushra_items.json] [--out DIR]`` reads webMUSHRA's
``results/<testId>/mushra.csv`` and the page's CSV downloads; see codecbench/report/mushra_analysis.py.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from codecbench import audio
from codecbench.datachecks import anchor_check, anchor_warnings
from codecbench.report.mushra_items import ANCHORS, REFERENCE, TRAINING, Item, MushraError
from codecbench.report.runs import Run, RunError
from codecbench.schema import Number, Whole
from codecbench.store import safe_name

MIN_SECONDS = 0.5  # BS.1770 gating needs 400 ms blocks; shorter items cannot be measured
MIN_RATE, MAX_RATE = 8000, 384000  # --sample-rate: narrowband speech to the highest rates of audio interfaces


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

def choose_items(run: Run, codecs: list[str], n_items: int, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """(``n_items`` utterances stratified by language (even split, remainder to the first languages in
    sorted order, shortfalls moved to other languages), the utterances left over whose reconstructions
    the run saved for every codec); within a language, ones with every codec's audio saved come first."""
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
    spare = [u for lang in langs for u in by_lang[lang] if u not in chosen[lang]
             and len(saved.get(u["id"], ())) == len(codecs)]
    return items, spare


# -- stimuli -------------------------------------------------------------------------------------

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
        raise MushraError(f"the run did not save {codec}'s reconstruction of {utt_id} (--no-reencode): drop "
                          "--no-reencode to run the codec again on it, or re-run with --save-audio all")
    if codec not in loaded:
        from codecbench.codecs.registry import load_codec

        target, options = run.codec_target(codec)  # a row label -> the codec behind it
        loaded[codec] = load_codec(target, "auto", options)
    rec = loaded[codec].reconstruct(ref[None, :], np.array([len(ref)]), sr)
    return rec.item(0), True


def make_stimuli(run_dir: str | Path, codecs: list[str], n_items: int, out: str | Path, seed: int = 0,
                 sample_rate: int = 48000, target_lufs: float = -23.0, max_peak_dbfs: float = -1.0,
                 max_seconds: float | None = 12.0, reencode: bool = True,
                 resource_dir: str = "configs/resources/codecbench", html: bool = False) -> list[Item]:
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
    chosen, rest = choose_items(run, codecs, n_items, seed)
    loaded: dict[str, Any] = {}
    opts = (sample_rate, target_lufs, max_peak_dbfs, max_seconds, reencode)
    try:
        items = [_make_item(run, u, f"{safe_name(str(u.get('lang')))}_{k:02d}", codecs, keys, out, opts, loaded)
                 for k, u in enumerate(chosen)]
        # training page (BS.1534-3 asks for one): a saved utterance that is not a test item, else the first item
        training = _make_item(run, (rest or chosen)[0], TRAINING, codecs, keys, out, opts, loaded)
    finally:
        for codec in loaded.values():
            codec.close()
    from codecbench.report.mushra_config import write_config
    from codecbench.report.mushra_page import test_id, write_page

    write_config(items, out, codecs, keys, resource_dir, training)
    tid = test_id(run.name, items, training, sample_rate, seed)
    if html:
        write_page(out, items, training, tid, codecs, keys)
    (out / "mushra_items.json").write_text(json.dumps({
        "run": run.name, "test_id": tid, "sample_rate": sample_rate, "target_lufs": target_lufs, "max_peak_dbfs": max_peak_dbfs,
        "seed": seed, "codecs": codecs, "anchors_hz": ANCHORS, "items": [vars(i) for i in items],
        "warnings": anchor_warnings([vars(i) for i in items]),
        "training": {**vars(training), "also_a_test_item": not rest}}, indent=1, ensure_ascii=False), encoding="utf-8")
    return items


def _make_item(run: Run, u: dict[str, Any], item_id: str, codecs: list[str], keys: dict[str, str], out: Path,
               opts: tuple, loaded: dict[str, Any]) -> Item:
    """Reference, anchors and reconstructions of one utterance, loudness-normalised, written as WAV."""
    sample_rate, target_lufs, max_peak_dbfs, max_seconds, reencode = opts
    ref, sr = audio.load(run.reference_file(u["id"]))
    cropped = bool(max_seconds) and len(ref) > int(max_seconds * sr)
    if cropped:
        ref = _fade_out(ref[: int(max_seconds * sr)], sr)
    item = Item(item_id, u["id"], str(u.get("lang")), str(u.get("text") or ""))
    waves = {REFERENCE: audio.resample(ref, sr, sample_rate)}
    for key, cutoff in ANCHORS.items():
        waves[key] = lowpass(waves[REFERENCE], sample_rate, cutoff)
    item.anchor_check = anchor_check(waves[REFERENCE], sample_rate, {k: waves[k] for k in ANCHORS}, ANCHORS)
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
    return item


def _fade_out(wave: np.ndarray, sr: int, seconds: float = 0.05) -> np.ndarray:
    n = min(len(wave), int(seconds * sr))
    w = wave.copy()
    w[len(w) - n:] *= np.linspace(1.0, 0.0, n, dtype=np.float32)
    return w


# -- commands ------------------------------------------------------------------------------------

def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def cmd_mushra(args: argparse.Namespace) -> int:
    try:
        if 0 < args.max_seconds < MIN_SECONDS:
            raise MushraError(f"--max-seconds {args.max_seconds:g}: items need at least {MIN_SECONDS:g} s (BS.1770 "
                              "loudness); 0 keeps them whole")
        if args.lufs >= args.max_peak:
            raise MushraError(f"--lufs {args.lufs:g} is not below --max-peak {args.max_peak:g} dBFS: the stimuli could "
                              "not reach it")
        items = make_stimuli(args.run, args.codecs, args.items, args.out, seed=args.seed, sample_rate=args.sample_rate,
                             target_lufs=args.lufs, max_peak_dbfs=args.max_peak, max_seconds=args.max_seconds or None,
                             reencode=args.reencode, resource_dir=args.resource_dir, html=args.html)
    except (MushraError, RunError) as exc:
        print(f"codecbench mushra: error: {exc}", file=sys.stderr)
        return 2
    langs: dict[str, int] = {}
    for it in items:
        langs[it.lang] = langs.get(it.lang, 0) + 1
    again = sum(bool(it.reencoded) for it in items)
    print(f"{len(items)} items ({', '.join(f'{k}: {v}' for k, v in langs.items())}) + a training page at "
          f"{args.sample_rate} Hz, {args.lufs:g} LUFS" + (f"; {again} items re-encoded (reconstruction not saved)"
                                                          if again else "") + f" -> {Path(args.out) / 'mushra.yaml'}"
          + (f"; listening page: {Path(args.out) / 'index.html'}" if args.html else ""))
    lowered = [it.clip_gain_db for it in items if it.clip_gain_db < 0]
    if lowered:  # the target was not reached: say so, with what the stimuli have
        print(f"codecbench mushra: warning: clipping protection lowered {len(lowered)} of {len(items)} items by up to "
              f"{-min(lowered):.1f} dB (peaks <= {args.max_peak:g} dBFS): they are below {args.lufs:g} LUFS "
              "(mushra_items.json: loudness_after)", file=sys.stderr)
    for w in anchor_warnings([vars(i) for i in items]):
        print(f"codecbench mushra: warning: {w}", file=sys.stderr)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("mushra", help="MUSHRA (BS.1534-3) stimuli and webMUSHRA config from a run",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="run folder")
    p.add_argument("--codecs", type=_csv, required=True, help="comma-separated codecs of the run to test")
    p.add_argument("--items", type=Whole(1), default=12, help="number of items (stratified by language; default 12)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=Whole(0), default=0)
    p.add_argument("--sample-rate", type=Whole(MIN_RATE, MAX_RATE), default=48000,
                   help="common rate of all stimuli (default 48000)")
    p.add_argument("--lufs", type=Number(-70, 0, below=True), default=-23.0, help="loudness target, LUFS (default -23)")
    p.add_argument("--max-peak", type=Number(-30, 0), default=-1.0, help="peak ceiling for clipping protection, dBFS")
    p.add_argument("--max-seconds", type=Number(0), default=12.0,
                   help=f"crop items to this length, at least {MIN_SECONDS:g} s (0: no crop)")
    p.add_argument("--no-reencode", dest="reencode", action="store_false",
                   help="stop (instead of running the codec again on the reference) when the run did not save an "
                        "item's reconstruction")
    p.add_argument("--resource-dir", default="configs/resources/codecbench",
                   help="where the stimuli folder will live inside webMUSHRA (paths in the YAML)")
    p.add_argument("--html", action="store_true",
                   help="also write DIR/index.html: a self-contained listening page (no server; open it from the "
                        "file system) that saves the ratings as a CSV for mushra-analyze")
    p.set_defaults(func=cmd_mushra)

    a = subparsers.add_parser("mushra-analyze", help="post-screen MUSHRA ratings (webMUSHRA or the --html page) and report "
                              "scores with 95%% CIs",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("ratings", nargs="+", help="webMUSHRA results CSV (results/<testId>/mushra.csv) and/or the "
                   "listening page's CSV downloads (files, or a folder of *.csv)")
    a.add_argument("--items", default=None, help="mushra_items.json written by `codecbench mushra` (languages, codecs)")
    a.add_argument("--out", default=None, help="output folder (default: beside RATINGS)")
    a.add_argument("--listener-column", default=None, help="column naming the listener (default: the first of "
                   "session_uuid, uuid, name, email, listener, participant, listener_id)")
    a.add_argument("--threshold", type=Number(0, 100), default=90.0, help="hidden-reference score threshold (default 90)")
    a.add_argument("--max-share", type=Number(0, 1), default=0.15,
                   help="largest share of items rated below the threshold a listener may have (default 0.15)")
    a.set_defaults(func=cmd_mushra_analyze)


def cmd_mushra_analyze(args: argparse.Namespace) -> int:
    from codecbench.report.mushra_analysis import run_analysis

    return run_analysis(args)
