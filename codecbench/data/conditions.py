"""Recording and channel conditions derived from clean clips: ``--dataset conditions:PATH``.

Each condition turns a clean clip into the audio a codec would be given in that situation; the derived
clip is both the codec's input and the reference its output is scored against (a codec should
reproduce what it is given). All conditions are at 16 kHz (the source is resampled first):

- ``clean``: the clip as is;
- ``lowpass-3400``, ``lowpass-4000``: narrowband speech stored at 16 kHz, a linear-phase FIR low-pass
  (511 taps, Kaiser beta 8: about 80 dB down 160 Hz above the cutoff), zero delay;
- ``mulaw-8k``: G.711 µ-law through 8 kHz (ffmpeg ``pcm_mulaw``, ffmpeg's resampler both ways);
- ``amr-band``: telephone band through 8 kHz, sox ``sinc 200-3400`` (the band AMR-NB codes);
- ``g723-6k3``: a low-bitrate CELP speech codec, G.723.1 at 6.3 kbps through 8 kHz (ffmpeg; it
  delays the audio by its frame, harmless here since the derived clip is the reference);
- ``noise-10dB``/``-20dB``/``-30dB``: pink (1/f) Gaussian noise at that SNR over the active speech
  (20 ms frames within 40 dB of the loudest), seeded by the clip id;
- ``level-40dBFS``/``-25dBFS``/``-6dBFS``: the clip scaled to that peak level (float samples, no
  quantisation: the derived clips are stored as 32-bit float);
- ``clip-10dB``: scaled to a peak of +10 dBFS and hard-clipped at full scale.

A derived clip whose peak exceeds full scale (filter overshoot, added noise: the test clips peak at
0 dBFS) is scaled down to a peak of 0 dBFS, as a recording stored in a file would be.

Spec: ``conditions:PATH`` (every condition) or ``conditions=lowpass-3400,noise-20dB:PATH``; PATH is any
dataset ``--dataset`` accepts (empty: the embedded espeak-ng set). The derived clips are cached under
``$CODECBENCH_CACHE`` in a folder named by a hash of the source audio, the conditions and the tools'
versions; utterance ids are ``CONDITION/ID`` and ``extra`` holds ``condition`` and ``source_id``.
Conditions that need a missing tool (ffmpeg, sox) fail with a message naming it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from codecbench import audio
from codecbench.data.loaders import Dataset, DatasetError, probe, read_manifest

RATE = 16000
VERSION = 1  # bump when a condition's definition changes (part of the cache key)


def _fir_lowpass(x: np.ndarray, cutoff: float) -> np.ndarray:
    from scipy.signal import fftconvolve, firwin

    taps = firwin(511, cutoff, fs=RATE, window=("kaiser", 8.0))
    return fftconvolve(x, taps, mode="same").astype(np.float32)  # odd linear-phase filter: no delay


def _tool(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise DatasetError(f"this condition needs {name}, which is not installed (apt-get install {name})")
    return exe


def _pipe(cmd: list[str], x: np.ndarray) -> np.ndarray:
    out = subprocess.run(cmd, input=np.ascontiguousarray(x, dtype="<f4").tobytes(), capture_output=True, check=False)
    if out.returncode != 0:
        raise DatasetError(f"{Path(cmd[0]).name} failed: {out.stderr.decode(errors='replace').strip()[-300:]}")
    return np.frombuffer(out.stdout, dtype="<f4").astype(np.float32)


def _ffmpeg_roundtrip(x: np.ndarray, encode: list[str], fmt: str) -> np.ndarray:
    ff = [_tool("ffmpeg"), "-loglevel", "error", "-y"]
    raw = ["-f", "f32le", "-ar", str(RATE), "-ac", "1"]
    with tempfile.TemporaryDirectory() as tmp:
        coded = Path(tmp) / f"coded.{fmt}"
        _pipe([*ff, *raw, "-i", "-", "-ar", "8000", *encode, "-f", fmt, str(coded)], x)
        out = subprocess.run([*ff, "-f", fmt, *(["-ar", "8000"] if fmt == "mulaw" else []), "-i", str(coded),
                              *raw, "-"], capture_output=True, check=False)
        if out.returncode != 0:
            raise DatasetError(f"ffmpeg failed: {out.stderr.decode(errors='replace').strip()[-300:]}")
    return np.frombuffer(out.stdout, dtype="<f4").astype(np.float32)


def _sox_band(x: np.ndarray) -> np.ndarray:
    raw = ["-t", "f32", "-c", "1"]
    narrow = _pipe([_tool("sox"), *raw, "-r", str(RATE), "-", *raw, "-r", "8000", "-", "sinc", "200-3400"], x)
    return _pipe([_tool("sox"), *raw, "-r", "8000", "-", *raw, "-r", str(RATE), "-"], narrow)


def _active_power(x: np.ndarray) -> float:
    frame = RATE // 50
    n = max(1, len(x) // frame)
    power = np.array([np.mean(x[i * frame:(i + 1) * frame] ** 2) for i in range(n)]) + 1e-20
    return float(power[power >= power.max() * 1e-4].mean())


def _pink_noise(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / RATE)
    spec /= np.sqrt(np.maximum(f, 20.0))
    return np.fft.irfft(spec, n).astype(np.float32)


def _noise(snr_db: float) -> Callable[[np.ndarray, int], np.ndarray]:
    def add(x: np.ndarray, seed: int) -> np.ndarray:
        noise = _pink_noise(len(x), seed)
        scale = np.sqrt(_active_power(x) / (np.mean(noise**2) * 10 ** (snr_db / 10)))
        return (x + scale * noise).astype(np.float32)
    return add


def _level(peak_db: float) -> Callable[[np.ndarray, int], np.ndarray]:
    return lambda x, seed: (x * (10 ** (peak_db / 20) / max(float(np.abs(x).max()), 1e-9))).astype(np.float32)


def _clip(over_db: float) -> Callable[[np.ndarray, int], np.ndarray]:
    return lambda x, seed: np.clip(_level(over_db)(x, seed), -1.0, 1.0)


CONDITIONS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "clean": lambda x, seed: x,
    "lowpass-3400": lambda x, seed: _fir_lowpass(x, 3400.0),
    "lowpass-4000": lambda x, seed: _fir_lowpass(x, 4000.0),
    "mulaw-8k": lambda x, seed: _ffmpeg_roundtrip(x, ["-c:a", "pcm_mulaw"], "mulaw"),
    "amr-band": lambda x, seed: _sox_band(x),
    "g723-6k3": lambda x, seed: _ffmpeg_roundtrip(x, ["-c:a", "g723_1", "-b:a", "6300"], "g723_1"),
    "noise-10dB": _noise(10.0),
    "noise-20dB": _noise(20.0),
    "noise-30dB": _noise(30.0),
    "level-40dBFS": _level(-40.0),
    "level-25dBFS": _level(-25.0),
    "level-6dBFS": _level(-6.0),
    "clip-10dB": _clip(10.0),
}
TOOLS = {"mulaw-8k": "ffmpeg", "g723-6k3": "ffmpeg", "amr-band": "sox"}


def seed_of(uid: str) -> int:
    return int.from_bytes(hashlib.sha256(uid.encode()).digest()[:4], "little")


def derive(wave: np.ndarray, sample_rate: int, condition: str, uid: str) -> np.ndarray:
    """The clip ``wave`` under ``condition``, at 16 kHz (float32)."""
    if condition not in CONDITIONS:
        raise DatasetError(f"unknown condition {condition!r}; choose from {', '.join(CONDITIONS)}")
    x = audio.resample(np.asarray(wave, dtype=np.float32), sample_rate, RATE)
    y = CONDITIONS[condition](x, seed_of(uid))
    peak = float(np.abs(y).max(initial=0.0))
    return (y / peak).astype(np.float32) if peak > 1.0 else y


def parse_spec(spec: str) -> tuple[list[str], str]:
    """``conditions[=a,b]:PATH`` -> (condition names, PATH)."""
    head, _, path = spec.partition(":")
    names = head.partition("=")[2]
    conditions = [c.strip() for c in names.split(",") if c.strip()] if names else list(CONDITIONS)
    unknown = [c for c in conditions if c not in CONDITIONS]
    if unknown:
        raise DatasetError(f"unknown condition(s) {', '.join(unknown)}; choose from {', '.join(CONDITIONS)}")
    return conditions, path


def _tool_versions(conditions: list[str]) -> str:
    versions = []
    for tool in sorted({TOOLS[c] for c in conditions if c in TOOLS}):
        flag = "-version" if tool == "ffmpeg" else "--version"
        out = subprocess.run([_tool(tool), flag], capture_output=True, text=True, check=False).stdout
        versions.append(out.splitlines()[0] if out else tool)
    return ";".join(versions)


def conditions_dataset(spec: str, load_source: Callable[[str | None], Dataset]) -> Dataset:
    """The ``conditions:PATH`` dataset; ``load_source`` reads PATH (``data.load_dataset``, passed in so
    this module does not import the package that dispatches to it)."""
    from codecbench.data.synthetic import cache_root

    conditions, path = parse_spec(spec)
    source = load_source(path or None)
    utts = [u for u in source.utterances if "load_error" not in u.extra]
    if not utts:
        raise DatasetError(f"{spec}: the source dataset has no readable utterance")
    h = hashlib.sha256(json.dumps([VERSION, conditions, _tool_versions(conditions)]).encode())
    for u in utts:
        h.update(u.id.encode() + b"\0" + hashlib.sha256(Path(u.path).read_bytes()).digest())
    folder = cache_root() / f"conditions-{h.hexdigest()[:12]}"
    if not (folder / "manifest.jsonl").exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".conditions-"))
        try:
            rows = []
            for u in utts:
                wave, sr = audio.load(u.path)
                for c in conditions:
                    rel = f"{c}/{u.id}.wav"
                    (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                    audio.save(tmp / rel, derive(wave, sr, c, u.id), RATE, subtype="FLOAT")
                    rows.append({"id": f"{c}/{u.id}", "path": rel, "lang": u.lang, "text": u.text, "speaker": u.speaker,
                                 "condition": c, "source_id": u.id})
            (tmp / "manifest.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                                encoding="utf-8")
            if not folder.exists():
                os.replace(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    out = [probe(u) for u in read_manifest(folder / "manifest.jsonl")]
    return Dataset(name=f"conditions-{source.name}", source=f"{source.source} under {len(conditions)} conditions",
                   utterances=out)
