"""Checks on a reference before it is scored: is there a signal, and is it within full scale.

Measurement decisions (see docs/reliability.md):

* The gate looks at AC energy, not at the peak. Each 20 ms frame has its own mean removed and its
  RMS measured; a DC offset, a slow drift, a step or a lone click has a high peak but nothing a
  codec metric can meaningfully compare (PESQ gave a DC-only reference 2.56-4.64).
* A frame is *active* when its AC RMS is at least ``ACTIVE_DBFS`` = -55 dBFS: speech at the usual
  -26 dBFS active level (ITU-T P.56) is ~30 dB above it, so even quiet recordings pass, while a
  16-bit noise floor (~-100 dBFS) or a -60 dBFS hum does not.
* A reference needs ``MIN_ACTIVE_SECONDS`` = 0.1 s of active frames (5 frames, about one syllable)
  to be scored; one click or step lights up only one or two frames.
* Samples beyond full scale (|x| > 1, possible in float files) and hard clipping (three or more
  consecutive samples at the 16-bit full-scale code) are flagged, not failed: the reference is
  scored as given and the row's ``flags`` says so.
"""

from __future__ import annotations

import numpy as np

FRAME_SECONDS = 0.02
ACTIVE_DBFS = -55.0
MIN_ACTIVE_SECONDS = 0.1
FULL_SCALE = 1.0
CLIP_LEVEL = 32767 / 32768  # the largest 16-bit code, as soundfile reads it
CLIP_RUN = 3


def _frame_ac_rms_db(wave: np.ndarray, sr: int) -> np.ndarray:
    """AC RMS (dBFS) of each non-overlapping frame, the frame's own mean removed."""
    n = max(1, int(round(FRAME_SECONDS * sr)))
    frames = len(wave) // n
    if frames == 0:
        frames, n = 1, len(wave)
    x = np.asarray(wave[: frames * n], dtype=np.float64).reshape(frames, n)
    ac = x - x.mean(axis=1, keepdims=True)
    rms = np.sqrt(np.mean(ac * ac, axis=1))
    with np.errstate(divide="ignore"):
        return 20.0 * np.log10(rms)


def check_reference(wave: np.ndarray, sr: int) -> str | None:
    """Why ``wave`` has no signal to score (a failure reason), or None when it has one."""
    if wave.size == 0:
        return "empty reference (no samples)"
    db = _frame_ac_rms_db(wave, sr)
    active = float(np.count_nonzero(db >= ACTIVE_DBFS)) * len(wave) / sr / len(db)
    if active >= MIN_ACTIVE_SECONDS:
        return None
    peak = float(np.max(np.abs(wave)))
    peak_db = 20.0 * np.log10(peak) if peak > 0 else -np.inf
    dc = float(np.mean(wave, dtype=np.float64))
    loudest = float(np.max(db))
    if active == 0.0 and abs(dc) > 0 and 20.0 * np.log10(abs(dc)) >= ACTIVE_DBFS:
        return (f"no signal: DC only (offset {20.0 * np.log10(abs(dc)):.1f} dBFS; AC level at most {loudest:.1f} dBFS "
                f"< {ACTIVE_DBFS:.0f} dBFS)")
    if active == 0.0:
        return f"silent reference (AC level at most {loudest:.1f} dBFS < {ACTIVE_DBFS:.0f} dBFS; peak {peak_db:.1f} dBFS)"
    return (f"no signal: only {active:.2f} s above {ACTIVE_DBFS:.0f} dBFS AC level (need {MIN_ACTIVE_SECONDS} s); "
            f"a click or step, not a signal (peak {peak_db:.1f} dBFS)")


def level_flags(wave: np.ndarray) -> str:
    """'' or a note on samples beyond full scale and hard clipping (the row's ``flags``)."""
    a = np.abs(np.asarray(wave, dtype=np.float32))
    notes = []
    beyond = int(np.count_nonzero(a > FULL_SCALE))
    if beyond:
        notes.append(f"{beyond} samples beyond full scale (peak {20.0 * np.log10(float(a.max())):+.1f} dBFS)")
    at = (a >= CLIP_LEVEL).astype(np.int8)
    if at.sum() >= CLIP_RUN:
        # longest run of consecutive samples at (or beyond) full scale
        edges = np.flatnonzero(np.diff(np.concatenate(([0], at, [0]))))
        runs = edges[1::2] - edges[0::2]
        clipped = int(runs[runs >= CLIP_RUN].sum())
        if clipped:
            notes.append(f"clipped: {clipped} samples in runs at full scale")
    return "; ".join(notes)
