"""A corpus of hostile inputs, built in a test's folder: every bad kind issue 11 names, odd but valid
rates and formats, colliding ids, and good controls taken from ``../shared/testdata``.

``build(folder, testdata)`` writes the files and returns the manifest entries with what each one
must give: ``fail`` (a substring of the row's error), ``flag`` (a substring of the row's flags; the
row still scores) or ``score`` (a value for every metric but those in ``undefined``: output ->
substring of its failure reason).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from codecbench import audio

CONTROLS = {"control-en": "en/LJ050-0131.wav", "control-hi-1": "hi/hi_01.wav", "control-hi-2": "hi/hi_02.wav"}
SR = 16000


def _speech(testdata: Path) -> tuple[np.ndarray, int]:
    return audio.load(testdata / "en" / "LJ050-0131.wav")


def _write(path: Path, wave: np.ndarray, sr: int, **kw) -> str:
    sf.write(str(path), wave, sr, **kw)
    return str(path)


def build(folder: Path, testdata: Path) -> list[dict]:
    """Write every input into ``folder``; return manifest entries (id, path, lang, expect, value)."""
    folder.mkdir(parents=True, exist_ok=True)
    speech, ssr = _speech(testdata)
    s16 = audio.resample(speech, ssr, SR)
    rng = np.random.default_rng(11)
    two = np.arange(2 * SR) / SR
    entries: list[dict] = [{"id": k, "path": str(testdata / p), "lang": k.split("-")[1], "expect": "score",
                            "undefined": {}} for k, p in CONTROLS.items()]

    def add(uid: str, path: str, expect: str, value: str = "", undefined: dict | None = None) -> None:
        entries.append({"id": uid, "path": path, "lang": "en", "expect": expect, "value": value,
                        "undefined": undefined or {}})

    # -- bad kinds: each must be a failure with the right reason -----------------------------------
    add("missing", str(folder / "nope.wav"), "fail", "missing file")
    (folder / "garbage.wav").write_bytes(rng.integers(0, 256, 4000, dtype=np.uint8).tobytes())
    add("undecodable", str(folder / "garbage.wav"), "fail", "cannot decode")
    (folder / "empty.wav").write_bytes(b"")
    add("empty-file", str(folder / "empty.wav"), "fail", "cannot decode")
    (folder / "a-folder.wav").mkdir()
    add("directory", str(folder / "a-folder.wav"), "fail", "not a regular file")
    os.mkfifo(folder / "fifo.wav")
    add("fifo", str(folder / "fifo.wav"), "fail", "not a regular file")
    os.symlink("/dev/zero", folder / "device.wav")
    add("device", str(folder / "device.wav"), "fail", "not a regular file")
    add("silent", _write(folder / "silent.wav", np.zeros(2 * SR, np.float32), SR), "fail", "silent reference")
    add("dc-only", _write(folder / "dc.wav", np.full(2 * SR, 0.5, np.float32), SR), "fail", "DC only")
    noise = (1e-4 * rng.standard_normal(2 * SR)).astype(np.float32)  # ~ -80 dBFS: a noise floor, no signal
    add("near-silence", _write(folder / "floor.wav", noise, SR, subtype="FLOAT"), "fail", "silent reference")
    click = np.zeros(2 * SR, np.float32)
    click[SR] = 0.9
    add("click", _write(folder / "click.wav", click, SR), "fail", "no signal")
    add("too-short", _write(folder / "short.wav", s16[: SR // 10], SR), "fail", "too short")
    nan = s16[: 2 * SR].copy()
    nan[100] = np.nan
    add("nan", _write(folder / "nan.wav", nan, SR, subtype="FLOAT"), "fail", "NaN or Inf")
    inf = s16[: 2 * SR].copy()
    inf[100] = np.inf
    add("inf", _write(folder / "inf.wav", inf, SR, subtype="FLOAT"), "fail", "NaN or Inf")

    # -- scored, but flagged ---------------------------------------------------------------------
    loud = s16 * (2.0 / float(np.max(np.abs(s16))))
    add("beyond-full-scale", _write(folder / "loud.wav", loud, SR, subtype="FLOAT"), "flag", "beyond full scale")

    # -- odd rates and formats that must still score ---------------------------------------------
    add("rate-8k", _write(folder / "r8k.wav", audio.resample(speech, ssr, 8000), 8000), "score",
        undefined={"pesq_wb": "no wideband content"})  # documented: narrowband sources have no PESQ-wb
    add("rate-44k1", _write(folder / "r44k.wav", audio.resample(speech, ssr, 44100), 44100), "score")
    add("pcm-24bit", _write(folder / "p24.wav", s16, SR, subtype="PCM_24"), "score")
    stereo = np.stack([s16, 0.5 * s16], axis=1)
    add("stereo", _write(folder / "stereo.wav", stereo, SR), "score")
    add("flac", _write(folder / "s.flac", s16, SR, format="FLAC"), "score")
    add("ogg-vorbis", _write(folder / "s.ogg", s16, SR, format="OGG", subtype="VORBIS"), "score")

    # -- ids that used to share one file on disk: distinct audio, distinct saved files -------------
    for k, uid in enumerate(("spk1 utt", "spk1_utt", "spk1/utt")):
        tone = 0.3 * np.sin(2 * np.pi * (200 + 100 * k) * two) * (0.5 + 0.5 * np.sin(2 * np.pi * 2 * two))
        add(uid, _write(folder / f"collide{k}.wav", tone.astype(np.float32), SR), "score")
    return entries


def long_clip(folder: Path, testdata: Path, seconds: float = 600.0) -> dict:
    """A 10-minute clip (the speech clip repeated), as a manifest entry."""
    speech, ssr = _speech(testdata)
    s16 = audio.resample(speech, ssr, SR)
    reps = int(np.ceil(seconds * SR / len(s16)))
    wave = np.tile(s16, reps)[: int(seconds * SR)]
    return {"id": "ten-minutes", "path": _write(folder / "long.flac", wave, SR, format="FLAC"), "lang": "en"}
