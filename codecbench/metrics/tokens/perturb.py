"""The meaning-preserving perturbations of token stability, and how frames are aligned after a shift.

Measurement decisions:
- gain, noise and the resampling round trip act on the input as recorded (its source rate); the
  time shifts act at the codec's own rate, so "1 sample" is one sample of what the encoder sees and
  "half a hop" is exactly half of its frame hop (``round(fraction * sample_rate / frame_rate)``);
- a shift delays the signal: ``s`` zeros are put in front, nothing is cut;
- gain multiplies the float signal; nothing is clipped (the codec sees the values as they are);
- white Gaussian noise at an SNR relative to the utterance's mean power over all its samples,
  drawn from ``numpy.random.default_rng([seed, crc32(utterance id), k])`` (k: which noise): the same
  noise for an utterance whatever its batch, shard or codec;
- the resampling round trip goes source rate -> ``resample_via_hz`` -> source rate through
  ``codecbench.audio.resample`` (soxr VHQ), the resampler every codec input goes through;
- after a shift of ``s`` samples, the ``floor(s / hop)`` leading frames of each level (its own hop)
  are dropped (they hold only inserted samples) and the sequence is cut to the original's length
  (its last frame holds the last shifted-out samples); the edit distance absorbs any remaining lag
  (a one-frame lag costs at most two edits).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from codecbench import audio

PERTURBATIONS = ("shift_sample", "shift_half_hop", "gain_down", "gain_up", "noise_faint", "noise_audible", "resample")
DESCRIPTIONS = {
    "shift_sample": "time shift by shift_samples (default 1) samples at the codec's rate",
    "shift_half_hop": "time shift by shift_hop_fraction (default 0.5) of the codec's frame hop",
    "gain_down": "gain of gain_down_db (default -6 dB)",
    "gain_up": "gain of gain_up_db (default +6 dB)",
    "noise_faint": "white noise at noise_faint_snr_db (default 40 dB SNR)",
    "noise_audible": "white noise at noise_audible_snr_db (default 30 dB SNR)",
    "resample": "resampling round trip through resample_via_hz (default 16 -> 44.1 -> 16 kHz)",
}


@dataclass(frozen=True)
class Perturbed:
    name: str
    wave: np.ndarray  # at the codec's rate
    shift: int = 0  # samples put in front, at the codec's rate


def parse(text: str) -> tuple[str, ...]:
    """The perturbations named in a comma list ("all": every one), in their canonical order."""
    names = [p.strip() for p in str(text).split(",") if p.strip()]
    if names == ["all"]:
        return PERTURBATIONS
    unknown = [p for p in names if p not in PERTURBATIONS]
    if unknown or not names:
        raise ValueError(f"unknown perturbation(s) {', '.join(unknown) or '(none given)'}; choose from "
                         f"{', '.join(PERTURBATIONS)} or all")
    return tuple(p for p in PERTURBATIONS if p in names)


def _noise(x: np.ndarray, snr_db: float, seed: int, utt_id: str, k: int) -> np.ndarray:
    rng = np.random.default_rng([int(seed), zlib.crc32(utt_id.encode("utf-8")), k])
    power = float(np.mean(np.square(x, dtype=np.float64))) if len(x) else 0.0
    std = np.sqrt(power / 10.0 ** (snr_db / 10.0))
    return (x + std * rng.standard_normal(len(x))).astype(np.float32)


def perturb(ref: np.ndarray, sr: int, native_sr: int, frame_rate: float, names: tuple[str, ...],
            opts: dict, utt_id: str) -> tuple[np.ndarray, list[Perturbed]]:
    """(the original at the codec's rate, each named perturbation of it at the codec's rate)."""
    ref = np.asarray(ref, dtype=np.float32)
    native = audio.resample(ref, sr, native_sr)
    hop = native_sr / float(frame_rate)
    out = []
    for name in names:
        if name in ("shift_sample", "shift_half_hop"):
            s = int(opts["shift_samples"]) if name == "shift_sample" else int(round(float(opts["shift_hop_fraction"]) * hop))
            out.append(Perturbed(name, np.concatenate([np.zeros(max(s, 0), np.float32), native]), max(s, 0)))
            continue
        if name in ("gain_down", "gain_up"):
            x = ref * np.float32(10.0 ** (float(opts[f"{name}_db"]) / 20.0))
        elif name in ("noise_faint", "noise_audible"):
            x = _noise(ref, float(opts[f"{name}_snr_db"]), opts["seed"], utt_id, PERTURBATIONS.index(name))
        else:
            via = int(opts["resample_via_hz"])
            x = audio.resample(audio.resample(ref, sr, via), via, sr)
        out.append(Perturbed(name, audio.resample(x, sr, native_sr)))
    return native, out


def align(codes: np.ndarray, shift: int, hop: float, length: int) -> np.ndarray:
    """A perturbed level's codes aligned to the original's: the frames that hold only inserted samples
    dropped, cut to the original's length."""
    return np.asarray(codes)[int(shift // hop):][:length]
