"""Token metrics on streams whose statistics are known (docs/tokens.md): the edit distance against the
textbook recursion, the Kneser-Ney model's normalisation, i.i.d. uniform tokens cost log2 K bits and a
periodic stream almost none (n-gram and transformer), splits that cannot leak, and the perturbations."""

from __future__ import annotations

import numpy as np
import pytest

from codecbench.metrics.tokens.edit import levenshtein
from codecbench.metrics.tokens.ngram import KneserNey
from codecbench.metrics.tokens.perturb import PERTURBATIONS, align, parse, perturb
from codecbench.metrics.tokens.splits import Split, SplitError, split
from codecbench.metrics.tokens.transformer import TokenTransformer, TransformerSettings, layout


def _textbook(a, b) -> int:
    d = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        prev, d[0] = d[:], i
        for j in range(1, len(b) + 1):
            d[j] = min(prev[j] + 1, d[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1]))
    return d[-1]


def test_levenshtein_is_the_textbook_distance():
    rng = np.random.default_rng(0)
    for k in (2, 3, 40, 1024):
        for _ in range(200):
            a, b = rng.integers(0, k, rng.integers(0, 70)), rng.integers(0, k, rng.integers(0, 70))
            assert levenshtein(a, b) == _textbook(list(a), list(b))
    x = rng.integers(0, 256, 300)
    assert levenshtein(x, x) == 0 and levenshtein(x, np.roll(x, 1)) <= 2


def _ones(seqs):
    return [np.ones(len(s), bool) for s in seqs]


def _bits_per_token(lm, seqs, targets=None) -> float:
    b = lm.bits(seqs, targets or _ones(seqs))
    return float(np.concatenate(b).mean())


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_iid_uniform_tokens_cost_log2_k_bits(order):
    rng = np.random.default_rng(order)
    k = 16
    train = [rng.integers(0, k, 4000) for _ in range(30)]
    test = [rng.integers(0, k, 4000) for _ in range(5)]
    bits = _bits_per_token(KneserNey(order).fit(train, _ones(train), k), test)
    # above the entropy by at most what N training tokens cannot pin down: (k - 1) k^(order-1) free
    # parameters cost (k - 1) k^(order-1) / (2 N ln 2) bits a token for maximum-likelihood estimates
    # (smoothing backs off below that); +-0.01 and +0.02 for the 20 000 test tokens' own fluctuation
    n = sum(len(s) for s in train)
    assert -0.01 < bits - np.log2(k) < 0.02 + (k - 1) * k ** (order - 1) / (2 * n * np.log(2)), bits


def test_a_periodic_stream_costs_almost_nothing():
    period = np.array([3, 1, 4, 1, 5, 9, 2, 6])  # 1 repeats: a bigram cannot tell what follows it, a trigram can
    train = [np.tile(period, 200)[o:] for o in range(8)]
    test = [np.tile(period, 50)[3:]]
    assert _bits_per_token(KneserNey(3).fit(train, _ones(train), 10), test) < 0.02
    assert _bits_per_token(KneserNey(2).fit(train, _ones(train), 10), test) > 0.1  # the ambiguity costs bits


def test_kneser_ney_distributions_sum_to_one():
    rng = np.random.default_rng(1)
    train = [rng.integers(0, 6, rng.integers(3, 40)) for _ in range(12)]
    lm = KneserNey(3).fit(train, _ones(train), 6)
    for ctx in ([0, 1], [5, 5], [2, 3], []):  # seen, unseen and sentence-start contexts
        probs = [2.0 ** -lm.bits([np.array([*ctx, w])], [np.array([False] * len(ctx) + [True])])[0][0] for w in range(6)]
        assert abs(sum(probs) - 1) < 1e-12 and min(probs) > 0
    # a level inside interleaved levels: predicted ids in [first, first + vocab), the others context only
    streams = [np.stack([rng.integers(0, 4, 30), 4 + rng.integers(0, 3, 30)], axis=1).ravel() for _ in range(6)]
    targets = [np.arange(len(s)) % 2 == 1 for s in streams]
    lm = KneserNey(3).fit(streams, targets, 3, n_ids=7, first=4)
    probs = [2.0 ** -lm.bits([np.array([2, 5, 1, w])], [np.array([0, 0, 0, 1], bool)])[0][0] for w in (4, 5, 6)]
    assert abs(sum(probs) - 1) < 1e-12
    with pytest.raises(ValueError, match="outside"):
        lm.bits([np.array([2, 1])], [np.array([0, 1], bool)])


def _tiny(pattern: str, steps: int = 150) -> TransformerSettings:
    return TransformerSettings(pattern=pattern, d_model=32, layers=1, heads=2, window=32, steps=steps, batch=8,
                               lr=1e-2, seed=0, device="cpu")


