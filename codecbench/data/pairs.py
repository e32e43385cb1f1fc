"""Reference/degraded pair lists for scoring without a codec (``codecbench score REF DEG --out DIR``).

Accepted sides, matched by utterance id:

- a Kaldi ``wav.scp`` (``<id> <path>`` per line; the id ends at the first whitespace, the path is
  the rest of the line). Relative paths are taken from the current directory, as Kaldi and VERSA
  do. Pipes (``cmd |``) and archive offsets (``x.ark:12``) are refused with a hint: write the
  audio to files first. When the reference list sits in a Kaldi data folder, its ``text`` and
  ``utt2lang`` files (same ids) give transcripts and languages;
- a folder: audio files found recursively, id = path relative to the folder without its extension
  (the file stem for a flat folder); a ``.txt`` beside a reference file is its transcript;
- a JSONL file alone: one object per line with ``id``, ``ref``, ``deg`` and optionally ``lang``,
  ``text`` (more keys are kept as extra fields). Relative paths are taken from the JSONL's folder,
  as for dataset manifests.

Ids present on one side only are listed (``Pairs.unmatched_ref`` / ``unmatched_deg``), not scored.
Every mistake in the lists is a ``PairsError`` (the ``DatasetError`` of pair lists) naming the file and line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codecbench.data import records
from codecbench.data.loaders import AUDIO_EXTENSIONS, DatasetError
from codecbench.types import Utterance

PairsError = DatasetError  # a pair list (wav.scp, folder or JSONL) cannot be read or matched


@dataclass
class PairItem:
    """One reference/degraded pair to score."""

    id: str
    ref: str
    deg: str
    lang: str | None = None
    text: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def utterance(self) -> Utterance:
        """The reference as an ``Utterance``; the degraded file's path is ``extra["deg_path"]``."""
        return Utterance(id=self.id, path=self.ref, lang=self.lang, text=self.text,
                         extra={**self.extra, "deg_path": self.deg})


@dataclass
class Pairs:
    items: list[PairItem]
    unmatched_ref: list[str]  # ids with a reference but no degraded file
    unmatched_deg: list[str]  # ids with a degraded file but no reference
    source: str  # how the pairs were given, for the run's records

    def unmatched_summary(self, shown: int = 5) -> str:
        """One line on the ids left out ("" when every id matched)."""
        parts = []
        for side, ids in (("reference", self.unmatched_ref), ("degraded", self.unmatched_deg)):
            if ids:
                more = f" (+{len(ids) - shown} more)" if len(ids) > shown else ""
                parts.append(f"{len(ids)} only in the {side} list: {', '.join(ids[:shown])}{more}")
        return "; ".join(parts)


def read_scp(path: str | Path) -> dict[str, str]:
    """Kaldi ``wav.scp``: id -> audio path, in file order."""
    p = Path(path)
    entries: dict[str, str] = {}
    for i, line in enumerate(_read_lines(p), 1):
        if not line.strip():
            continue
        parts = line.strip().split(maxsplit=1)
        if len(parts) < 2:
            raise PairsError(f"{p}:{i}: expected '<utterance-id> <path>', got {line.strip()!r}")
        uid, target = parts[0], parts[1].strip()
        if target.endswith("|"):
            raise PairsError(f"{p}:{i}: {uid} is a command pipe ({target!r}); codecbench reads audio files only: "
                             "write the audio to files first (e.g. with Kaldi's wav-copy or sox)")
        if _is_ark_offset(target):
            raise PairsError(f"{p}:{i}: {uid} points into an archive ({target!r}); write the audio to files first")
        if uid in entries:
            raise PairsError(f"{p}:{i}: duplicate utterance id {uid!r}")
        entries[uid] = target
    return entries


def _is_ark_offset(target: str) -> bool:
    head, sep, tail = target.rpartition(":")
    return bool(sep) and tail.isdigit() and head.endswith((".ark", ".scp"))


def _read_lines(p: Path) -> list[str]:
    if not p.is_file():
        raise PairsError(f"pair list not found: {p}")
    return records.read_lines(p, PairsError, "pair list")


def _kaldi_table(path: Path) -> dict[str, str]:
    """``<id> <value>`` lines of a Kaldi side file (text, utt2lang); empty when absent."""
    if not path.is_file():
        return {}
    table = {}
    for line in _read_lines(path):
        uid, _, value = line.strip().partition(" ")
        if uid:
            table[uid] = value.strip()
    return table


