"""Lhotse manifests as input: a CutSet, or a RecordingSet with its SupervisionSet (``.jsonl`` or
``.jsonl.gz``), read lazily with Lhotse's own reader (``lhotse.load_manifest_lazy``; Lhotse imports
without torchaudio). Audio is never decoded by Lhotse: each item is a file, or a segment of one
(``codecbench.data.sources``), read by soundfile like any other reference.

* **Cuts**: one utterance per ``MonoCut``/``MultiCut`` (id: the cut's), its ``start`` and
  ``duration`` honoured, its channel(s) picked before the mono mix. Mixed and padding cuts, recordings
  with transforms (speed, resampling, volume) or with sources that are not files (URLs, commands,
  memory, several files per recording) are refused by name: codecbench would not score what Lhotse
  would load.
* **Recordings + supervisions**: one utterance per supervision (a segment of its recording; id: the
  supervision's); a recording without supervisions is one utterance. The supervisions are the file
  beside the recordings with ``recordings`` replaced by ``supervisions`` in its name (Lhotse recipes'
  naming, e.g. ``librispeech_recordings_test-clean.jsonl.gz``); giving the supervisions finds the
  recordings the same way.
* **Language, text, speaker** come from the supervisions (texts joined in time order; several
  languages or speakers in one cut are kept joined by ``+``); ``dataset_lang`` replaces the language
  (Lhotse recipes often write a name: ``English``).
* An item covering a whole single-source recording (offset 0, every sample, every channel) is that
  file, exactly as a manifest line naming it.
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from codecbench.data import sources
from codecbench.data.dataset import Dataset, DatasetError, Limiter, probe, unique
from codecbench.types import Utterance

INSTALL_HINT = "pip install 'codecbench[lhotse]'"
CUT_TYPES = ("MonoCut", "MultiCut", "MixedCut", "PaddingCut", "DataCut")


def kind_of(path: Path) -> str | None:
    """'cuts', 'recordings' or 'supervisions' for a Lhotse JSONL manifest (from its first line), else None."""
    name = path.name
    if not (name.endswith(".jsonl") or name.endswith(".jsonl.gz")) or not path.is_file():
        return None
    try:
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as f:
            first = json.loads(f.readline() or "{}")
    except (OSError, ValueError, EOFError):
        return None
    if not isinstance(first, dict):
        return None
    if first.get("type") in CUT_TYPES or {"start", "duration", "recording"} <= set(first):
        return "cuts"
    if {"sources", "sampling_rate", "num_samples"} <= set(first):
        return "recordings"
    if {"recording_id", "start", "duration"} <= set(first):
        return "supervisions"
    return None


def read(path: str | Path, lang: str | None = None, langs: list[str] | None = None,
         limit: int | None = None) -> Dataset:
    """The manifest at ``path`` as utterances (see the module docstring)."""
    path = Path(path)
    kind = kind_of(path)
    if kind is None:
        raise DatasetError(f"{path}: not a Lhotse manifest (a CutSet, RecordingSet or SupervisionSet in JSONL)")
    try:
        import lhotse
    except ImportError:
        raise DatasetError(f"{path}: reading Lhotse manifests needs the lhotse package ({INSTALL_HINT})") from None
    limiter = Limiter(langs, limit)
    try:
        if kind == "cuts":
            utts = _from_cuts(lhotse.load_manifest_lazy(path), path, lang, limiter)
        else:
            recs, sups = _pair(path, kind)
            utts = _from_recordings(lhotse.load_manifest_lazy(recs), lhotse.load_manifest_lazy(sups), recs, lang,
                                    limiter)
    except (KeyError, TypeError, ValueError, AssertionError) as exc:
        raise DatasetError(f"{path}: not a valid Lhotse manifest ({type(exc).__name__}: {exc})") from None
    name = path.name.removesuffix(".gz").removesuffix(".jsonl")
    return Dataset(name=name, source=str(path.resolve()), utterances=[probe(u) for u in unique(utts, path)],
                   seen_langs=sorted(limiter.seen))


def _pair(path: Path, kind: str) -> tuple[Path, Path]:
    """(recordings, supervisions) manifests: the one given and its partner by Lhotse recipes' naming."""
    other = "supervisions" if kind == "recordings" else "recordings"
    if kind not in path.name:
        raise DatasetError(f"{path}: a Lhotse {kind} manifest whose name does not say '{kind}': its {other} cannot "
                           f"be found beside it; build cuts instead (lhotse cut simple -r RECS -s SUPS cuts.jsonl.gz)")
    stem = path.name.replace(kind, other).removesuffix(".gz").removesuffix(".jsonl")
    partner = next((path.with_name(stem + ext) for ext in (".jsonl.gz", ".jsonl")
                    if path.with_name(stem + ext).is_file()), None)
    if partner is None:
        raise DatasetError(f"{path}: its {other} manifest {stem}.jsonl[.gz] is not beside it (or give a CutSet: "
                           "lhotse cut simple -r RECS -s SUPS cuts.jsonl.gz)")
    return (path, partner) if kind == "recordings" else (partner, path)


