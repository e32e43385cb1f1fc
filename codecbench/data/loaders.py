"""Loaders for manifests and local corpus layouts. Every utterance records its source sample rate."""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from codecbench import audio
from codecbench.errors import CodecbenchError
from codecbench.store import file_stem
from codecbench.types import Utterance

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a")
CORE_FIELDS = ("id", "path", "lang", "text", "speaker")


class DatasetError(CodecbenchError):
    """The dataset cannot be read or filtered as asked; the message says why."""


@dataclass
class Dataset:
    name: str
    source: str
    utterances: list[Utterance]

    @property
    def langs(self) -> list[str]:
        return sorted({u.lang for u in self.utterances if u.lang})


def probe(u: Utterance) -> Utterance:
    """Fill source_sr and duration from the header; a broken file stays (the run records why)."""
    if u.path and (u.source_sr is None or u.duration is None):
        if not Path(u.path).exists():
            u.extra.setdefault("load_error", f"missing file: {u.path}")
            return u
        if not Path(u.path).is_file():  # a FIFO would hang the run, a device never end
            u.extra.setdefault("load_error", f"not a regular file: {u.path}")
            return u
        try:
            u.source_sr, u.duration = audio.info(u.path)
        except Exception as exc:
            u.extra.setdefault("load_error", f"cannot decode {Path(u.path).name}: {exc}".strip())
    return u


def _make(rec: dict, base: Path, fallback_id: str) -> Utterance:
    rec = {k: v for k, v in rec.items() if v is not None and v != ""}
    path = rec.get("path") or rec.get("audio") or rec.get("file")
    if path is None:
        raise DatasetError(f"manifest entry {fallback_id} has no 'path'")
    full = Path(path) if Path(path).is_absolute() else base / path
    uid = str(rec.get("id") or Path(path).with_suffix("").as_posix())
    extra = {k: v for k, v in rec.items() if k not in CORE_FIELDS and k not in ("audio", "file")}
    return Utterance(id=uid, path=str(full), lang=rec.get("lang") or rec.get("language") or rec.get("locale"),
                     text=rec.get("text") or rec.get("sentence"), speaker=rec.get("speaker"), extra=extra)


def read_manifest(path: str | Path) -> list[Utterance]:
    """JSONL, CSV (header row) or a JSON list. Paths are relative to the manifest's folder."""
    p = Path(path)
    if not p.exists():
        raise DatasetError(f"manifest not found: {p}")
    base = p.parent
    if p.suffix == ".jsonl":
        recs = []
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    recs.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DatasetError(f"{p}:{i}: not JSON ({exc.msg})") from exc
    elif p.suffix == ".json":
        recs = json.loads(p.read_text(encoding="utf-8"))
        if isinstance(recs, dict):
            recs = recs.get("utterances") or recs.get("items") or []
        if not isinstance(recs, list):
            raise DatasetError(f"{p}: expected a JSON list of entries")
    elif p.suffix in (".csv", ".tsv"):
        with open(p, newline="", encoding="utf-8") as f:
            recs = list(csv.DictReader(f, delimiter="\t" if p.suffix == ".tsv" else ","))
    else:
        raise DatasetError(f"{p}: unknown manifest type (use .jsonl, .json or .csv)")
    utts = [_make(r, base, f"#{i}") for i, r in enumerate(recs)]
    return _unique(utts, p)


def _unique(utts: list[Utterance], where) -> list[Utterance]:
    dup = [k for k, n in Counter(u.id for u in utts).items() if n > 1]
    if dup:
        raise DatasetError(f"{where}: duplicate utterance ids: {', '.join(dup[:5])}")
    stems: dict[str, str] = {}
    for u in utts:  # distinct ids whose file names would collide (a 48-bit hash collision): refuse
        other = stems.setdefault(file_stem(u.id), u.id)
        if other != u.id:
            raise DatasetError(f"{where}: utterance ids {other!r} and {u.id!r} map to one file name; rename one")
    return utts


def read_folder(root: str | Path, lang: str | None = None) -> list[Utterance]:
    """Audio files (recursively) with same-name .txt transcripts; lang from ``lang``."""
    root = Path(root)
    utts = []
    for f in sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS):
        txt = f.with_suffix(".txt")
        text = txt.read_text(encoding="utf-8").strip() if txt.is_file() else None
        rel = f.relative_to(root).with_suffix("").as_posix()
        utts.append(Utterance(id=rel, path=str(f), lang=lang, text=text, speaker=f.parent.name if f.parent != root else None))
    return _unique(utts, root)


