"""Self-aligning metrics (PESQ, ViSQOL) get the pair as given; equal-length metrics use
``audio.align_lengths``. Pairs with a delay, a time warp and unequal lengths are built here from
real speech and compared with direct library calls."""

from __future__ import annotations

import numpy as np
import pytest

from codecbench import audio
from codecbench.metrics import pesq as pesq_metric
from codecbench.metrics.base import Failure, MetricInput, safe_compute
from codecbench.metrics.registry import get_metric
from codecbench.metrics.spectral import si_sdr
from codecbench.scoring import score_files
from codecbench.types import Utterance

SR = 16000


def _x(ref: np.ndarray, deg: np.ndarray, sr: int = SR) -> MetricInput:
    return MetricInput(ref=ref, deg=deg, sample_rate=sr, utterance=Utterance("u"))


@pytest.fixture(scope="module")
def pairs(testdata) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (ref, deg) at 16 kHz, built from a real Hindi clip."""
    ref, sr = audio.load(testdata / "hi" / "hi_00.wav")
    assert sr == SR
    rng = np.random.default_rng(0)
    noisy = ref + 0.02 * rng.standard_normal(len(ref)).astype(np.float32)
    delay = int(0.12 * SR)
    delayed = np.concatenate([np.zeros(delay, np.float32), noisy])  # 120 ms late, 120 ms longer
    # variable delay: the second half arrives 40 ms later than the first
    half = len(noisy) // 2
    jumped = np.concatenate([noisy[:half], np.zeros(int(0.04 * SR), np.float32), noisy[half:]])
    warped = audio.resample(noisy, SR, int(SR * 1.01))  # played 1% slow: 1% longer
    short = noisy[: len(noisy) - int(0.5 * SR)]
    return {"delayed": (ref, delayed), "variable_delay": (ref, jumped), "warped": (ref, warped),
            "shorter": (ref, short)}


@pytest.mark.parametrize("name", ["delayed", "variable_delay", "warped", "shorter"])
@pytest.mark.parametrize("mode", ["wb", "nb"])
def test_pesq_gets_the_pair_as_given(pairs, name, mode):
    from pesq import pesq

    ref, deg = pairs[name]
    assert len(ref) != len(deg)
    value = safe_compute(get_metric(f"pesq_{mode}"), _x(ref, deg))[f"pesq_{mode}"]
    assert value == pesq(SR, ref, deg, mode)


def test_pesq_delay_is_compensated_not_penalised(pairs):
    """A pure delay barely moves PESQ when the pair is given as is (cropping would have cost ~0.1-0.7)."""
    ref, delayed = pairs["delayed"]
    m = get_metric("pesq_wb")
    aligned = safe_compute(m, _x(ref, delayed[int(0.12 * SR):]))["pesq_wb"]
    as_given = safe_compute(m, _x(ref, delayed))["pesq_wb"]
    assert abs(as_given - aligned) < 0.05


def test_score_files_passes_unequal_files_untouched(tmp_path, pairs):
    from pesq import pesq

    ref, deg = pairs["variable_delay"]
    audio.save(tmp_path / "ref.wav", ref, SR, subtype="FLOAT")
    audio.save(tmp_path / "deg.wav", deg, SR, subtype="FLOAT")
    out = score_files(str(tmp_path / "ref.wav"), str(tmp_path / "deg.wav"), ["pesq_wb", "stoi"])
    assert out["values"]["pesq_wb"] == pesq(SR, ref, deg, "wb")
    assert out["ref_samples"] == len(ref) and out["deg_samples"] == len(deg)
    assert out["length_note"] == ""  # 40 ms: within the tolerance
    shorter = pairs["shorter"][1]
    audio.save(tmp_path / "short.wav", shorter, SR, subtype="FLOAT")
    note = score_files(str(tmp_path / "ref.wav"), str(tmp_path / "short.wav"), ["si_sdr"])["length_note"]
    assert "0.500 s" in note and "reference signal's tail" in note


@pytest.mark.parametrize("name", ["delayed", "warped", "shorter"])
def test_equal_length_metrics_crop_to_the_shorter_signal(pairs, name):
    from pystoi import stoi

    ref, deg = pairs[name]
    n = min(len(ref), len(deg))
    x = _x(ref, deg)
    for ext, key in ((False, "stoi"), (True, "estoi")):  # float64, another order: see test_stoi_fast.TOL
        assert safe_compute(get_metric(key), x)[key] == pytest.approx(stoi(ref[:n], deg[:n], SR, extended=ext), abs=1e-6)
    assert safe_compute(get_metric("si_sdr"), x)["si_sdr"] == si_sdr(ref[:n], deg[:n])
    cropped = safe_compute(get_metric("mel_distance"), _x(ref[:n], deg[:n]))["mel_distance"]
    assert safe_compute(get_metric("mel_distance"), x)["mel_distance"] == cropped


def test_align_lengths_and_length_note():
    a, b = np.arange(10.0), np.arange(7.0)
    ra, rb = audio.align_lengths(a, b)
    assert len(ra) == len(rb) == 7 and ra[0] == 0 and rb[-1] == 6
    assert audio.length_note(SR, SR + int(audio.LENGTH_TOLERANCE_S * SR), SR) == ""
    note = audio.length_note(SR, 2 * SR, SR)
    assert "1.000 s" in note and "degraded signal's tail" in note


def test_visqol_gets_the_pair_as_given(pairs):
    m = get_metric("visqol_speech")
    if m.unavailable_reason():
        pytest.skip(m.unavailable_reason())
    from visqol import VisqolApi

    ref, deg = pairs["delayed"]
    ref, deg = ref[: 3 * SR], deg[: int(3.5 * SR)]  # keep ViSQOL's run time short
    api = VisqolApi()
    api.create(mode="speech", use_lattice_model=True)
    direct = api.measure_from_arrays(ref.astype(np.float64), deg.astype(np.float64), SR).moslqo
    assert safe_compute(m, _x(ref, deg))["visqol_speech"] == pytest.approx(direct, abs=1e-12)


def test_pesq_refuses_inputs_beyond_the_safe_length(monkeypatch):
    import pesq

    def crash(*args, **kwargs):  # the real library would segfault at >= 250 s
        raise AssertionError("pesq called on an over-long input")

    monkeypatch.setattr(pesq, "pesq", crash)
    n = int((pesq_metric.MAX_SECONDS + 1) * SR)
    long = np.zeros(n, np.float32)
    long[::100] = 0.1
    for mode in ("wb", "nb"):
        value = safe_compute(get_metric(f"pesq_{mode}"), _x(long[:SR * 10], long))[f"pesq_{mode}"]
        assert isinstance(value, Failure) and value.kind == "failed" and "200 s" in value.reason
