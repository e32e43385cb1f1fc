"""Prepare the folder carried to a GPU machine for ``codecbench train`` (what the shipped checkpoints' cards
call "the GPU bundle"): the package, the training audio, the low-bitrate codec copies and the wheels the
machine lacks. The device tool limits what travels to 64 MiB with the repository, so the audio goes as
Ogg Opus, which libsndfile (the soundfile wheel) decodes there:

- hindi-news-1h utterances 16..502 (the first 16 are the test clips, the last 20 held out) at 48 kbps
  (``audio``: PESQ-wb 4.48 against the FLAC on a sampled utterance, i.e. transparent as a training target),
  the last 20 likewise as the validation set;
- one low-bitrate copy of each training utterance (``voip``, 6/8/12/16 kbps by position) for the codec
  round-trip augmentation (``--aug-codec-manifest``): the bitstream itself travels, decoded there;
- espeak-ng speech in ``--espeak-langs`` (never en/ta: those are evaluation sets), 48 kbps.

    python bench/gpu_bundle.py --out ../main/.gpu [--espeak-langs de,es,fr,hi]

Needs ffmpeg with libopus and espeak-ng here; the wheels come from PyPI (``pip download``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpora" / "hindi-news-1h" / "manifest.jsonl"
LOW_RATES = (6, 8, 12, 16)  # kbps, cycled over the training utterances
WHEELS = ("soundfile==0.14.0", "cffi==2.0.0", "pycparser==3.12", "soxr==1.1.0")  # cffi: soundfile's backend
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")


def opus(src: Path, dst: Path, kbps: int, application: str) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(src), "-ar", "16000", "-ac", "1", "-c:a", "libopus",
                    "-b:a", f"{kbps}k", "-application", application, str(dst)], check=True)


def write_manifest(folder: Path, rows: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def corpus(out: Path, pool: ThreadPoolExecutor) -> None:
    rows = [json.loads(x) for x in CORPUS.read_text().splitlines() if x.strip()]
    parts = {"hi": rows[16:-20], "hi-val": rows[-20:]}
    jobs = []
    for name, part in parts.items():
        kept = []
        for r in part:
            rel = f"{r['id']}.ogg"
            jobs.append(pool.submit(opus, CORPUS.parent / r["path"], out / name / rel, 48, "audio"))
            kept.append({"id": r["id"], "path": rel, "lang": r["lang"]})
        write_manifest(out / name, kept)
    copies = []
    for i, r in enumerate(parts["hi"]):
        kbps = LOW_RATES[i % len(LOW_RATES)]
        rel = f"{r['id']}.ogg"
        jobs.append(pool.submit(opus, CORPUS.parent / r["path"], out / "hi-opus" / rel, kbps, "voip"))
        copies.append({"id": r["id"], "path": rel, "lang": r["lang"], "codec": f"opus-voip-{kbps}kbps"})
    write_manifest(out / "hi-opus", copies)
    for j in jobs:
        j.result()


def espeak(out: Path, langs: list[str], pool: ThreadPoolExecutor) -> None:
    from codecbench.inhouse.espeak import synthesize

    if {"en", "ta"} & set(langs):
        sys.exit("en and ta are the evaluation sets of the condition suite: keep them out of training")
    tmp = out / "_espeak_wav"
    manifest = synthesize(tmp, langs)
    rows = [json.loads(x) for x in manifest.read_text().splitlines()]
    jobs = [pool.submit(opus, tmp / r["path"], out / "espeak" / (Path(r["path"]).stem + ".ogg"), 48, "audio")
            for r in rows]
    for j in jobs:
        j.result()
    write_manifest(out / "espeak", [{**r, "path": Path(r["path"]).stem + ".ogg"} for r in rows])
    shutil.rmtree(tmp)


def wheels(out: Path) -> None:
    dest = out / "whl"
    plat = [a for p in PLATFORMS for a in ("--platform", p)]
    for spec in WHEELS:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                        "--python-version", "3.12", "--implementation", "cp", *plat, "-d", str(dest), spec], check=True)
    # pesq has no wheel on PyPI: its source travels with the Cython step done here (cypesq.c), and the
    # machine compiles the C (gcc and Python.h are in its image); setup_requires dropped (nothing to fetch there)
    tmp = out / "_pesq"
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary=:all:",
                    "--no-build-isolation", "-d", str(tmp), "pesq==0.0.4"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", str(tmp / "cython"), "cython<3.2"],
                   check=True)
    shutil.unpack_archive(tmp / "pesq-0.0.4.tar.gz", tmp)
    src = tmp / "pesq-0.0.4"
    subprocess.run([sys.executable, "-m", "cython", "-3", "pesq/cypesq.pyx", "-o", "pesq/cypesq.c"], cwd=src,
                   check=True, env={**os.environ, "PYTHONPATH": str(tmp / "cython")})
    setup = (src / "setup.py").read_text().replace('["pesq/cypesq.pyx", ', '["pesq/cypesq.c", ')
    (src / "setup.py").write_text("\n".join(x for x in setup.splitlines() if "_requires=" not in x) + "\n")
    shutil.rmtree(out / "pesq-src", ignore_errors=True)
    shutil.move(src, out / "pesq-src")
    shutil.rmtree(tmp)


def package(out: Path) -> None:
    dst = out / "codecbench"
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(ROOT / "codecbench", dst, ignore=shutil.ignore_patterns("__pycache__", "checkpoints"))
    (out / "bench").mkdir(exist_ok=True)
    for name in ("codec_rtf.py", "gpu_train.sh"):
        shutil.copy2(ROOT / "bench" / name, out / "bench" / name)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="the folder to fill (ignored by git in the checkout that travels)")
    p.add_argument("--espeak-langs", default="de,es,fr,hi")
    p.add_argument("--only", default="package,corpus,espeak,wheels", help="steps to (re)do")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    steps = set(args.only.split(","))
    with ThreadPoolExecutor(2) as pool:
        if "package" in steps:
            package(out)
        if "corpus" in steps:
            corpus(out / "data", pool)
        if "espeak" in steps:
            espeak(out / "data", args.espeak_langs.split(","), pool)
    if "wheels" in steps:
        wheels(out)
    total = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"{out}: {total / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