def read_commonvoice(root: str | Path, split: str = "test") -> list[Utterance]:
    """Common Voice: <root>/<split>.tsv (client_id, path, sentence, locale, ...) and <root>/clips/."""
    root = Path(root)
    tsv = root / f"{split}.tsv"
    if not tsv.exists():
        tsv = next((root / n for n in ("test.tsv", "validated.tsv", "dev.tsv", "train.tsv") if (root / n).exists()), tsv)
    lang_default = root.name if len(root.name) <= 5 else None
    utts = []
    with open(tsv, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            clip = r["path"]
            extra = {k: v for k, v in r.items() if k not in ("path", "sentence", "client_id", "locale") and v}
            utts.append(Utterance(id=Path(clip).stem, path=str(root / "clips" / clip), lang=r.get("locale") or lang_default,
                                  text=r.get("sentence"), speaker=r.get("client_id"), extra=extra))
    return _unique(utts, tsv)


def read_fleurs(root: str | Path, split: str = "test") -> list[Utterance]:
    """FLEURS raw layout: <root>/<lang_xx>/<split>.tsv (no header) and <root>/<lang_xx>/audio/<split>/."""
    root = Path(root)
    lang_dirs = [root] if (root / f"{split}.tsv").exists() else sorted(d for d in root.iterdir() if (d / f"{split}.tsv").exists())
    utts = []
    for d in lang_dirs:
        lang = d.name.split("_")[0]
        with open(d / f"{split}.tsv", newline="", encoding="utf-8") as f:
            for cols in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
                if len(cols) < 4:
                    continue
                fid, fname, raw, norm = cols[:4]
                gender = cols[6] if len(cols) > 6 else None
                utts.append(Utterance(id=f"{d.name}/{Path(fname).stem}", path=str(d / "audio" / split / fname), lang=lang,
                                      text=raw, extra={"fleurs_id": fid, "normalized_text": norm, "gender": gender}))
    return _unique(utts, root)


def read_librispeech(root: str | Path) -> list[Utterance]:
    """LibriSpeech: <root>/<speaker>/<chapter>/<spk>-<ch>.trans.txt with <id>.flac beside it."""
    root = Path(root)
    utts = []
    for trans in sorted(root.rglob("*.trans.txt")):
        for line in trans.read_text(encoding="utf-8").splitlines():
            uid, _, text = line.partition(" ")
            if uid:
                utts.append(Utterance(id=uid, path=str(trans.parent / f"{uid}.flac"), lang="en", text=text.strip(),
                                      speaker=uid.split("-")[0]))
    return _unique(utts, root)


def detect_format(path: Path) -> str:
    if path.is_file():
        return "manifest"
    if not path.is_dir():
        raise DatasetError(f"dataset not found: {path}")
    if (path / "clips").is_dir() and any(path.glob("*.tsv")):
        return "commonvoice"
    if any(path.glob("*/audio")) or (path / "audio").is_dir() and any(path.glob("*.tsv")):
        return "fleurs"
    if next(path.rglob("*.trans.txt"), None) is not None:
        return "librispeech"
    return "folder"


def load_dataset(spec: str | None, fmt: str = "auto", lang: str | None = None) -> Dataset:
    """Read a dataset; ``None`` is the embedded espeak-ng default set, ``contrasts:LANG`` the minimal pairs,
    ``conditions:PATH`` clips of PATH under recording and channel conditions (``data.conditions``)."""
    if spec is None:
        from codecbench.data.synthetic import default_dataset

        return default_dataset()
    if spec == "contrasts" or spec.startswith("contrasts:"):
        from codecbench.data.contrasts import contrast_dataset

        return contrast_dataset(spec)
    if spec.startswith("conditions:") or spec.startswith("conditions="):
        from codecbench.data.conditions import conditions_dataset

        return conditions_dataset(spec)
    path = Path(spec)
    fmt = detect_format(path) if fmt == "auto" else fmt
    readers = {
        "manifest": lambda: read_manifest(path),
        "folder": lambda: read_folder(path, lang),
        "commonvoice": lambda: read_commonvoice(path),
        "fleurs": lambda: read_fleurs(path),
        "librispeech": lambda: read_librispeech(path),
    }
    if fmt not in readers:
        raise DatasetError(f"unknown dataset format {fmt!r}; choose from {', '.join(readers)}")
    try:
        utts = readers[fmt]()
    except (OSError, KeyError, csv.Error) as exc:
        raise DatasetError(f"cannot read {path} as {fmt}: {exc}") from exc
    if not utts:
        raise DatasetError(f"{path}: no utterances found (format {fmt})")
    name = path.stem if path.is_file() else path.name
    return Dataset(name=name, source=str(path.resolve()), utterances=[probe(u) for u in utts])


def filter_langs(ds: Dataset, langs: list[str] | None, limit: int | None = None) -> list[Utterance]:
    """Keep the given languages (error naming what the dataset has), at most ``limit`` per language.

    Entries without a language are kept only when no language filter is given.
    """
    utts = ds.utterances
    if langs:
        unknown = [lang for lang in langs if lang not in ds.langs]
        if unknown:
            has = ", ".join(ds.langs) or "none (no entry has a language)"
            raise DatasetError(f"language(s) {', '.join(unknown)} not in dataset {ds.name!r}; it has: {has}")
        utts = [u for u in utts if u.lang in langs]
    if limit is not None:
        counts: Counter = Counter()
        kept = []
        for u in utts:
            if counts[u.lang] < limit:
                counts[u.lang] += 1
                kept.append(u)
        utts = kept
    return utts
