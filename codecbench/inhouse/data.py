"""Training data: JSONL manifests (paths relative to the manifest), loaded into memory at the model's
rate, served as random fixed-length crops.

A manifest argument may end in a Python slice to pick utterances by position, e.g.
``corpora/hindi-news-1h/manifest.jsonl[16:-20]`` (skip the first 16 and the last 20).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codecbench import audio

_SLICE = re.compile(r"^(?P<path>.+?)\[(?P<start>-?\d*):(?P<stop>-?\d*)\]$")


@dataclass
class ManifestItem:
    id: str
    path: Path
    lang: str | None


def parse_manifest_arg(arg: str) -> tuple[Path, slice]:
    m = _SLICE.match(arg)
    if not m:
        return Path(arg), slice(None)
    to_int = lambda s: int(s) if s else None  # noqa: E731
    return Path(m["path"]), slice(to_int(m["start"]), to_int(m["stop"]))


def read_manifest(arg: str) -> list[ManifestItem]:
    """Items of one manifest (JSONL, one object per line with 'path', optional 'id' and 'lang')."""
    path, sl = parse_manifest_arg(arg)
    if not path.is_file():
        raise FileNotFoundError(f"manifest not found: {path}")
    items = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            rel = row["path"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{n}: expected a JSON object with a 'path' ({exc})") from exc
        items.append(ManifestItem(str(row.get("id", Path(rel).stem)), (path.parent / rel).resolve(), row.get("lang")))
    return items[sl]


class CropDataset:
    """All audio in memory (float32, model rate); ``batch`` draws random crops of ``segment`` samples.

    ``copies``: manifests of the same utterances passed through a codec (matched by ``id``); a crop
    comes from an utterance's copy instead of the original with probability ``p_copy`` (``batch``).
    """

    def __init__(self, manifests: list[str], sample_rate: int, min_seconds: float = 0.2,
                 copies: list[str] | None = None):
        self.items: list[ManifestItem] = []
        self.waves: list[np.ndarray] = []
        for arg in manifests:
            for item in read_manifest(arg):
                wave = self._load(item.path, sample_rate)
                if len(wave) < min_seconds * sample_rate:
                    continue
                self.items.append(item)
                self.waves.append(wave)
        if not self.waves:
            raise ValueError(f"no usable audio in {manifests}")
        self.sample_rate = sample_rate
        self.copies: dict[int, np.ndarray] = {}
        if copies:
            index = {item.id: i for i, item in enumerate(self.items)}
            for arg in copies:
                for item in read_manifest(arg):
                    if item.id in index:
                        self.copies[index[item.id]] = self._load(item.path, sample_rate)
            if not self.copies:
                raise ValueError(f"no utterance of {copies} matches a training utterance by id")
        self._reweight()

    @staticmethod
    def _load(path: Path, sample_rate: int) -> np.ndarray:
        wave, sr = audio.load(path)
        return audio.resample(wave, sr, sample_rate)

    def _reweight(self) -> None:
        lengths = np.array([len(w) for w in self.waves], dtype=np.float64)
        self.weights = lengths / lengths.sum()  # sample utterances by duration

    def hold_out(self, n: int) -> list[tuple[str, np.ndarray]]:
        """Remove the last ``n`` utterances from training and return them (id, wave): a validation set."""
        held = [(item.id, wave) for item, wave in zip(self.items[-n:], self.waves[-n:], strict=True)]
        keep = len(self.items) - n
        self.items, self.waves = self.items[:keep], self.waves[:keep]
        self.copies = {i: w for i, w in self.copies.items() if i < keep}
        self._reweight()
        return held

    @property
    def seconds(self) -> float:
        return float(sum(len(w) for w in self.waves)) / self.sample_rate

    def summary(self) -> dict:
        langs: dict[str, float] = {}
        for item, w in zip(self.items, self.waves, strict=True):
            langs[item.lang or "?"] = langs.get(item.lang or "?", 0.0) + len(w) / self.sample_rate
        out = {"utterances": len(self.items), "hours": round(self.seconds / 3600, 3),
               "seconds_per_lang": {k: round(v, 1) for k, v in sorted(langs.items())}}
        if self.copies:
            out["codec_copies"] = len(self.copies)
        return out

    def batch(self, batch_size: int, segment: int, rng: np.random.Generator, p_copy: float = 0.0) -> np.ndarray:
        out = np.zeros((batch_size, segment), dtype=np.float32)
        for b, i in enumerate(rng.choice(len(self.waves), size=batch_size, p=self.weights)):
            w = self.waves[i]
            if p_copy > 0 and i in self.copies and rng.random() < p_copy:
                w = self.copies[i]
            if len(w) <= segment:
                out[b, : len(w)] = w
            else:
                start = int(rng.integers(0, len(w) - segment + 1))
                out[b] = w[start : start + segment]
        return out
