"""The one input gate: every reference and degraded file, whichever command brought it (``run``, a
pair list, two-file ``score``), is read and judged here, so the same file gets the same verdict and
the same reason everywhere.

Checks, in the order their reasons are given (docs/reliability.md has the table):

* the file: missing, a symlink loop, not a regular file, undecodable, or **truncated** (a WAV whose
  header declares more audio than the file holds: an interrupted copy is not the recording);
* the reference's **sample rate**: below ``MIN_SAMPLE_RATE`` (8 kHz, narrowband telephony) there is
  no speech band to score (STOI gave a 1 kHz file 0.94);
* NaN or Inf samples; the duration bounds of the run;
* **channels**: the mono mix (their mean) is what is scored. Channels that each carry a signal but
  cancel in the mix (opposite phase) fail; a silent channel, or channels that partly cancel (the
  mix more than ``CANCEL_DB`` below their mean level), are flagged with the level lost;
* the **signal gate** (``codecbench.checks``: AC energy, 0.1 s of active frames) on the mono mix;
* level flags (samples beyond full scale, clipping) over every channel.

The degraded side of a pair gets the file checks, NaN/Inf and the maximum duration only: a codec
that outputs silence or a narrow band earns its score.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codecbench import audio
from codecbench.checks import check_reference, level_flags
from codecbench.safe_io import path_problem

MIN_SAMPLE_RATE = 8000
# A mix this far below the channels' mean power is more than uncorrelated channels give (-3 dB):
# they are (partly) in opposite phase.
CANCEL_DB = -10.0


@dataclass(frozen=True)
class Checked:
    """A file read through the gate: the mono wave and the verdicts that do not depend on the run."""

    wave: np.ndarray  # mono float32
    sr: int
    finite: bool
    gate: str | None  # why the mono mix cannot be a reference (channels cancelling, the signal gate), or None
    flags: str  # notes that do not fail the reference


def read_reference(path: str | os.PathLike) -> Checked:
    """Read a reference through the gate; ``audio.AudioError`` when the file cannot be read."""
    channels, sr = read_channels(path)
    return check_channels(channels, sr)


def check_wave(wave: np.ndarray, sr: int) -> Checked:
    """The gate for audio given in memory (mono [T] or [channels, T])."""
    x = np.asarray(wave, dtype=np.float32)
    return check_channels(x[None] if x.ndim == 1 else x, sr)


def read_channels(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """[channels, T] float32 and the rate, after the file checks (``audio.AudioError`` with the reason)."""
    problem = path_problem(path)
    if problem:
        raise audio.AudioError(problem)
    short = wav_truncation(path)
    if short:
        raise audio.AudioError(short)
    return audio.load(path, mono=False)


def check_channels(channels: np.ndarray, sr: int) -> Checked:
    mono = channels[0] if len(channels) == 1 else channels.mean(axis=0)
    mono = np.ascontiguousarray(mono, dtype=np.float32)
    finite = bool(np.all(np.isfinite(channels)))
    if not finite:
        return Checked(mono, sr, False, None, "")
    flags = [level_flags(channels.reshape(-1))] if len(channels) > 1 else [level_flags(mono)]
    gate = check_reference(mono, sr)
    if len(channels) > 1:
        verdict, note = _channel_verdict(channels, mono, sr, gate)
        gate = verdict or gate
        flags.append(note)
    return Checked(mono, sr, True, gate, "; ".join(f for f in flags if f))


def _ac_power(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64)
    return float(np.mean((x - x.mean()) ** 2)) if x.size else 0.0


def _db(ratio: float) -> float:
    return 10.0 * np.log10(ratio) if ratio > 0 else -np.inf


def _channel_verdict(channels: np.ndarray, mono: np.ndarray, sr: int, gate: str | None) -> tuple[str | None, str]:
    """(failure reason or None, flag) for the downmix of several channels."""
    active = [check_reference(c, sr) is None for c in channels]
    n = len(channels)
    if gate is not None:
        if any(active):
            return (f"channels cancel on downmix: {sum(active)} of {n} channels carry a signal but their mono mix has "
                    f"none (opposite phase?); {gate}"), ""
        return None, ""
    powers = [_ac_power(c) for c in channels]
    mix = _ac_power(mono)
    silent = [k + 1 for k, a in enumerate(active) if not a]
    if silent:
        loudest = max(p for p, a in zip(powers, active, strict=True) if a)
        which = ", ".join(map(str, silent))
        return None, (f"channel {which} of {n} is silent: the mono mix is {-_db(mix / loudest):.1f} dB below the "
                      "active channel")
    ratio = _db(mix / float(np.mean(powers))) if np.mean(powers) > 0 else 0.0
    if ratio < CANCEL_DB:
        return None, f"channels partly cancel on downmix: the mono mix is {-ratio:.1f} dB below the channels' mean level"
    return None, ""


def reference_reason(c: Checked, min_duration: float, max_duration: float) -> str | None:
    """Why a checked reference cannot be scored in a run with these duration bounds, or None."""
    if c.sr < MIN_SAMPLE_RATE:
        return (f"sample rate {c.sr} Hz is below {MIN_SAMPLE_RATE} Hz: no speech band to score (a telephone "
                f"band needs {MIN_SAMPLE_RATE} Hz)")
    if not c.finite:
        return "audio contains NaN or Inf samples"
    seconds = len(c.wave) / c.sr
    if seconds < min_duration:
        return f"too short: {seconds:.3f} s < {min_duration} s"
    if seconds > max_duration:
        return f"too long: {seconds:.1f} s > max_duration {max_duration:g} s"
    return c.gate


def read_degraded(path: str | os.PathLike, max_duration: float) -> tuple[np.ndarray, int]:
    """A degraded file (mono, its rate) after the file checks, NaN/Inf and the maximum duration;
    ``ValueError`` / ``audio.AudioError`` with the reason."""
    problem = path_problem(path) or wav_truncation(path)
    if problem:
        raise audio.AudioError(problem)
    try:
        seconds = audio.info(path)[1]
    except Exception:  # audio.load below says why the file cannot be read
        seconds = 0.0
    if seconds > max_duration:
        raise ValueError(f"too long: {seconds:.1f} s > max_duration {max_duration:g} s")
    wave, sr = audio.load(path)
    if not np.all(np.isfinite(wave)):
        raise ValueError("audio contains NaN or Inf samples")
    return wave, sr


# -- truncated WAV files --------------------------------------------------------------------------
_MAX_CHUNKS = 64
_STREAMED = (0, 0xFFFFFFFF)  # sizes written by streaming encoders that could not seek back


def wav_truncation(path: str | os.PathLike) -> str | None:
    """Why a RIFF/WAVE file is truncated (its data chunk declares more bytes than follow), or None;
    None for anything that is not a WAV file (other formats fail to decode when cut)."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
                return None
            order = "<" if head[:4] == b"RIFF" else ">"
            size = os.fstat(f.fileno()).st_size
            pos, byte_rate = 12, 0
            for _ in range(_MAX_CHUNKS):
                f.seek(pos)
                chunk = f.read(8)
                if len(chunk) < 8:
                    return None
                cid, (n,) = chunk[:4], struct.unpack(order + "I", chunk[4:])
                if cid == b"fmt ":
                    fmt = f.read(16)
                    byte_rate = struct.unpack(order + "I", fmt[8:12])[0] if len(fmt) == 16 else 0
                elif cid == b"data":
                    held = size - pos - 8
                    if n in _STREAMED or n <= held:
                        return None
                    if byte_rate:
                        return (f"truncated file {Path(path).name}: its header declares {n / byte_rate:.3f} s of audio, "
                                f"the file holds {held / byte_rate:.3f} s (an interrupted copy?)")
                    return f"truncated file {Path(path).name}: its header declares {n} bytes of audio, the file holds {held}"
                pos += 8 + n + (n & 1)
    except OSError:
        return None  # reading it properly says why
    return None
