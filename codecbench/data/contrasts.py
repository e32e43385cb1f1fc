"""The built-in minimal-pair set ``contrasts:LANG[,LANG]`` for the ``abx`` metric.

Word lists (``contrast_words.json``): real words in minimal pairs, grouped by contrast class per
language. Each word is spoken by espeak-ng with every voice variant at every speed (4 variants x 2
speeds = 8 tokens per word), so A and X can come from different voices. Built deterministically on
first use and cached under ``$CODECBENCH_CACHE`` in a folder named by a hash of the word list and the
espeak-ng version, like the embedded demo set.

Every utterance carries the manifest fields the ABX test reads (user manifests use the same ones):
``word`` (the word spoken), ``contrast`` (class name, e.g. ``retroflex_dental``) and ``pair``
(an id shared by the two words of one minimal pair); ``speaker`` is the voice.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from codecbench.data.loaders import Dataset, DatasetError, probe, read_manifest
from codecbench.data.synthetic import cache_root, espeak_version

WORDS = Path(__file__).with_name("contrast_words.json")
PREFIX = "contrasts"


def word_list() -> dict:
    return json.loads(WORDS.read_text(encoding="utf-8"))


def parse_spec(spec: str) -> list[str]:
    """``contrasts`` (every language), ``contrasts:hi`` or ``contrasts:hi,ta`` -> languages."""
    known = sorted(word_list()["langs"])
    _, _, rest = spec.partition(":")
    langs = [x.strip() for x in rest.split(",") if x.strip()] or known
    unknown = [x for x in langs if x not in known]
    if unknown:
        raise DatasetError(f"no built-in contrast set for {', '.join(unknown)}; available: {', '.join(known)}")
    return langs


def entries(spec: dict, lang: str) -> list[dict]:
    """Manifest records (without audio) for one language: every word x variant x speed."""
    out = []
    for contrast, pairs in spec["langs"][lang].items():
        for i, (word_a, word_b, _gloss) in enumerate(pairs):
            pair = f"{lang}_{contrast}_{i:02d}"
            for side, word in (("a", word_a), ("b", word_b)):
                for variant in spec["variants"]:
                    for speed in spec["speeds"]:
                        uid = f"{pair}_{side}_{variant}_{speed}"
                        out.append({"id": uid, "path": f"{lang}/{uid}.wav", "lang": lang, "text": word,
                                    "speaker": f"espeak-{lang}+{variant}", "word": word, "contrast": contrast,
                                    "pair": pair, "voice": f"{lang}+{variant}", "speed": speed, "source": "espeak-ng"})
    return out


def build(folder: Path, spec: dict, langs: list[str]) -> None:
    """Speak every token into folder/<lang>/<id>.wav and write folder/manifest.jsonl."""
    lines = []
    for lang in langs:
        for rec in entries(spec, lang):
            wav = folder / rec["path"]
            wav.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["espeak-ng", "-v", rec["voice"], "-s", str(rec["speed"]), "-w", str(wav), rec["word"]],
                           check=True, capture_output=True)
            lines.append(rec)
    (folder / "manifest.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines),
                                           encoding="utf-8")


def contrast_dataset(spec_text: str) -> Dataset:
    """The built-in minimal-pair set for the languages in ``spec_text`` (built and cached on first use)."""
    langs = parse_spec(spec_text)
    version = espeak_version()
    words = WORDS.read_text(encoding="utf-8")
    digest = hashlib.sha256((words + version + ",".join(langs)).encode()).hexdigest()[:12]
    folder = cache_root() / f"contrasts-{'-'.join(langs)}-{digest}"
    if not (folder / "manifest.jsonl").exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".contrasts-"))
        try:
            build(tmp, json.loads(words), langs)
            if not folder.exists():  # another process may have built it meanwhile
                os.replace(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    utts = [probe(u) for u in read_manifest(folder / "manifest.jsonl")]
    return Dataset(name=f"contrasts-{'-'.join(langs)}", source=f"built-in minimal pairs ({version})", utterances=utts)
