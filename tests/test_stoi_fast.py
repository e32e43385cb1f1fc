"""codecbench's vectorised STOI/ESTOI equals pystoi (the reference) within 1e-6: conformance pairs,
and a sweep of real clips x degradations x sample rates built here."""

from __future__ import annotations

import numpy as np
import pytest

from codecbench import audio
from codecbench.metrics.stoi_fast import FS, StoiScores, StoiUndefined, stoi_batch, stoi_scores
from codecbench.metrics.stoi_resample import resample_batch

# Ours and pystoi are two float64 evaluations of the same formulas in another order: they differ by
# ~sqrt(n) u64 ~ 1e-13 for n ~ 1e5 terms, whatever the CPU; 1e-6 is the documented promise, far above that
# and far below any algorithmic difference (a frame or a band off moves STOI by > 1e-3).
TOL = 1e-6


def _pystoi(ref: np.ndarray, deg: np.ndarray, sr: int) -> tuple[float, float]:
    from pystoi import stoi

    return stoi(ref, deg, sr, extended=False), stoi(ref, deg, sr, extended=True)


def _degrade(ref: np.ndarray, sr: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    if kind == "noise_0db":
        noise = rng.standard_normal(len(ref)).astype(np.float32)
        return ref + noise * np.std(ref) / np.std(noise)
    if kind == "noise_20db":
        return ref + 0.1 * np.std(ref) * rng.standard_normal(len(ref)).astype(np.float32)
    if kind == "lowpass_3k":  # a narrowband codec's loss of the upper bands
        return audio.fit_length(audio.resample(audio.resample(ref, sr, 6000), 6000, sr), len(ref))
    if kind == "clipped":
        return np.clip(ref, -0.05, 0.05)
    if kind == "delayed_20ms":
        return np.concatenate([np.zeros(int(0.02 * sr), np.float32), ref])[: len(ref)]
    raise ValueError(kind)


def test_conformance_pairs(testdata, conformance):
    for case in conformance["stoi"]["cases"]:
        ref, sr = audio.load(testdata / case["ref"])
        deg, _ = audio.load(testdata / case["deg"])
        ref, deg = audio.align_lengths(ref, deg)
        got = stoi_scores(ref, deg, sr)
        want = _pystoi(ref, deg, sr)
        assert abs(got.stoi - want[0]) <= TOL and abs(got.estoi - want[1]) <= TOL, (case, got, want)
        tol = conformance["stoi"]["tolerance"]
        assert abs(got.stoi - case["stoi"]) <= tol and abs(got.estoi - case["estoi"]) <= tol


@pytest.mark.parametrize("kind", ["noise_0db", "noise_20db", "lowpass_3k", "clipped", "delayed_20ms"])
def test_sweep_of_real_clips_equals_pystoi(testdata, kind):
    rng = np.random.default_rng(1)
    files = sorted((testdata / "hi").glob("*.wav"))[::3] + [testdata / "en" / "LJ050-0131.wav"]
    refs, degs, rates = [], [], []
    for i, f in enumerate(files):
        ref, sr = audio.load(f)
        rate = (8000, 16000, 22050, 44100, 10000)[i % 5]  # every resampling path, and none
        ref = audio.resample(ref, sr, rate)
        refs.append(ref)
        degs.append(_degrade(ref, rate, kind, rng).astype(np.float32))
        rates.append(rate)
    for ref, deg, rate in zip(refs, degs, rates, strict=True):
        got = stoi_scores(ref, deg, rate)
        want = _pystoi(ref, deg, rate)
        assert abs(got.stoi - want[0]) <= TOL and abs(got.estoi - want[1]) <= TOL, (kind, rate, got, want)


def test_batch_equals_single_and_keeps_going_past_undefined_items(testdata):
    clips = [audio.load(f)[0] for f in sorted((testdata / "hi").glob("*.wav"))[:4]]
    rng = np.random.default_rng(2)
    degs = [c + 0.05 * rng.standard_normal(len(c)).astype(np.float32) for c in clips]
    silent = np.zeros(16000, np.float32)
    out = stoi_batch([clips[0], silent, *clips[1:]], [degs[0], silent, *degs[1:]], 16000)
    assert isinstance(out[1], StoiUndefined)
    for got, ref, deg in zip([out[0], *out[2:]], clips, degs, strict=True):
        assert isinstance(got, StoiScores)
        single = stoi_scores(ref, deg, 16000)
        assert abs(got.stoi - single.stoi) < 1e-12 and abs(got.estoi - single.estoi) < 1e-12


def test_resampler_equals_octave_compatible_reference(testdata):
    from pystoi.utils import resample_oct

    ref, sr = audio.load(testdata / "hi" / "hi_01.wav")
    for rate in (8000, 16000, 22050, 44100, 48000):
        x = audio.resample(ref, sr, rate).astype(np.float64)
        ours = resample_batch(x[None], rate, FS)[0]
        theirs = resample_oct(x, 10000, rate)
        assert ours.shape == theirs.shape and np.max(np.abs(ours - theirs)) < 1e-12, rate


def test_too_little_speech_is_undefined():
    rng = np.random.default_rng(3)
    short = rng.standard_normal(4000).astype(np.float32)  # 0.25 s: fewer than 30 frames
    with pytest.raises(StoiUndefined, match="frames"):
        stoi_scores(short, short, 16000)
    with pytest.raises(StoiUndefined, match="too short"):
        stoi_scores(short[:100], short[:100], 16000)
    with pytest.raises(ValueError, match="equal lengths"):
        stoi_batch([short], [short[:-1]], 16000)


def test_digitally_silent_degraded_stretch_is_deterministic(testdata):
    """Where the degraded signal is exactly zero, pystoi's ESTOI normalises eps-sized random noise and
    varies from call to call (std ~2e-3 here); codecbench counts those rows as uncorrelated (zero)."""
    from pystoi import stoi

    ref, sr = audio.load(testdata / "hi" / "hi_00.wav")
    deg = ref.copy()
    deg[len(deg) // 2:] = 0.0
    theirs = [stoi(ref, deg, sr, extended=True) for _ in range(4)]
    ours = {stoi_scores(ref, deg, sr).estoi for _ in range(2)}
    assert len(ours) == 1 and len(set(theirs)) > 1
    assert abs(ours.pop() - float(np.mean(theirs))) < 0.01
    assert stoi_scores(ref, deg, sr).stoi == pytest.approx(stoi(ref, deg, sr), abs=TOL)  # classic is deterministic
