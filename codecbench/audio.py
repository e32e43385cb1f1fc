"""Audio I/O (soundfile), resampling (soxr) and length alignment: the one home for each."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from codecbench.errors import CodecbenchError
from codecbench.files import atomic_write


class AudioError(CodecbenchError):
    """A file could not be read as audio."""


def load(path: str | os.PathLike, mono: bool = True) -> tuple[np.ndarray, int]:
    """Read an audio file as float32; mono=True averages channels, else [channels, T]. Returns (wave, rate).

    Only regular files are opened (a FIFO would block, a device never end); ``.m4a`` (AAC, which
    libsndfile cannot read) is decoded by ffmpeg."""
    import soundfile as sf

    from codecbench.safe_io import path_problem

    p = Path(path)
    problem = path_problem(p)
    if problem:
        raise AudioError(problem)
    try:
        if p.suffix.lower() in FFMPEG_EXTENSIONS:
            wave, sr = _ffmpeg_read(p)
        else:
            wave, sr = sf.read(str(p), dtype="float32", always_2d=True)
    except AudioError:
        raise
    except Exception as exc:  # soundfile raises LibsndfileError, RuntimeError, ...
        raise AudioError(f"cannot decode {p.name}: {exc}") from exc
    if mono:  # a mean over one channel is an identity that costs a pass over the samples
        wave = wave[:, 0] if wave.shape[1] == 1 else wave.mean(axis=1)
    else:
        wave = wave.T
    return np.ascontiguousarray(wave, dtype=np.float32), int(sr)


def info(path: str | os.PathLike) -> tuple[int, float]:
    """(sample_rate, duration in seconds) from the file header, without decoding."""
    import soundfile as sf

    if Path(path).suffix.lower() in FFMPEG_EXTENSIONS:
        return _ffprobe(Path(path))
    i = sf.info(str(path))
    return int(i.samplerate), float(i.frames) / float(i.samplerate)


# -- ffmpeg (formats libsndfile cannot read) ------------------------------------------------------
FFMPEG_EXTENSIONS = (".m4a",)
FFMPEG_TIMEOUT_S = 600


def _ffmpeg(tool: str, name: str) -> str:
    import shutil

    exe = shutil.which(tool)
    if exe is None:
        raise AudioError(f"cannot decode {name}: {Path(name).suffix} files are decoded by {tool}, which is not "
                         "installed (apt-get install ffmpeg)")
    return exe


def _ffprobe(p: Path) -> tuple[int, float]:
    """(sample rate, duration) of the first audio stream."""
    import json
    import subprocess

    cmd = [_ffmpeg("ffprobe", p.name), "-v", "error", "-select_streams", "a:0", "-show_entries",
           "stream=sample_rate,duration:format=duration", "-of", "json", f"file:{p.absolute()}"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    try:
        meta = json.loads(res.stdout)
        stream = meta["streams"][0]
        seconds = stream.get("duration") or meta.get("format", {}).get("duration")
        return int(stream["sample_rate"]), float(seconds)
    except (ValueError, KeyError, IndexError, TypeError):
        err = res.stderr.strip().splitlines()[-1:] or ["no audio stream"]
        raise AudioError(f"cannot decode {p.name}: {err[0]}") from None


def _ffmpeg_read(p: Path) -> tuple[np.ndarray, int]:
    """[T, C] float32 and the rate, cropped to the stream's duration (AAC decoders emit whole
    1024-sample frames, so the last one is padded)."""
    import io
    import subprocess

    import soundfile as sf

    _, seconds = _ffprobe(p)
    cmd = [_ffmpeg("ffmpeg", p.name), "-nostdin", "-v", "error", "-i", f"file:{p.absolute()}", "-map", "0:a:0", "-c:a", "pcm_f32le",
           "-f", "wav", "-"]
    res = subprocess.run(cmd, capture_output=True, timeout=FFMPEG_TIMEOUT_S, stdin=subprocess.DEVNULL)
    if res.returncode != 0 or not res.stdout:
        err = res.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"ffmpeg exit status {res.returncode}"]
        raise AudioError(f"cannot decode {p.name}: {err[0]}")
    wave, sr = sf.read(io.BytesIO(res.stdout), dtype="float32", always_2d=True)
    return wave[: int(round(seconds * sr))], int(sr)


def save(path: str | os.PathLike, wave: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> None:
    """Write atomically, honouring the umask (``codecbench.files.atomic_write``). Encoded in memory
    first, so a full disk is the operating system's error naming the file (``safe_io.CannotWrite``),
    not libsndfile's "System error"."""
    import io

    import soundfile as sf

    p = Path(path)
    data = np.asarray(wave, dtype=np.float32)
    buf = io.BytesIO()
    fmt = (p.suffix or ".wav").lstrip(".").upper()
    fmt = fmt if fmt in sf.available_formats() else "WAV"
    sf.write(buf, data.T if data.ndim == 2 else data, sample_rate, subtype=subtype, format=fmt)
    atomic_write(p, lambda tmp: Path(tmp).write_bytes(buf.getbuffer()))