# -- items -------------------------------------------------------------------------------------------
def _from_cuts(cuts, where: Path, lang: str | None, limiter: Limiter) -> list[Utterance]:
    from lhotse.cut import MonoCut, MultiCut

    utts = []
    for cut in cuts:
        if not isinstance(cut, (MonoCut, MultiCut)):
            raise DatasetError(f"{where}: cut {cut.id} is a {type(cut).__name__}; codecbench reads cuts of one "
                               "recording (MonoCut, MultiCut)")
        if not cut.has_recording:
            raise DatasetError(f"{where}: cut {cut.id} has no recording")
        sups = sorted(cut.supervisions, key=lambda s: s.start)
        u_lang = lang or _joined(s.language for s in sups)
        if not limiter.take(u_lang):
            continue
        channels = cut.channel if isinstance(cut.channel, list) else [cut.channel]
        utts.append(_item(cut.id, cut.recording, cut.start, cut.duration, channels, sups, u_lang, where))
        if limiter.done:
            break
    return utts


def _from_recordings(recordings, supervisions, where: Path, lang: str | None, limiter: Limiter) -> list[Utterance]:
    by_rec: dict[str, list] = defaultdict(list)
    for s in supervisions:
        by_rec[s.recording_id].append(s)
    utts = []
    for rec in recordings:
        segs = sorted(by_rec.pop(rec.id, []), key=lambda s: s.start)
        items = [(s.id, s.start, s.duration, [s.channel] if not isinstance(s.channel, list) else s.channel, [s])
                 for s in segs] or [(rec.id, 0.0, rec.duration, list(rec.channel_ids), [])]
        for uid, start, duration, channels, sups in items:
            u_lang = lang or _joined(s.language for s in sups)
            if limiter.take(u_lang):
                utts.append(_item(uid, rec, start, duration, channels, sups, u_lang, where))
            if limiter.done:
                return utts
    if by_rec:
        missing = ", ".join(sorted(by_rec)[:5])
        raise DatasetError(f"{where}: supervisions of recordings not in it: {missing}")
    return utts


def _item(uid: str, rec, start: float, duration: float, channels: list[int], sups: list, lang: str | None,
          where: Path) -> Utterance:
    from lhotse.utils import compute_num_samples

    if rec.transforms:
        raise DatasetError(f"{where}: {uid}: recording {rec.id} has transforms ({', '.join(_names(rec.transforms))}); "
                           "codecbench scores the recorded audio (apply them to the files, or drop them)")
    if len(rec.sources) != 1 or rec.sources[0].type != "file":
        kinds = ", ".join(s.type for s in rec.sources)
        raise DatasetError(f"{where}: {uid}: recording {rec.id} has sources of type {kinds}; codecbench reads one "
                           "audio file per recording")
    src = rec.sources[0]
    file_channels = list(src.channels)
    unknown = [c for c in channels if c not in file_channels]
    if unknown:
        raise DatasetError(f"{where}: {uid}: channel(s) {unknown} not in recording {rec.id} ({file_channels})")
    picked = None if sorted(channels) == sorted(file_channels) else [file_channels.index(c) for c in channels]
    whole = (start == 0 and picked is None
             and compute_num_samples(duration, rec.sampling_rate) == rec.num_samples)
    extra: dict[str, Any] = {}
    for s in sups[:1]:
        extra.update({k: v for k, v in (s.custom or {}).items() if isinstance(v, (str, int, float, bool)) and v != ""})
        if getattr(s, "gender", None):
            extra["gender"] = s.gender
    if not whole:
        extra["recording_id"] = rec.id
    texts = [s.text for s in sups if s.text]
    return Utterance(id=uid, path=str(Path(src.source).absolute()), lang=lang,
                     text=" ".join(texts) if texts else None, speaker=_joined(s.speaker for s in sups),
                     source=None if whole else sources.segment(start, duration, picked), extra=extra)


def _joined(values) -> str | None:
    found = list(dict.fromkeys(v for v in values if v))
    return "+".join(found) if found else None


def _names(transforms) -> list[str]:
    return [t.get("name", "?") if isinstance(t, dict) else type(t).__name__ for t in transforms]


def read_librispeech(root: str | Path) -> list[Utterance]:
    """The LibriSpeech layout (``<part>/<speaker>/<chapter>/*.flac`` + ``*.trans.txt``) through Lhotse's
    recipe (``lhotse.recipes.prepare_librispeech``); a folder holding parts (``LibriSpeech/``) reads
    every part. Language ``en`` (the recipe writes ``English``). The recipe skips (and logs) a
    transcript line whose audio file is missing."""
    try:
        from lhotse.recipes import prepare_librispeech
    except ImportError:
        raise DatasetError(f"{root}: the LibriSpeech layout is read by Lhotse's recipe ({INSTALL_HINT})") from None
    from lhotse.recipes.librispeech import LIBRISPEECH, MINI_LIBRISPEECH

    root = Path(root)
    parts = [p.name for p in sorted(root.iterdir()) if p.is_dir() and p.name in LIBRISPEECH + MINI_LIBRISPEECH]
    corpus, parts = (root, parts) if parts else (root.parent, [root.name])
    utts: list[Utterance] = []
    for _, m in sorted(prepare_librispeech(corpus, dataset_parts=parts).items()):
        utts += _from_recordings(m["recordings"], m["supervisions"], root, "en", Limiter(None, None))
    return utts
