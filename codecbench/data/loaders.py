"""Readers of manifests and local corpus layouts, and the dispatch to every format (``load_dataset``,
``detect_format``). Every utterance records its source sample rate."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from codecbench.data import records
from codecbench.data.dataset import Dataset, DatasetError, Limiter, filter_langs, probe, unique  # noqa: F401
from codecbench.types import Utterance

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a")
CORE_FIELDS = ("id", "path", "lang", "text", "speaker")


def _make(rec: dict, base: Path, where: str) -> Utterance:
    """One entry (``where``: file and line, for errors) as an Utterance; field types checked
    (``codecbench.data.records``)."""
    rec = {k: v for k, v in rec.items() if v is not None and v != ""}
    key = next((k for k in ("path", "audio", "file") if k in rec), None)
    if key is None:
        raise DatasetError(f"{where}: no 'path' (the audio file; 'audio' or 'file' are read too)")
    path = records.as_path(rec[key], where, DatasetError, key)
    full = Path(path) if Path(path).is_absolute() else base / path
    uid = records.as_id(rec["id"], where, DatasetError) if "id" in rec else Path(path).with_suffix("").as_posix()
    lang_key = next((k for k in ("lang", "language", "locale") if k in rec), "lang")
    text_key = next((k for k in ("text", "sentence") if k in rec), "text")
    extra = {k: v for k, v in rec.items() if k not in CORE_FIELDS and k not in ("audio", "file")}
    return Utterance(id=uid, path=str(full), lang=records.as_lang(rec.get(lang_key), where, DatasetError, lang_key),
                     text=records.as_text(rec.get(text_key), where, DatasetError, text_key),
                     speaker=records.as_speaker(rec.get("speaker"), where, DatasetError), extra=extra)


def read_manifest(path: str | Path) -> list[Utterance]:
    """JSONL, CSV/TSV (header row) or a JSON list. Paths are relative to the manifest's folder. Every
    malformed entry is a one-line ``DatasetError`` naming the file and line (JSON lists: the entry)."""
    p = Path(path)
    if not p.exists():
        raise DatasetError(f"manifest not found: {p}")
    if p.suffix not in (".jsonl", ".json", ".csv", ".tsv"):
        raise DatasetError(f"{p}: unknown manifest type (use .jsonl, .json or .csv)")
    text = records.read_text(p, DatasetError, "manifest")
    entries: list[tuple[str, Any]] = []
    if p.suffix == ".jsonl":
        for i, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    entries.append((f"{p}:{i}", json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise DatasetError(f"{p}:{i}: not JSON ({exc.msg})") from exc
    elif p.suffix == ".json":
        try:
            recs = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{p}:{exc.lineno}: not JSON ({exc.msg})") from exc
        if isinstance(recs, dict):
            recs = recs.get("utterances") or recs.get("items") or []
        if not isinstance(recs, list):
            raise DatasetError(f"{p}: expected a JSON list of entries")
        entries = [(f"{p}: entry {i}", r) for i, r in enumerate(recs, 1)]
    else:
        entries = _csv_entries(p, text)
    for where, rec in entries:
        if not isinstance(rec, dict):
            raise DatasetError(f"{where}: expected a JSON object with id, path, lang, got {type(rec).__name__} "
                               f"{json.dumps(rec)[:40]}")
    return unique([_make(r, p.parent, where) for where, r in entries], p)


def _csv_entries(p: Path, text: str) -> list[tuple[str, dict]]:
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t" if p.suffix == ".tsv" else ",")
    entries = []
    try:
        for row in reader:
            where = f"{p}:{reader.line_num}"
            if None in row:
                raise DatasetError(f"{where}: more cells than the header's {len(reader.fieldnames or [])} columns")
            entries.append((where, row))
    except csv.Error as exc:
        raise DatasetError(f"{p}:{reader.line_num}: not CSV ({exc})") from exc
    return entries


def read_folder(root: str | Path, lang: str | None = None) -> list[Utterance]:
    """Audio files (recursively) with same-name .txt transcripts; lang from ``lang``."""
    root = Path(root)
    utts = []
    for f in sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS):
        txt = f.with_suffix(".txt")
        text = records.read_text(txt, DatasetError, "transcript").strip() if txt.is_file() else None
        rel = f.relative_to(root).with_suffix("").as_posix()
        utts.append(Utterance(id=rel, path=str(f), lang=lang, text=text, speaker=f.parent.name if f.parent != root else None))
    return unique(utts, root)


def read_commonvoice(root: str | Path, split: str = "test") -> list[Utterance]:
    """Common Voice: <root>/<split>.tsv (client_id, path, sentence, locale, ...) and <root>/clips/."""
    root = Path(root)
    tsv = root / f"{split}.tsv"
    if not tsv.exists():
        tsv = next((root / n for n in ("test.tsv", "validated.tsv", "dev.tsv", "train.tsv") if (root / n).exists()), tsv)
    lang_default = root.name if len(root.name) <= 5 else None
    utts = []
    text = records.read_text(tsv, DatasetError, "Common Voice table")
    for r in csv.DictReader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE):
        clip = r["path"]
        extra = {k: v for k, v in r.items() if k not in ("path", "sentence", "client_id", "locale") and v}
        utts.append(Utterance(id=Path(clip).stem, path=str(root / "clips" / clip), lang=r.get("locale") or lang_default,
                              text=r.get("sentence"), speaker=r.get("client_id"), extra=extra))
    return unique(utts, tsv)


def read_fleurs(root: str | Path, split: str = "test") -> list[Utterance]:
    """FLEURS raw layout: <root>/<lang_xx>/<split>.tsv (no header) and <root>/<lang_xx>/audio/<split>/."""
    root = Path(root)
    lang_dirs = [root] if (root / f"{split}.tsv").exists() else sorted(d for d in root.iterdir() if (d / f"{split}.tsv").exists())
    utts = []
    for d in lang_dirs:
        lang = d.name.split("_")[0]
        text = records.read_text(d / f"{split}.tsv", DatasetError, "FLEURS table")
        for cols in csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE):
            if len(cols) < 4:
                continue
            fid, fname, raw, norm = cols[:4]
            gender = cols[6] if len(cols) > 6 else None
            utts.append(Utterance(id=f"{d.name}/{Path(fname).stem}", path=str(d / "audio" / split / fname), lang=lang,
                                  text=raw, extra={"fleurs_id": fid, "normalized_text": norm, "gender": gender}))
    return unique(utts, root)


FORMATS = ("manifest", "folder", "commonvoice", "fleurs", "librispeech", "hf", "lhotse")


def detect_format(spec: str | Path) -> str:
    from codecbench.data import hf, lhotse_manifests

    if str(spec).startswith("hf:"):
        return "hf"
    path = Path(spec)
    if path.is_file():
        return "lhotse" if lhotse_manifests.kind_of(path) else "manifest"
    if not path.is_dir():
        raise DatasetError(f"dataset not found: {path}")
    if hf.is_disk_dataset(path):
        return "hf"
    if (path / "clips").is_dir() and any(path.glob("*.tsv")):
        return "commonvoice"
    if any(path.glob("*/audio")) or (path / "audio").is_dir() and any(path.glob("*.tsv")):
        return "fleurs"
    if next(path.rglob("*.trans.txt"), None) is not None:
        return "librispeech"
    return "folder"


def load_dataset(spec: str, fmt: str = "auto", lang: str | None = None, *, columns: dict[str, str] | None = None,
                 revision: str | None = None, langs: list[str] | None = None, limit: int | None = None) -> Dataset:
    """Read a dataset (a manifest, a folder layout, a 🤗 dataset, a Lhotse manifest); the built-in sets
    are read by ``codecbench.data.load_dataset``. ``lang``: every utterance's language (``dataset_lang``);
    ``columns``: a 🤗 dataset's columns by role (``dataset_columns``); ``revision``: the pinned hub
    commit or save_to_disk fingerprint; ``langs``/``limit``: applied before decoding where the reader
    can (🤗 datasets, Lhotse), else by ``filter_langs`` afterwards."""
    from codecbench.data import hf, lhotse_manifests

    fmt = detect_format(spec) if fmt == "auto" else fmt
    if columns and fmt != "hf":
        raise DatasetError(f"dataset_columns name a 🤗 dataset's columns; {spec} is read as {fmt}")
    if fmt == "hf":
        return hf.read(spec, columns, lang, revision, langs, limit)
    if revision is not None:
        raise DatasetError(f"dataset_revision pins a 🤗 dataset; {spec} is read as {fmt}")
    if fmt == "lhotse":
        return lhotse_manifests.read(spec, lang, langs, limit)
    path = Path(spec)
    readers = {
        "manifest": lambda: read_manifest(path),
        "folder": lambda: read_folder(path, lang),
        "commonvoice": lambda: read_commonvoice(path),
        "fleurs": lambda: read_fleurs(path),
        "librispeech": lambda: lhotse_manifests.read_librispeech(path),
    }
    if fmt not in readers:
        raise DatasetError(f"unknown dataset format {fmt!r}; choose from {', '.join(FORMATS)}")
    try:
        utts = readers[fmt]()
    except (OSError, KeyError, csv.Error) as exc:
        raise DatasetError(f"cannot read {path} as {fmt}: {exc}") from exc
    if not utts:
        raise DatasetError(f"{path}: no utterances found (format {fmt})")
    if lang:
        for u in utts:
            u.lang = lang
    name = path.stem if path.is_file() else path.name
    return Dataset(name=name, source=str(path.resolve()), utterances=[probe(u) for u in utts])