def resample(wave: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample the last axis with soxr (VHQ). Identity when the rates match."""
    if sr_in == sr_out:
        return np.asarray(wave, dtype=np.float32)
    import soxr

    x = np.asarray(wave, dtype=np.float32)
    if x.ndim == 1:
        return soxr.resample(x, sr_in, sr_out, quality="VHQ").astype(np.float32)
    # soxr wants [T, C]
    return soxr.resample(x.T, sr_in, sr_out, quality="VHQ").T.astype(np.float32).copy()


def resampled_length(n: int, sr_in: int, sr_out: int) -> int:
    """Length soxr produces for n samples: round(n * sr_out / sr_in)."""
    return int(round(n * sr_out / sr_in))


def fit_length(wave: np.ndarray, n: int) -> np.ndarray:
    """Crop or zero-pad the last axis to exactly n samples (codec output alignment)."""
    t = wave.shape[-1]
    if t == n:
        return wave
    if t > n:
        return wave[..., :n]
    pad = [(0, 0)] * (wave.ndim - 1) + [(0, n - t)]
    return np.pad(wave, pad)


# Length difference above which a pair's alignment is worth a note (seconds): longer than one frame
# of any shipped codec (<= 80 ms), so codec frame padding passes and a missing word does not.
LENGTH_TOLERANCE_S = 0.1


def align_lengths(ref: np.ndarray, deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The one alignment for metrics that need equal lengths (STOI/ESTOI, SI-SDR, mel distance).

    Both signals start at sample 0 and are cropped to the shorter one; nothing is shifted or
    resampled (no delay search: these metrics' references compare time-aligned signals, and a
    delayed or warped degradation should cost score, not be hidden). Self-aligning metrics (PESQ,
    ViSQOL) never call this: they get the signals as given. ``length_note`` says when the crop
    discarded more than ``LENGTH_TOLERANCE_S``.
    """
    n = min(len(ref), len(deg))
    return ref[:n], deg[:n]


def length_note(n_ref: int, n_deg: int, sample_rate: int, tolerance_s: float = LENGTH_TOLERANCE_S) -> str:
    """Why a pair's equal-length scores cover less than both signals ("" within the tolerance)."""
    diff = (n_deg - n_ref) / float(sample_rate)
    if abs(diff) <= tolerance_s:
        return ""
    longer = "degraded" if diff > 0 else "reference"
    return (f"lengths differ by {abs(diff):.3f} s (reference {n_ref / sample_rate:.3f} s, degraded "
            f"{n_deg / sample_rate:.3f} s): equal-length metrics scored the first {min(n_ref, n_deg) / sample_rate:.3f} s, "
            f"dropping the {longer} signal's tail")


def pad_batch(waves: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Stack 1-D waves into [B, T_max] with zeros after each item; returns (batch, lengths)."""
    lengths = np.array([len(w) for w in waves], dtype=np.int64)
    out = np.zeros((len(waves), int(lengths.max(initial=0))), dtype=np.float32)
    for i, w in enumerate(waves):
        out[i, : len(w)] = w
    return out, lengths


def unpad_batch(batch: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
    return [batch[i, : int(n)] for i, n in enumerate(lengths)]


def peak_dbfs(wave: np.ndarray) -> float:
    peak = float(np.max(np.abs(wave))) if wave.size else 0.0
    return -np.inf if peak <= 0 else 20.0 * np.log10(peak)


def rms_dbfs(wave: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64)))) if wave.size else 0.0
    return -np.inf if rms <= 0 else 20.0 * np.log10(rms)
