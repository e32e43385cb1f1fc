"""What every dataset reader shares: the ``Dataset`` it returns, its ``DatasetError``, ``probe``
(rate and duration from headers), ``Limiter`` (``--langs``/``--limit`` while listing, before any
decoding), ``unique`` ids, and ``filter_langs``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from codecbench import audio
from codecbench.errors import CodecbenchError
from codecbench.safe_io import path_problem
from codecbench.store import file_stem
from codecbench.types import Utterance


class DatasetError(CodecbenchError):
    """The dataset cannot be read or filtered as asked; the message says why."""


@dataclass
class Dataset:
    name: str
    source: str
    utterances: list[Utterance]
    # What exactly was read, for the run's identity: a hub dataset's commit, a save_to_disk fingerprint.
    revision: str | None = None
    # Every language of the set, where a reader skipped rows (--langs, --limit) before decoding them.
    seen_langs: list[str] | None = None

    @property
    def langs(self) -> list[str]:
        return sorted(set(self.seen_langs or ()) | {u.lang for u in self.utterances if u.lang})


class Limiter:
    """``--langs`` and ``--limit`` (per language) applied while a reader lists rows, before any audio
    is decoded; the same rule as ``filter_langs``, which still runs on what the reader returns."""

    def __init__(self, langs: list[str] | None, limit: int | None):
        self.langs, self.limit = (set(langs) if langs else None), limit
        self.counts: Counter = Counter()
        self.seen: set[str] = set()

    def take(self, lang: str | None) -> bool:
        if lang:
            self.seen.add(lang)
        if self.langs is not None and lang not in self.langs:
            return False
        if self.limit is not None and self.counts[lang] >= self.limit:
            return False
        self.counts[lang] += 1
        return True

    @property
    def done(self) -> bool:
        """Every asked language has its ``limit`` rows: the rest of the set need not be read."""
        return self.langs is not None and self.limit is not None and \
            all(self.counts[lang] >= self.limit for lang in self.langs)


def probe(u: Utterance) -> Utterance:
    """Fill source_sr and duration from the header; a broken file stays (the run records why)."""
    if u.source is not None and (u.source_sr is None or u.duration is None):
        from codecbench.data import sources

        try:
            u.source_sr, u.duration = sources.info(u)
        except Exception as exc:
            u.extra.setdefault("load_error", str(exc) if isinstance(exc, audio.AudioError) else
                               f"cannot decode the audio of {u.id}: {exc}")
        return u
    if u.path and (u.source_sr is None or u.duration is None):
        problem = path_problem(u.path)  # missing, a symlink loop, a FIFO (would hang the run), a device
        if problem:
            u.extra.setdefault("load_error", problem)
            return u
        try:
            u.source_sr, u.duration = audio.info(u.path)
        except Exception as exc:
            reason = str(exc) if isinstance(exc, audio.AudioError) else f"cannot decode {Path(u.path).name}: {exc}"
            u.extra.setdefault("load_error", reason.strip())
    return u


def unique(utts: list[Utterance], where) -> list[Utterance]:
    dup = [k for k, n in Counter(u.id for u in utts).items() if n > 1]
    if dup:
        raise DatasetError(f"{where}: duplicate utterance ids: {', '.join(dup[:5])}")
    stems: dict[str, str] = {}
    for u in utts:  # distinct ids whose file names would collide (a 48-bit hash collision): refuse
        other = stems.setdefault(file_stem(u.id), u.id)
        if other != u.id:
            raise DatasetError(f"{where}: utterance ids {other!r} and {u.id!r} map to one file name; rename one")
    return utts


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
