"""ViSQOL against Google's C++ conformance values (../shared/testdata/conformance.json)."""

from __future__ import annotations

import numpy as np
import pytest

from codecbench.audio import load
from codecbench.metrics import visqol as vq
from codecbench.metrics.base import MetricInput, safe_compute
from codecbench.scoring import score_files
from codecbench.types import Utterance


def _cases(conformance: dict, mode: str, model: str) -> list[dict]:
    return [c for c in conformance["visqol"]["cases"] if c["mode"] == mode and c["model"] == model]


@pytest.fixture(scope="module")
def speech():
    m = vq.Visqol("speech")
    if m.unavailable_reason():
        pytest.skip(m.unavailable_reason())
    return m


@pytest.fixture(scope="module")
def audio():
    m = vq.Visqol("audio")
    if m.unavailable_reason():
        pytest.skip(m.unavailable_reason())
    return m


def test_score_reproduces_cpp_audio_mode_within_1e4(conformance, testdata, audio):
    cases = _cases(conformance, "audio", "libsvm_nu_svr")
    assert cases
    # libsvm nu-SVR in float64: measured |delta| <= 3e-14, so 1e-4 is far above any CPU's rounding
    for c in cases:  # through `codecbench score` (files of unequal length, stereo mixed to mono)
        got = score_files(str(testdata / c["ref"]), str(testdata / c["deg"]), ["visqol_audio"])
        value = got["values"]["visqol_audio"]
        assert abs(value - c["expected"]) <= vq.AUDIO_MODE_TOLERANCE, (c, value)


def test_speech_mode_gap_is_within_the_stated_bounds(conformance, testdata, speech):
    cases = _cases(conformance, "speech", "lattice")
    assert len(cases) == 3
    # The gap to C++ is the port's (algorithmic, the same on every CPU): measured max 3.1e-3 of the 5e-3
    # port bound and 1.2e-2 of the 2e-2 bound at 16 kHz. The float32 TFLite lattice model's kernels
    # (XNNPACK, dispatched by instruction set) move a MOS by ~1e-6, well inside the remaining headroom.
    for c in cases:
        ref, sr = load(testdata / c["ref"])
        deg, _ = load(testdata / c["deg"])
        port = speech.score(ref, deg, sr, resample_input=False)  # same input as the C++ test
        as_defined = score_files(str(testdata / c["ref"]), str(testdata / c["deg"]), ["visqol_speech"])
        as_defined = as_defined["values"]["visqol_speech"]  # resampled to 16 kHz, as runs report
        assert abs(port - c["expected"]) <= vq.SPEECH_PORT_TOLERANCE, (c, port)
        assert abs(as_defined - c["expected"]) <= vq.SPEECH_MODE_TOLERANCE, (c, as_defined)


def test_metric_interface_and_metadata(testdata, speech):
    ref, sr = load(testdata / "visqol" / "clean_speech_CA01_01.wav")
    deg, _ = load(testdata / "visqol" / "clean_speech_transcoded_CA01_01.wav")
    n = min(len(ref), len(deg))
    x = MetricInput(ref=ref[:n], deg=deg[:n], sample_rate=sr, utterance=Utterance(id="ca01"))
    out = safe_compute(speech, x)
    assert 3.0 < out["visqol_speech"] < 3.6  # interface check (3.30 here); accuracy is held to C++ above
    info = speech.info()
    assert info.default and info.sample_rate == 16000 and info.mode == "speech"
    assert info.library == "visqol-python" and info.version not in ("", "not installed")
    assert "lattice" in info.model
    assert not vq.Visqol("audio").info().default


def test_silence_and_too_short_fail_with_a_reason(speech):
    x = MetricInput(ref=np.zeros(16000, np.float32), deg=np.zeros(16000, np.float32), sample_rate=16000,
                    utterance=Utterance(id="z"))
    out = safe_compute(speech, x)
    assert "silence" in out["visqol_speech"].reason
    x = MetricInput(ref=np.ones(100, np.float32), deg=np.ones(100, np.float32), sample_rate=16000,
                    utterance=Utterance(id="s"))
    assert "too short" in safe_compute(speech, x)["visqol_speech"].reason