def read_audio_folder(root: str | Path) -> dict[str, str]:
    """id (relative path without extension) -> audio path, for every audio file under ``root``."""
    root = Path(root)
    entries: dict[str, str] = {}
    # a link is listed even when broken or a loop: its row then says what is wrong with it
    listed = (q for q in root.rglob("*") if q.suffix.lower() in AUDIO_EXTENSIONS and (q.is_file() or q.is_symlink()))
    for f in sorted(listed):
        uid = f.relative_to(root).with_suffix("").as_posix()
        if uid in entries:
            raise PairsError(f"{root}: two audio files for id {uid!r}: {Path(entries[uid]).name}, {f.name}")
        entries[uid] = str(f)
    if not entries:
        raise PairsError(f"{root}: no audio files ({', '.join(AUDIO_EXTENSIONS)})")
    return entries


def read_jsonl(path: str | Path) -> list[PairItem]:
    """JSONL of {id, ref, deg, lang?, text?, ...}; relative paths from the file's folder."""
    p = Path(path)
    items: list[PairItem] = []
    seen: set[str] = set()
    for i, line in enumerate(_read_lines(p), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PairsError(f"{p}:{i}: not JSON ({exc.msg})") from exc
        if not isinstance(rec, dict):
            raise PairsError(f"{p}:{i}: expected an object with id, ref and deg, got {type(rec).__name__}")
        missing = [k for k in ("id", "ref", "deg") if rec.get(k) in (None, "")]
        if missing:
            raise PairsError(f"{p}:{i}: missing {', '.join(missing)}")
        where = f"{p}:{i}"
        uid = records.as_id(rec["id"], where, PairsError)
        if uid in seen:
            raise PairsError(f"{p}:{i}: duplicate utterance id {uid!r}")
        seen.add(uid)
        ref, deg = (records.as_path(rec[k], where, PairsError, k) for k in ("ref", "deg"))
        extra = {k: v for k, v in rec.items() if k not in ("id", "ref", "deg", "lang", "text")}
        items.append(PairItem(uid, _resolve(ref, p.parent), _resolve(deg, p.parent),
                              records.as_lang(rec.get("lang"), where, PairsError),
                              records.as_text(rec.get("text"), where, PairsError), extra))
    if not items:
        raise PairsError(f"{p}: no pairs")
    return items


def _resolve(path: str, base: Path) -> str:
    q = Path(path)
    return str(q if q.is_absolute() else base / q)


def _side(spec: str | Path) -> dict[str, str]:
    p = Path(spec)
    if p.is_dir():
        return read_audio_folder(p)
    if p.suffix.lower() in AUDIO_EXTENSIONS:
        raise PairsError(f"{p} is an audio file: give two audio files to score one pair, or two wav.scp files / "
                         "folders to score many")
    if p.suffix.lower() == ".jsonl":
        raise PairsError(f"{p}: a JSONL pair list holds both sides; give it alone")
    return read_scp(p)


def load_pairs(ref: str | Path, deg: str | Path | None = None) -> Pairs:
    """Pairs from (wav.scp | folder, wav.scp | folder), or from one JSONL when ``deg`` is None."""
    if deg is None:
        if Path(ref).suffix.lower() != ".jsonl":
            raise PairsError(f"{ref}: a single pair list must be a .jsonl of id, ref, deg (or give REF and DEG)")
        return Pairs(read_jsonl(ref), [], [], source=f"jsonl:{ref}")
    refs, degs = _side(ref), _side(deg)
    texts: dict[str, str] = {}
    langs: dict[str, str] = {}
    ref_path = Path(ref)
    if ref_path.is_file():
        texts, langs = _kaldi_table(ref_path.parent / "text"), _kaldi_table(ref_path.parent / "utt2lang")
    items = []
    for uid, ref_file in refs.items():
        if uid not in degs:
            continue
        text = texts.get(uid)
        if text is None and ref_path.is_dir():
            txt = Path(ref_file).with_suffix(".txt")
            text = records.read_text(txt, PairsError, "transcript").strip() if txt.is_file() else None
        items.append(PairItem(uid, ref_file, degs[uid], langs.get(uid), text))
    unmatched_ref = [u for u in refs if u not in degs]
    unmatched_deg = [u for u in degs if u not in refs]
    pairs = Pairs(items, unmatched_ref, unmatched_deg, source=f"ref:{ref} deg:{deg}")
    if not items:
        raise PairsError(f"no utterance id is in both {ref} and {deg}: {pairs.unmatched_summary(3)}")
    return pairs


def pair_label(degraded: str) -> str:
    """The default ``codec`` label of scored pairs: the degraded list's name (``x/recon.scp`` -> recon;
    a Kaldi ``x/recon/wav.scp`` -> recon; a folder -> its name; ``pairs.jsonl`` -> pairs)."""
    p = Path(degraded)
    name = p.name if p.is_dir() else p.stem
    return (p.resolve().parent.name if name == "wav" else name) or "pairs"
