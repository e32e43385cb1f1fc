"""Minimal-pair ABX: DTW against a brute-force reference, hand-made triplets, the triplet design,
the summary rows and the built-in contrast set."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from codecbench.metrics.abx import OUTPUT, Abx, feature_path
from codecbench.metrics.abx_corpus import Token, make_triplets, triplet_errors
from codecbench.metrics.base import MetricInput
from codecbench.metrics.corpus import Corpus
from codecbench.metrics.dtw import cosine_distances, dtw_distances, hamming_distances
from codecbench.store import RunStore
from codecbench.types import CodecInfo, Utterance


def brute_force_dtw(a: np.ndarray, b: np.ndarray, frame_cost=cosine_distances) -> float:
    """Minimum over every monotone path of the symmetric2-weighted cost, divided by n + m (no DP)."""
    cost = frame_cost(a, b)
    n, m = cost.shape
    best = np.inf

    def walk(i: int, j: int, total: float) -> None:
        nonlocal best
        if i == n - 1 and j == m - 1:
            best = min(best, total)
            return
        if i + 1 < n and j + 1 < m:
            walk(i + 1, j + 1, total + 2 * cost[i + 1, j + 1])
        if i + 1 < n:
            walk(i + 1, j, total + cost[i + 1, j])
        if j + 1 < m:
            walk(i, j + 1, total + cost[i, j + 1])

    walk(0, 0, 2 * cost[0, 0])
    return best / (n + m)


def test_vectorised_dtw_matches_brute_force():
    rng = np.random.default_rng(1)
    pairs = [(rng.normal(size=(n, 3)), rng.normal(size=(m, 3))) for n, m in [(1, 1), (1, 4), (3, 5), (5, 3), (4, 4),
                                                                          (6, 2), (2, 6), (5, 5)]]
    got = dtw_distances(pairs, chunk=3)  # several chunks, mixed lengths padded together
    want = [brute_force_dtw(a, b) for a, b in pairs]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    a, b = pairs[2]
    assert dtw_distances([(a, b)])[0] == pytest.approx(dtw_distances([(b, a)])[0])  # symmetric
    assert dtw_distances([(a, a)])[0] == pytest.approx(0.0, abs=1e-12)
    tokens = [(rng.integers(0, 3, size=(n, 4)), rng.integers(0, 3, size=(m, 4))) for n, m in [(3, 5), (4, 2), (1, 3)]]
    np.testing.assert_allclose(dtw_distances(tokens, chunk=2, cost="hamming"),
                               [brute_force_dtw(a, b, hamming_distances) for a, b in tokens], rtol=1e-12)


def _tok(uid: str, word: str, speaker: str, pair: str = "p0", contrast: str = "c") -> Token:
    return Token(uid, "xx", word, contrast, pair, speaker)


def test_hand_made_triplets_against_brute_force():
    # two 2-d "phones": word "ta" moves from direction e1 to e2, word "da" from e1 to -e2 (+ speaker tilt)
    e1, e2 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    feats = {
        "ta_s1": np.array([e1, e1 + e2, e2]), "ta_s2": np.array([e1, e2, e2, e2 + 0.1 * e1]),
        "da_s1": np.array([e1, e1 - e2, -e2]), "da_s2": np.array([e1 + 0.2 * e2, -e2, -e2]),
        "ta_s3": np.array([e1 - 0.1 * e2, e1 - e2, -e2, -e2]),  # a "ta" that sounds like "da": errs
    }
    toks = [_tok(k, k.split("_")[0], k.split("_")[1]) for k in feats]
    triplets = make_triplets(toks)
    got = triplet_errors(triplets, feats)
    want = []
    for a, b, x in triplets:
        d_ax, d_bx = brute_force_dtw(feats[a.id], feats[x.id]), brute_force_dtw(feats[b.id], feats[x.id])
        want.append(1.0 if d_bx < d_ax else 0.5 if d_bx == d_ax else 0.0)
    np.testing.assert_array_equal(got, want)
    assert 0 < got.mean() < 0.5  # the odd token errs, the rest do not
    # a tie counts one half: identical A and B
    same = {"a": np.array([e1, e2]), "b": np.array([e1, e2]), "x": np.array([e2, e1])}
    tie = make_triplets([_tok("a", "w1", "s1"), _tok("b", "w2", "s1"), _tok("x", "w1", "s2")])
    assert [(a.id, b.id, x.id) for a, b, x in tie] == [("a", "b", "x")]
    assert triplet_errors(tie, same).tolist() == [0.5]


def test_triplet_design():
    toks = [_tok(f"{w}_{s}_{k}", w, s) for w in ("w1", "w2") for s in ("s1", "s2", "s3") for k in range(2)]
    toks.append(_tok("lonely", "w3", "s1", pair="p1"))  # a pair with one word forms no triplets
    triplets = make_triplets(toks)
    # per direction: A 6 tokens x X 4 (other speakers) x B 2 (A's speaker) = 48; two directions
    assert len(triplets) == 96
    for a, b, x in triplets:
        assert a.word == x.word != b.word and a.pair == b.pair == x.pair
        assert a.speaker == b.speaker != x.speaker


def _sine_word(f1: float, f2: float, sr: int = 16000) -> np.ndarray:
    t = np.arange(int(0.4 * sr)) / sr
    env = np.sin(np.pi * t / t[-1])
    glide = np.where(t < 0.2, f1, f2)
    return (0.3 * env * np.sin(2 * np.pi * np.cumsum(glide) / sr)).astype(np.float32)


def test_summary_rows_from_feature_files(tmp_path):
    """The per-item compute writes features; the summary forms triplets and names the contrast class."""
    metric = Abx()
    metric.setup("cpu", str(tmp_path))
    info = CodecInfo(name="fake", family="test", sample_rate=16000)
    dataset, rows = [], []
    words = {"ta": (400.0, 1200.0), "da": (400.0, 2500.0)}
    rng = np.random.default_rng(0)
    for word, (f1, f2) in words.items():
        for spk, shift in (("s1", 1.0), ("s2", 1.15), ("s3", 0.9)):
            uid = f"{word}_{spk}"
            ref = _sine_word(f1 * shift, f2 * shift)
            deg = ref + 0.01 * rng.normal(size=len(ref)).astype(np.float32)
            u = Utterance(uid, lang="hi", speaker=spk, extra={"word": word, "contrast": "retroflex_dental", "pair": "p"})
            values = metric.compute(MetricInput(ref=ref, deg=deg, sample_rate=16000, utterance=u, codec=info))
            codes = RunStore(tmp_path).codes_path("fake", uid)  # as the pipeline saves them: one array per level
            codes.parent.mkdir(parents=True, exist_ok=True)
            second = 7 if word == "ta" else 9
            np.savez(codes, np.array([1] * 5 + [2] * 5), np.array([3] * 5 + [second] * 5))
            assert values[OUTPUT] >= 0 and feature_path(tmp_path, "fake", uid).exists()
            dataset.append({"id": uid, "lang": "hi", "speaker": spk, "extra": u.extra})
            rows.append({"codec": "fake", "utt_id": uid, "lang": "hi", OUTPUT: values[OUTPUT]})
    meta = metric.info().to_dict()
    codecs = {"fake": {"family": "test", "codebooks": [{"size": 16, "frame_rate": 25.0}] * 2}}
    agg = metric.aggregate(Corpus(RunStore(tmp_path), pd.DataFrame(rows), meta, codecs, dataset))
    out = pd.DataFrame([r.to_dict() for r in agg.rows])
    by = out.set_index(["lang", "metric"])
    assert by.loc[("hi", "abx_floor:retroflex_dental"), "mean"] == 0.0
    assert by.loc[("hi", "abx_error:retroflex_dental"), "n"] == 2 * 3 * 2 * 1  # directions x A x X x B
    assert by.loc[("hi", "abx_loss:retroflex_dental"), "status"] == "ok"
    assert ("all", "abx_error:all") in by.index
    assert by.loc[("hi", "abx_token_error:retroflex_dental"), "mean"] == 0.0  # the words' second halves differ
    tri = agg.files["abx_triplets.parquet"]  # written by the run folder with the summary
    assert len(tri) == 12 and set(tri["contrast"]) == {"retroflex_dental"}


def test_contrast_word_list_and_tokens():
    from codecbench.data.contrasts import entries, parse_spec, word_list
    from codecbench.data.loaders import DatasetError

    spec = word_list()
    assert parse_spec("contrasts:hi,ta") == ["hi", "ta"] and set(parse_spec("contrasts")) == {"en", "hi", "ta"}
    with pytest.raises(DatasetError, match="no built-in contrast set for xx"):
        parse_spec("contrasts:xx")
    assert {"retroflex_dental", "aspirated_unaspirated", "voiced_voiceless", "short_long_vowel",
            "nasalised"} <= set(spec["langs"]["hi"])
    assert {"lateral_retroflex_alveolar", "zha_lateral", "short_long_vowel"} <= set(spec["langs"]["ta"])
    recs = entries(spec, "ta")
    per_word = pd.Series([r["word"] for r in recs]).value_counts()
    assert per_word.min() >= 4
    assert len({r["id"] for r in recs}) == len(recs)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_espeak_pronounces_each_pair_differently():
    """A pair espeak-ng says identically could never be told apart: every pair must differ in phonemes."""
    import subprocess

    from codecbench.data.contrasts import word_list

    for lang, classes in word_list()["langs"].items():
        for contrast, pairs in classes.items():
            for a, b, _ in pairs:
                ipa = [subprocess.run(["espeak-ng", "-q", "--ipa", "-v", lang, w], capture_output=True, text=True,
                                      check=True).stdout.strip() for w in (a, b)]
                assert ipa[0] != ipa[1], f"{lang}/{contrast}: {a} and {b} are both spoken {ipa[0]}"


@pytest.fixture(scope="module")
def contrast_run(tmp_path_factory):
    """A real run: the first en pair (16 tokens) through Opus 6 kbps."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    from codecbench.config import BenchConfig
    from codecbench.pipeline import run

    tmp = tmp_path_factory.mktemp("abx")
    mp = pytest.MonkeyPatch()
    mp.setenv("CODECBENCH_CACHE", str(tmp / "cache"))
    try:
        cfg = BenchConfig(codecs=["opus-6kbps"], dataset="contrasts:en", metrics=["abx"], limit=16, workers=0,
                        save_audio="none")
        yield run(cfg, out=tmp / "run", progress=False)
    finally:
        mp.undo()


