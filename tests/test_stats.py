"""codecbench.stats against scipy.stats, and other numbers against independent implementations:
mel filterbank / log-mel against librosa, DNSMOS against speechmos called directly on the same
input, pooled codebook use against the codes a real run saved (counted with numpy/scipy here).

Tolerances: the exact sign-flip p-value (n <= 16) must equal scipy's exact enumeration to 1e-12;
Monte-Carlo quantities (bootstrap bounds, p for n > 16) within 4 standard errors of their own
resampling noise."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from codecbench import stats


def _sample(n: int, seed: int, shift: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(shift, 1.0, n)


# -- bootstrap percentile CI ---------------------------------------------------------------------
@pytest.mark.parametrize(("n", "level"), [(12, 0.95), (40, 0.95), (40, 0.9)])
def test_bootstrap_ci_matches_scipy_percentile_bootstrap(n, level):
    x = _sample(n, n)
    lo, hi = stats.bootstrap_ci(x, level=level, resamples=20000)
    ref = sps.bootstrap((x,), np.mean, confidence_level=level, n_resamples=20000, method="percentile",
                        random_state=np.random.default_rng(1)).confidence_interval
    se = x.std(ddof=1) / math.sqrt(n)  # a bound's Monte-Carlo noise at 20 000 resamples is << 0.05 se
    assert abs(lo - ref.low) < 0.05 * se and abs(hi - ref.high) < 0.05 * se, (lo, hi, ref)
    assert lo < x.mean() < hi


def test_bootstrap_ci_against_exact_enumeration_for_n3():
    x = np.array([0.0, 1.0, 5.0])
    means = np.array([x[list(i)].mean() for i in np.ndindex(3, 3, 3)])  # all 27 equally likely resamples
    lo, hi = stats.bootstrap_ci(x, resamples=200000)
    want = np.quantile(means, [0.025, 0.975], method="inverted_cdf")  # quantiles of the discrete law
    assert (lo, hi) == tuple(want) == (0.0, 5.0)
    x = np.array([0.0, 1.0, 2.0, 7.0])
    means = np.array([x[list(i)].mean() for i in np.ndindex(4, 4, 4, 4)])
    lo, hi = stats.bootstrap_ci(x, level=0.8, resamples=200000)
    assert (lo, hi) == tuple(np.quantile(means, [0.1, 0.9], method="inverted_cdf"))
    assert stats.bootstrap_ci(np.array([1.0])) == pytest.approx((math.nan, math.nan), nan_ok=True)
    assert stats.bootstrap_ci(np.array([1.0, np.nan, 3.0])) == stats.bootstrap_ci(np.array([1.0, 3.0]))


# -- paired sign-flip permutation test -----------------------------------------------------------
def _scipy_sign_flip_p(d: np.ndarray, n_resamples=np.inf) -> float:
    return float(sps.permutation_test((d,), lambda x, axis: np.mean(x, axis=axis), permutation_type="samples",
                                      n_resamples=n_resamples, alternative="two-sided").pvalue)


@pytest.mark.parametrize(("n", "shift"), [(5, 0.0), (8, 0.8), (12, 0.3), (16, 1.0)])
def test_paired_p_is_scipys_exact_enumeration_for_small_n(n, shift):
    a = _sample(n, 100 + n)
    b = a + _sample(n, 200 + n, shift)
    r = stats.paired_difference(a, b)
    assert r["n"] == n and r["mean_diff"] == pytest.approx((b - a).mean(), abs=1e-12)
    assert r["p_value"] == pytest.approx(_scipy_sign_flip_p(b - a), abs=1e-12)


@pytest.mark.parametrize("shift", [0.0, 0.5])
def test_paired_p_monte_carlo_agrees_with_exact_for_n18(shift):
    a = _sample(18, 7)
    b = a + _sample(18, 8, shift)
    exact = _scipy_sign_flip_p(b - a)  # 2^18 sign patterns, enumerated by scipy
    got = stats.paired_difference(a, b)["p_value"]
    assert abs(got - exact) < 4 * math.sqrt(max(exact * (1 - exact), 1e-4) / 10000) + 1e-4, (got, exact)


def test_paired_difference_ci_is_the_bootstrap_of_the_differences():
    a, b = _sample(30, 1), _sample(30, 2, 0.4)
    r = stats.paired_difference(a, b)
    assert (r["ci_low"], r["ci_high"]) == stats.bootstrap_ci(b - a)
    assert stats.paired_difference(a, a)["p_value"] == 1.0
    assert stats.paired_difference(np.array([np.nan]), np.array([1.0]))["n"] == 0


def _scipy_one_sided_p(d: np.ndarray) -> float:
    return float(sps.permutation_test((d,), lambda x, axis: np.mean(x, axis=axis), permutation_type="samples",
                                      n_resamples=np.inf, alternative="less").pvalue)


@pytest.mark.parametrize(("n", "shift", "margin"), [(6, -0.3, 0.0), (10, -0.8, 0.2), (14, 0.1, 0.5)])
def test_margin_p_is_scipys_exact_one_sided_test_of_the_shifted_differences(n, shift, margin):
    d = _sample(n, 300 + n, shift)
    assert stats.margin_p(d, margin) == pytest.approx(_scipy_one_sided_p(d + margin), abs=1e-12)
    assert stats.margin_p(d, 0.0) == pytest.approx(stats.sign_flip_p(d, "less"), abs=1e-12)
    assert stats.margin_p(d, margin) <= stats.margin_p(d, margin + 0.1)  # a larger margin is harder to exceed


def test_holm_matches_the_step_down_definition():
    p = [0.01, 0.04, 0.03, 0.005, float("nan")]
    # ascending 0.005, 0.01, 0.03, 0.04 over m = 4: 4*0.005, 3*0.01, max(., 2*0.03), max(., 1*0.04)
    want = [0.03, 0.06, 0.06, 0.02]
    got = stats.holm(p)
    assert got[:4] == pytest.approx(want, abs=1e-12) and math.isnan(got[4])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_stratified_bootstrap_resamples_within_strata():
    x = np.array([0.0, 0.0, 0.0, 10.0, 10.0, 10.0])
    lo, hi = stats.bootstrap_ci(x, strata=np.array(["a", "a", "a", "b", "b", "b"]))
    assert lo == hi == 5.0  # each stratum is constant: its share of the mean never changes
    lo, hi = stats.bootstrap_ci(x)
    assert lo < 5.0 < hi
    y = _sample(20, 4)
    assert stats.bootstrap_ci(y, strata=np.array(["a"] * 20)) == stats.bootstrap_ci(y)


@pytest.mark.parametrize(("n", "margin"), [(12, 0.0), (40, 0.05)])
def test_detectable_change_has_the_stated_power_under_the_t_model(n, margin):
    """At the detectable change, a one-sided t-test of the shifted mean rejects with ~the power
    (noncentral t: the exact power of the t-test under normal differences)."""
    sd, alpha = 0.2, 0.05
    mde = stats.detectable_change(sd, n, alpha, 0.8, margin)
    nc = (mde - margin) / (sd / math.sqrt(n))
    power = 1 - sps.nct.cdf(sps.t.ppf(1 - alpha, n - 1), n - 1, nc)
    assert 0.78 < power < 0.82, power
    need = stats.n_for_change(sd, mde, alpha, 0.8, margin)
    assert need == n or (need == n - 1 and stats.detectable_change(sd, n - 1, alpha, 0.8, margin) <= mde)
    assert stats.n_for_change(sd, margin, alpha, 0.8, margin) is None


# -- mel against librosa -------------------------------------------------------------------------
def test_mel_filterbank_and_log_mel_match_librosa():
    librosa = pytest.importorskip("librosa")  # the 'metrics' extra (strict mode: a failure)
    from codecbench.metrics import spectral as sp

    fb = librosa.filters.mel(sr=sp.MEL_SR, n_fft=sp.MEL_NFFT, n_mels=sp.MEL_BANDS, htk=True, norm="slaney")
    np.testing.assert_allclose(sp.mel_filterbank(), fb, rtol=0, atol=1e-8)
    x = _sample(16000, 3).astype(np.float32) * 0.1
    mel = librosa.feature.melspectrogram(y=x.astype(np.float64), sr=sp.MEL_SR, n_fft=sp.MEL_NFFT,
                                         hop_length=sp.MEL_HOP, window="hann", center=True, pad_mode="constant",
                                         power=2.0, n_mels=sp.MEL_BANDS, htk=True, norm="slaney")
    want = np.log10(np.maximum(mel.T, sp.MEL_FLOOR))
    # both float64 (FFT, filterbank product, log10): rounding ~1e-13; 1e-6 catches any window/bin mistake
    np.testing.assert_allclose(sp.log_mel(x), want, rtol=0, atol=1e-6)


# -- DNSMOS against speechmos ----------------------------------------------------------------------
def test_dnsmos_equals_speechmos_on_the_same_input(testdata):
    from speechmos import dnsmos as sm

    from codecbench.audio import load, resample
    from codecbench.metrics.base import MetricInput
    from codecbench.metrics.dnsmos import OUTPUTS, Dnsmos
    from codecbench.types import Utterance

    wave, sr = load(testdata / "hi" / "hi_01.wav")
    m = Dnsmos()
    assert m.unavailable_reason() is None, m.unavailable_reason()
    got = m.compute(MetricInput(ref=wave, deg=wave, sample_rate=sr, utterance=Utterance(id="hi_01")))
    ref = sm.run(np.clip(resample(wave, sr, 16000), -1, 1).astype(np.float32), 16000)
    for out, key in OUTPUTS.items():
        assert got[out] == pytest.approx(float(ref[key]), abs=1e-6), out


# -- codebook pooling against the saved codes of a real run -----------------------------------------
def test_pooled_codebook_use_recomputed_from_saved_codes(testdata, tmp_path):
    from codecbench.cli import main
    from codecbench.store import RunStore

    out = tmp_path / "run"
    assert main(["run", "--codecs", "ours-fsq", "--dataset", str(testdata / "manifest.json"), "--langs", "hi,en",
                 "--limit", "2", "--metrics", "codebook", "--workers", "0", "--save-audio", "none",
                 "--out", str(out), "-q"]) == 0
    table = pd.read_csv(out / "codebook.csv")
    rows = pd.read_parquet(out / "utterances.parquet")
    sizes = [b["size"] for b in json.loads((out / "codecs.json").read_text())["ours-fsq"]["codebooks"]]
    assert set(table["lang"]) == {"hi", "en", "all"}
    for lang, ids in [*rows.groupby("lang")["utt_id"], ("all", rows["utt_id"])]:
        files = [np.load(RunStore(out).codes_path("ours-fsq", u)) for u in ids]
        for level, size in enumerate(sizes):
            codes = np.concatenate([f[f"arr_{level}"] for f in files])
            _, counts = np.unique(codes, return_counts=True)
            r = table[(table["lang"] == lang) & (table["level"] == level)].iloc[0]
            assert r["n_codes"] == len(codes) and r["used_share"] == pytest.approx(len(counts) / size, abs=1e-12)
            assert r["entropy_bits"] == pytest.approx(sps.entropy(counts, base=2), abs=1e-9)
            assert r["perplexity"] == pytest.approx(2 ** sps.entropy(counts, base=2), rel=1e-9)