@pytest.mark.parametrize("pattern", ["delay", "flat"])
def test_transformer_learns_a_periodic_stream_and_repeats_itself(pattern):
    period = np.array([0, 1, 2, 3, 2, 1])
    utts = [[np.tile(period, 12)[o:o + 60], np.tile(period[::-1], 12)[o:o + 60]] for o in range(6)]
    a = TokenTransformer([4, 4], [50.0, 50.0], _tiny(pattern)).fit(utts)
    bits = np.array(a.bits(utts[:2]))
    assert bits.sum() / (2 * 2 * 60) < 0.15, bits  # uniform would be 2 bits per token
    b = TokenTransformer([4, 4], [50.0, 50.0], _tiny(pattern)).fit(utts)
    np.testing.assert_array_equal(np.array(b.bits(utts[:2])), bits)  # deterministic on the CPU


def test_transformer_on_iid_tokens_costs_about_log2_k():
    rng = np.random.default_rng(0)
    utts = [[rng.integers(0, 8, 80)] for _ in range(20)]
    lm = TokenTransformer([8], [50.0], _tiny("delay", steps=100)).fit(utts)
    test = [[rng.integers(0, 8, 400)] for _ in range(4)]
    bits = float(np.sum(lm.bits(test)) / 1600)
    assert 2.9 < bits < 3.3, bits  # log2 8 = 3, plus what 1600 training tokens cannot pin down


def test_layouts_hold_every_token_once():
    utt = [np.array([1, 2, 3]), np.array([4, 5, 6])]
    x, y = layout(utt, [8, 8], [50.0, 50.0], "delay")
    assert y.shape == (4, 2) and sorted(y[y >= 0].tolist()) == [1, 2, 3, 4, 5, 6]
    assert (y[0, 1], y[3, 0]) == (-1, -1) and x[0].tolist() == [9, 9]  # delay padding; begin tokens
    x, y = layout([np.array([1, 2]), np.array([3, 4, 5, 6])], [8, 8], [25.0, 50.0], "flat")  # two frame rates
    assert y[:, 0].tolist() == [1, 11, 12, 2, 13, 14] and x[:, 1].tolist() == [0, 1, 1, 0, 1, 1]
    with pytest.raises(ValueError, match="one frame rate"):
        layout([np.array([1, 2]), np.array([3, 4, 5, 6])], [8, 8], [25.0, 50.0], "delay")


def test_splits_are_disjoint_by_construction():
    utts = [(f"u{i}", f"s{i % 3}") for i in range(20)]
    s = split(utts, 0.25, 0)
    assert not s.train & s.test and s.train | s.test == {u for u, _ in utts} and len(s.test) == 5
    assert split(list(reversed(utts)), 0.25, 0) == s  # order of the rows does not matter
    assert split(utts, 0.25, 1) != s
    by_speaker = split(utts, 0.34, 0, by="speaker")
    spk = dict(utts)
    assert not {spk[u] for u in by_speaker.train} & {spk[u] for u in by_speaker.test}
    with pytest.raises(AssertionError, match="both sides"):
        Split(frozenset({"a", "b"}), frozenset({"b"}))
    with pytest.raises(SplitError, match="at least 2"):
        split([("only", "")], 0.25, 0)
    assert len(split(utts[:2], 0.9, 0).train) == 1  # at least one utterance trains


def test_perturbations_and_alignment():
    assert parse("all") == PERTURBATIONS and parse("gain_up, shift_sample") == ("shift_sample", "gain_up")
    with pytest.raises(ValueError, match="unknown perturbation"):
        parse("gain")
    opts = {"shift_samples": 1, "shift_hop_fraction": 0.5, "gain_down_db": -6.0, "gain_up_db": 6.0,
            "noise_faint_snr_db": 40.0, "noise_audible_snr_db": 30.0, "resample_via_hz": 44100, "seed": 0}
    x = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    native, out = perturb(x, 16000, 24000, 75.0, PERTURBATIONS, opts, "u1")
    by = {p.name: p for p in out}
    assert len(native) == 24000 and by["shift_sample"].shift == 1 and by["shift_half_hop"].shift == 160
    assert np.array_equal(by["shift_half_hop"].wave[160:], native)
    snr = 10 * np.log10(np.mean(native**2) / np.mean((by["noise_audible"].wave - native) ** 2))
    assert abs(snr - 30) < 0.5
    again = dict((p.name, p) for p in perturb(x, 16000, 24000, 75.0, ("noise_faint",), opts, "u1")[1])
    assert np.array_equal(again["noise_faint"].wave, by["noise_faint"].wave)  # the seed is the utterance's
    assert np.allclose(by["gain_up"].wave, native * 10 ** 0.3, atol=1e-6)
    codes = np.arange(10)
    assert align(codes, 160, 320.0, 8).tolist() == list(range(8))
    assert align(codes, 640, 320.0, 8).tolist() == list(range(2, 10))