def test_run_on_contrast_set_writes_contrast_rows(contrast_run):
    summary = pd.read_csv(contrast_run / "summary.csv")
    en = summary[summary["lang"] == "en"].set_index("metric")
    assert en.loc["abx_error:voiced_voiceless", "status"] == "ok"
    assert en.loc["abx_error:voiced_voiceless", "n"] == 2 * 8 * 6 * 2
    assert en.loc["abx_floor:voiced_voiceless", "mean"] < 0.5
    assert np.isfinite(en.loc["abx_loss:voiced_voiceless", "ci_low"])


def test_report_shows_contrast_table(contrast_run, tmp_path):
    pytest.importorskip("matplotlib")
    from codecbench.report.leaderboard import build_report

    page = build_report([str(contrast_run)], tmp_path / "report", examples=0).read_text(encoding="utf-8")
    assert 'id="contrasts"' in page and "voiced_voiceless" in page and "original (floor)" in page
    assert (tmp_path / "report" / "plots" / "abx_contrasts_en.png").exists()
    main_table = page.split('id="contrasts"')[0]
    assert "abx_error:" not in main_table  # corpus rows are not leaderboard columns
    assert "voiced_voiceless" in (tmp_path / "report" / "leaderboard.md").read_text(encoding="utf-8")


def test_compare_gates_on_contrast_loss(contrast_run, tmp_path):
    import argparse

    from codecbench.report.compare_cli import register

    worse = tmp_path / "worse"
    shutil.copytree(contrast_run, worse)
    tri = pd.read_parquet(worse / "abx_triplets.parquet")
    tri["err_codec"] = 1.0  # the candidate confuses every pair
    tri.to_parquet(worse / "abx_triplets.parquet", index=False)
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())

    def compare(cand, gate):
        args = parser.parse_args(["compare", str(contrast_run), str(cand), "--max-rise", gate,
                                  "--markdown", str(tmp_path / "gate.md")])
        return args.func(args), (tmp_path / "gate.md").read_text(encoding="utf-8")

    rc, md = compare(contrast_run, "abx_loss:voiced_voiceless=0.05")
    assert rc == 0 and "abx_loss:voiced_voiceless" in md
    rc, md = compare(worse, "abx_loss:all=0.05")
    assert rc == 1 and "contrast loss rose" in md
    rc, _ = compare(worse, "abx_loss:no_such_class=0.05")
    assert rc == 2
