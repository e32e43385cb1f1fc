"""DNSMOS (speechmos) on real speech: clean speech scores above the same speech with heavy noise."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from codecbench.audio import load
from codecbench.metrics.base import Failure, MetricInput
from codecbench.metrics.dnsmos import Dnsmos, metrics, models
from codecbench.types import Utterance


@pytest.fixture(scope="module")
def dnsmos():
    m = Dnsmos()
    if m.unavailable_reason():
        pytest.skip(m.unavailable_reason())
    return m


def test_clean_speech_scores_above_noisy(testdata, dnsmos):
    clean, sr = load(testdata / "en" / "LJ050-0131.wav")
    rng = np.random.default_rng(0)
    noisy = clean + 0.05 * rng.standard_normal(len(clean)).astype(np.float32)
    xs = [MetricInput(ref=clean, deg=w, sample_rate=sr, utterance=Utterance(id=i)) for i, w in (("c", clean), ("n", noisy))]
    a, b = dnsmos.compute_batch(xs)
    assert set(a) == {"dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak", "dnsmos_p808"}
    assert all(1.0 <= v <= 5.0 for v in a.values())
    assert a["dnsmos_bak"] > b["dnsmos_bak"] + 0.5
    assert a["dnsmos_ovrl"] > b["dnsmos_ovrl"]


def test_silence_is_a_failure_and_metadata(dnsmos):
    x = MetricInput(ref=np.zeros(16000, np.float32), deg=np.zeros(16000, np.float32), sample_rate=16000,
                    utterance=Utterance(id="z"))
    (out,) = dnsmos.compute_batch([x])
    assert isinstance(out["dnsmos_ovrl"], Failure)
    info = metrics()[0].info()
    assert not info.needs_reference and not info.default and info.library == "speechmos"
    assert models()[0].download().is_dir()
    assert "torchaudio" not in sys.modules
