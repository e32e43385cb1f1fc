"""Opus adapter: real libopus round trip, explicit alignment, measured bitrate, batch independence."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from codecbench import audio
from codecbench.codecs.registry import all_specs, load_codec
from tests.helpers import speechlike


@pytest.fixture(scope="module")
def opus24():
    return load_codec("opus-24kbps")


def _lag(x: np.ndarray, y: np.ndarray) -> int:
    cc = scipy.signal.correlate(y, x, mode="full", method="fft")
    return int(np.argmax(cc)) - (len(x) - 1)


@pytest.mark.parametrize("sr", [8000, 16000, 22050, 44100, 48000])
@pytest.mark.parametrize("n_seconds", [0.37, 1.0, 2.013])
def test_output_length_equals_input_length(opus24, sr, n_seconds):
    x = speechlike(n_seconds, sr)
    rec = opus24.reconstruct(x[None], np.array([len(x)]), sr)
    assert rec.wave.shape == (1, len(x)) and rec.sample_rate == sr
    assert np.all(np.isfinite(rec.wave))


def test_lookahead_is_compensated(opus24, testdata):
    x, sr = audio.load(testdata / "en" / "LJ050-0131.wav")
    x = audio.resample(x, sr, 48000)
    y = opus24.reconstruct(x[None], np.array([len(x)]), 48000).item(0)
    assert _lag(x, y) == 0  # without compensation it is the encoder lookahead, 312 samples
    assert np.corrcoef(x, y)[0, 1] > 0.8


def test_real_speech_round_trip_and_measured_bitrate(testdata):
    x, sr = audio.load(testdata / "en" / "LJ050-0131.wav")
    for kbps in (6, 12, 24):
        codec = load_codec(f"opus-{kbps}kbps")
        rec = codec.reconstruct(x[None], np.array([len(x)]), sr)
        measured = rec.bits[0] / (len(x) / sr)
        assert measured == pytest.approx(kbps * 1000, rel=0.15), measured
        assert abs(_lag(x, rec.item(0))) <= 1


def test_batched_equals_single(opus24):
    items = [speechlike(d, 16000, seed=i) for i, d in enumerate((0.5, 1.3, 0.9))]
    batch, lengths = audio.pad_batch(items)
    rec = opus24.reconstruct(batch, lengths, 16000)
    for b, x in enumerate(items):
        single = opus24.reconstruct(x[None], np.array([len(x)]), 16000)
        np.testing.assert_array_equal(rec.item(b), single.item(0))
        assert rec.bits[b] == single.bits[0]
        assert np.all(rec.wave[b, len(x):] == 0)


def test_variants_and_metadata():
    specs = all_specs()
    for kbps in (6, 12, 24):
        for suffix, app in (("", "VOIP"), ("-audio", "AUDIO")):
            info = specs[f"opus-{kbps}kbps{suffix}"].info
            assert info.nominal_bitrate == kbps * 1000 and info.sample_rate == 48000 and app in info.description
            assert not info.has_tokens and info.causal
