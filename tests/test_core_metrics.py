"""Signal metrics: true signs, failures instead of made-up numbers, codebook and bitrate arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

from codecbench.metrics.base import Failure, MetricInput, safe_compute
from codecbench.metrics.bitrate import code_bits
from codecbench.metrics.codebook import level_stats, pooled_utilization
from codecbench.metrics.registry import get_metric, select
from codecbench.metrics.spectral import si_sdr
from codecbench.types import Utterance
from tests.helpers import MULAW_INFO, speechlike

SR = 16000


def _x(ref, deg, sr=SR, **kw):
    return MetricInput(ref=ref, deg=deg, sample_rate=sr, utterance=Utterance("u"), **kw)


def test_si_sdr_true_sign():
    rng = np.random.default_rng(0)
    s = speechlike(2.0, SR)
    noise = rng.standard_normal(len(s)).astype(np.float32)
    noise -= np.dot(noise, s - s.mean()) / np.dot(s - s.mean(), s - s.mean()) * (s - s.mean())  # orthogonal to s
    noise -= noise.mean()
    noise *= np.linalg.norm(s - s.mean()) / np.linalg.norm(noise)
    assert si_sdr(s, s + noise * 10 ** (10 / 20)) == pytest.approx(-10.0, abs=0.01)
    assert si_sdr(s, s + noise * 10 ** (-20 / 20)) == pytest.approx(20.0, abs=0.01)
    assert si_sdr(s, 0.5 * s) > 60  # scale-invariant


def test_mel_distance_zero_for_identical_and_grows_with_noise():
    m = get_metric("mel_distance")
    s = speechlike(2.0, SR)
    assert safe_compute(m, _x(s, s))["mel_distance"] == 0.0
    noisy = s + 0.05 * np.random.default_rng(1).standard_normal(len(s)).astype(np.float32)
    assert safe_compute(m, _x(s, noisy))["mel_distance"] > 0.1


@pytest.mark.parametrize("name", ["pesq_wb", "pesq_nb", "stoi", "estoi", "si_sdr"])
def test_silence_is_a_failure_not_a_number(name):
    silent = np.zeros(SR * 2, dtype=np.float32)
    values = safe_compute(get_metric(name), _x(silent, silent))
    assert all(isinstance(v, Failure) and v.reason for v in values.values()), values


def test_pesq_wb_refuses_narrowband_source():
    s = speechlike(2.0, 8000)
    v = safe_compute(get_metric("pesq_wb"), _x(s, s, sr=8000))["pesq_wb"]
    assert isinstance(v, Failure) and "8000 Hz" in v.reason
    assert not isinstance(safe_compute(get_metric("pesq_nb"), _x(s, s, sr=8000))["pesq_nb"], Failure)


def test_codebook_stats():
    s = level_stats(np.array([0, 1, 2, 3] * 10), 8)
    assert s["used_share"] == 0.5 and s["entropy_bits"] == pytest.approx(2.0) and s["perplexity"] == pytest.approx(4.0)
    pooled = pooled_utilization([[np.array([0, 1])], [np.array([2, 3])]], [4])
    assert pooled[0]["used_share"] == 1.0 and pooled[0]["n_codes"] == 4


def test_bitrate_from_codes_and_payload():
    m = get_metric("bitrate")
    s = speechlike(1.0, SR)
    codes = [np.zeros(8000, dtype=np.int64)]
    v = safe_compute(m, _x(s, s, codec=MULAW_INFO, codes=codes))
    assert v["bitrate_measured"] == pytest.approx(code_bits(codes, [256]) / 1.0) == 64000.0
    v = safe_compute(m, _x(s, s, codec=MULAW_INFO, bits=6000.0))
    assert v["bitrate_measured"] == 6000.0 and v["bitrate_nominal"] == 64000.0


def test_codebook_metric_not_applicable_to_codecs_without_codes():
    from codecbench.codecs.registry import get_spec

    s = speechlike(1.0, SR)
    v = safe_compute(get_metric("codebook"), _x(s, s, codec=get_spec("opus-6kbps").info))
    assert v["codebook_used_share"].kind == "not_applicable"


def test_registry_selects_by_metric_or_output_name_and_rejects_unknown():
    assert [m.name for m in select(["stoi", "bitrate_measured"])] == ["stoi", "estoi", "bitrate"]  # stoi: a family
    with pytest.raises(KeyError, match="pesq_wb"):
        select(["pesq_wbb"])
    for m in select(None):
        info = m.info()
        assert info.library and info.version and (info.outputs or info.corpus_outputs)  # token_lm: corpus only
