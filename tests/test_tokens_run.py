"""Token metrics in runs: a gain-invariant quantiser gives UED 0 for gain (through the codec stage),
Opus and continuous codecs are n/a with the reason, the token LM cannot see a test utterance in training,
compare gates both (lower is better) and the report has their section."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from codecbench import audio
from codecbench.cli import main
from codecbench.codecs.base import Codec
from codecbench.codecs.registry import CodecSpec, register
from codecbench.metrics.base import MetricInput
from codecbench.metrics.corpus import Corpus
from codecbench.metrics.registry import create
from codecbench.report.compare import CompareError, compare_runs, pair_codecs
from codecbench.report.runs import Run
from codecbench.store import RunFolder
from codecbench.types import CodebookLevel, CodecInfo, Encoded, Failure, FailureKind, Utterance
from tests.helpers import speechlike

HOP = 160
ARGMAX = CodecInfo(name="test-argmax", family="test", sample_rate=16000, frame_rate=100.0,
                   codebooks=(CodebookLevel(HOP, 100.0), CodebookLevel(2, 100.0)),
                   nominal_bitrate=100.0 * (math.log2(HOP) + 1))


class ArgmaxCodec(Codec):
    """Per 10 ms frame: where its largest magnitude lies and that sample's sign. A positive gain scales
    every sample alike (float multiplication is monotonic), so these tokens ignore it; a shift moves them."""

    def encode_native(self, wave, lengths):
        n = -(-np.asarray(lengths) // HOP)
        frames = np.pad(wave, ((0, 0), (0, -wave.shape[1] % HOP))).reshape(len(wave), -1, HOP)
        idx = np.abs(frames).argmax(-1)
        sign = (np.take_along_axis(frames, idx[..., None], -1)[..., 0] >= 0).astype(np.int64)
        return Encoded([idx, sign], [n, n])

    def decode_native(self, encoded, lengths):
        idx, sign = encoded.codes
        out = np.zeros((idx.shape[0], idx.shape[1] * HOP), np.float32)
        rows, frames = np.indices(idx.shape)
        out[rows, frames * HOP + idx] = np.where(sign > 0, 0.5, -0.5)
        return out


@pytest.fixture(scope="module", autouse=True)
def _argmax_codec():
    register(CodecSpec(info=ARGMAX, load=lambda arg, device: ArgmaxCodec(ARGMAX)))


@pytest.fixture(scope="module")
def token_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tokens")
    lines = []
    for lang in ("hi", "ta"):
        for i in range(6):
            uid = f"{lang}{i}"
            audio.save(folder / f"{uid}.wav", speechlike(0.9 + 0.13 * i, 16000, seed=i + (lang == "ta") * 10), 16000)
            lines.append({"id": uid, "path": f"{uid}.wav", "lang": lang, "text": "t", "speaker": f"{lang}-{i % 2}"})
    (folder / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    out = folder / "run"
    assert main(["run", "--dataset", str(folder / "manifest.jsonl"), "--codecs", "test-argmax,opus-6kbps",
                 "--metrics", "token_stability,token_lm", "--metric-opt", "token_lm.cross_language=true",
                 "--workers", "0", "--save-audio", "none", "--out", str(out), "-q"]) == 0
    return out


def test_a_gain_invariant_quantiser_has_ued_0_for_gain_and_not_for_shifts(token_run):
    rows = RunFolder(token_run).frame()
    mine = rows[rows["codec"] == "test-argmax"]
    assert len(mine) == 12 and (mine["ued_gain_down"] == 0).all() and (mine["ued_gain_up"] == 0).all()
    assert (mine["ued_shift_sample"] > 0).all() and (mine["ued_noise_audible"] > 0).all()
    assert np.allclose(mine["ued_mean"], mine[[f"ued_{p}" for p in ("shift_sample", "shift_half_hop", "gain_down",
                       "gain_up", "noise_faint", "noise_audible", "resample")]].mean(axis=1))
    levels = pd.read_csv(token_run / "token_stability.csv")
    gain = levels[(levels["codec"] == "test-argmax") & levels["perturbation"].isin(["gain_down", "gain_up"])]
    assert len(gain) == 2 * 2 * 3 and (gain["ued"] == 0).all()  # 2 gains x 2 levels x (hi, ta, all)
    summary = pd.read_csv(token_run / "summary.csv")
    row = summary[(summary["codec"] == "test-argmax") & (summary["lang"] == "hi") & (summary["metric"] == "ued_gain_up")]
    assert row["mean"].iloc[0] == 0 and row["higher_is_better"].iloc[0] == False  # noqa: E712
    timings = json.loads((token_run / "timings.json").read_text())
    assert timings["stage_seconds"]["encoder_metrics"] > 0


def test_opus_and_continuous_codecs_are_not_applicable_with_the_reason(token_run):
    rows = RunFolder(token_run).frame()
    opus = rows[rows["codec"] == "opus-6kbps"]
    assert (opus["ued_mean__kind"] == "not_applicable").all()
    assert opus["ued_mean__failure"].str.contains("classical codec without discrete codebooks").all()
    summary = pd.read_csv(token_run / "summary.csv", keep_default_na=False)
    lm = summary[(summary["codec"] == "opus-6kbps") & (summary["metric"] == "lm_bits_per_second")]
    assert (lm["status"] == "n/a").all() and lm["note"].str.contains("classical codec").all()
    vae = CodecInfo(name="vae", family="test", sample_rate=16000, frame_rate=50.0, latent_dim=64)
    x = MetricInput(ref=np.zeros(1600, np.float32), deg=np.zeros(1600, np.float32), sample_rate=16000,
                    utterance=Utterance("u"), codec=vae, encode=lambda w, sr: [[np.zeros(5, int)] for _ in w])
    (value,) = create("token_stability").compute_batch([x])
    assert value["ued_mean"] == Failure(FailureKind.NOT_APPLICABLE, "continuous codec (latents, no discrete codes)")


def test_token_lm_rows_split_and_per_utterance_values(token_run):
    summary = pd.read_csv(token_run / "summary.csv", keep_default_na=False, na_values=[""])
    mine = summary[(summary["codec"] == "test-argmax") & summary["metric"].str.startswith(("lm_", "unigram_"))]
    assert set(mine["metric"]) == {"lm_bits_per_frame", "lm_bits_per_second", "lm_redundancy", "unigram_bits_per_frame"}
    assert set(mine["lang"]) == {"hi", "ta", "all"} and (mine["status"] == "ok").all()
    split = pd.read_csv(token_run / "token_lm_split.csv")
    assert split.groupby("lang")["split"].value_counts().to_dict() == {("hi", "train"): 4, ("hi", "test"): 2,
                                                                        ("ta", "train"): 4, ("ta", "test"): 2}
    assert split["utt_id"].is_unique
    hi = mine[mine["lang"] == "hi"].set_index("metric")
    assert hi.loc["lm_bits_per_frame", "n"] == 2 and hi.loc["lm_bits_per_frame", "higher_is_better"] == False  # noqa: E712
    assert hi.loc["lm_bits_per_frame", "mean"] == pytest.approx(hi.loc["lm_bits_per_second", "mean"] / 100)
    nominal = 100 * (math.log2(HOP) + 1)
    assert hi.loc["lm_redundancy", "mean"] == pytest.approx(1 - hi.loc["lm_bits_per_second", "mean"] / nominal)
    values = RunFolder(token_run).corpus_values("token_lm")
    test_ids = set(split.loc[split["split"] == "test", "utt_id"])
    assert set(values.loc[values["codec"] == "test-argmax", "utt_id"]) == test_ids  # test utterances only
    table = pd.read_csv(token_run / "token_lm.csv")
    cross = table[(table["train_lang"] == "hi") & (table["test_lang"] == "ta") & (table["level"] == "all")]
    assert len(cross) == 1 and cross["n_test"].iloc[0] == 2  # scored on ta's held-out split only


def _lm_corpus(tmp_path, codes: dict[str, np.ndarray], langs: dict[str, str], size: int = 64) -> Corpus:
    folder = RunFolder(tmp_path)
    for uid, c in codes.items():
        folder.save_codes("c", uid, [c])
    rows = pd.DataFrame({"codec": "c", "utt_id": list(codes), "lang": [langs[u] for u in codes], "speaker": "",
                         "status": "ok"})
    meta = {"codebooks": [{"size": size, "frame_rate": 50.0}], "frame_rate": 50.0}
    return Corpus(folder, rows, {"name": "token_lm"}, {"c": meta}, [], {})


def test_no_frame_of_a_test_utterance_is_ever_seen_in_training(tmp_path, monkeypatch):
    """Every model the aggregate trains (per language, cross-language, pooled) gets no test utterance,
    and every utterance it scores is held out. With random codes, each utterance its own, held-out
    tokens then cost log2 64 = 6 bits."""
    from codecbench.metrics.tokens.lm import TokenLM

    rng = np.random.default_rng(0)
    codes = {f"u{i}": rng.integers(0, 64, 400).astype(np.int32) for i in range(24)}  # as saved
    langs = {u: ("hi", "ta")[i % 2] for i, u in enumerate(codes)}
    calls = []
    score = TokenLM.score

    def spy(self, train, test, sizes, rates):
        calls.append(({c[0].tobytes() for c in train}, {c[0].tobytes() for c in test}))
        return score(self, train, test, sizes, rates)

    monkeypatch.setattr(TokenLM, "score", spy)
    metric = create("token_lm", {"order": 6, "cross_language": True})
    agg = metric.aggregate(_lm_corpus(tmp_path / "a", codes, langs))
    assert len(calls) == 3  # hi (scoring hi and ta), ta (scoring ta and hi), all
    test_ids = set(agg.values["utt_id"])
    held_out = {codes[u].tobytes() for u in test_ids}
    for train, test in calls:
        assert not train & test and test <= held_out and not train & held_out
    for r in agg.rows:
        if r.metric == "lm_bits_per_frame":
            assert r.n == 3 if r.lang != "all" else r.n == 6
            assert 5.9 < r.mean < 6.3, r
    # the split does not depend on the codec: a second codec's test utterances are the same
    again = metric.aggregate(_lm_corpus(tmp_path / "b", {u: (c + 1) % 64 for u, c in codes.items()}, langs))
    assert set(again.values["utt_id"]) == test_ids


def test_a_language_with_one_utterance_cannot_be_split(tmp_path):
    rng = np.random.default_rng(1)
    codes = {"a0": rng.integers(0, 64, 100), "b0": rng.integers(0, 64, 100), "b1": rng.integers(0, 64, 100)}
    agg = create("token_lm").aggregate(_lm_corpus(tmp_path, codes, {"a0": "en", "b0": "hi", "b1": "hi"}))
    en = [r for r in agg.rows if r.lang == "en"]
    assert en and all(r.status == "n/a" and "at least 2 utterances" in r.note for r in en)
    assert all(r.status == "ok" for r in agg.rows if r.lang == "hi")


def test_compare_gates_token_metrics_lower_is_better(token_run):
    base, cand = Run.open(token_run), Run.open(token_run)
    pairs = pair_codecs(base, cand, ["test-argmax"], None, None)
    out = compare_runs(base, cand, pairs, {}, {"ued_mean": 0.0, "lm_bits_per_second": 0.0})
    tested = {(r.metric, r.lang) for r in out if r.tested}
    assert {("ued_mean", "hi"), ("lm_bits_per_second", "hi"), ("lm_bits_per_second", "ta")} <= tested
    assert not any(r.regressed for r in out)
    lm = next(r for r in out if r.metric == "lm_bits_per_second" and r.lang == "hi")
    assert lm.n == 2 and not lm.higher_is_better
    with pytest.raises(CompareError, match="lower-is-better"):
        compare_runs(base, cand, pairs, {"lm_bits_per_frame": 0.1}, {})
    default = compare_runs(base, cand, pairs, {}, {})  # cost metrics are reported, never gated by default
    assert not any(r.gated for r in default if r.metric.startswith(("ued_", "lm_")))


def test_report_has_the_token_section(token_run, tmp_path):
    assert main(["report", str(token_run), "--out", str(tmp_path / "rep"), "--examples", "0"]) == 0
    md = (tmp_path / "rep" / "leaderboard.md").read_text()
    section = md.split("## Tokens for a language model", 1)[1]
    assert "gain_up" in section and "nominal kbps" in section and "UED per codebook level" in section
    assert "| ued_mean" not in md.split("## Tokens for a language model", 1)[0]  # not in the main tables
    html = (tmp_path / "rep" / "index.html").read_text()
    assert 'id="tokens"' in html and (tmp_path / "rep" / "plots" / "token_lm_rate.png").exists()


def test_pair_scoring_has_no_codec_to_re_encode_with(token_run, tmp_path):
    wav = token_run.parent / "hi0.wav"
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"id": "p0", "ref": str(wav), "deg": str(wav)}) + "\n")
    assert main(["score", str(pairs), "--out", str(tmp_path / "out"), "--metrics", "token_stability,stoi",
                 "--workers", "0", "-q"]) == 0
    (row,) = RunFolder(tmp_path / "out").rows()
    assert row["ued_mean__kind"] == "not_applicable" and "no codec to re-encode" in row["ued_mean__failure"]
    assert row["stoi"] > 0.99


def test_shards_merge_to_the_unsharded_token_figures(token_run, tmp_path):
    manifest = token_run.parent / "manifest.jsonl"
    args = ["--dataset", str(manifest), "--codecs", "test-argmax", "--metrics", "token_stability,token_lm",
            "--workers", "0", "--save-audio", "none", "-q"]
    for name, extra in (("full", []), ("s1", ["--shard", "1/2"]), ("s2", ["--shard", "2/2"])):
        assert main(["run", *args, *extra, "--out", str(tmp_path / name)]) == 0, name
    assert main(["merge", str(tmp_path / "s2"), str(tmp_path / "s1"), "--out", str(tmp_path / "merged")]) == 0

    def figures(run):
        s = pd.read_csv(run / "summary.csv")
        s = s[s["metric"].str.match(r"(ued_|lm_|unigram_)")]
        return s.sort_values(["codec", "lang", "metric"]).reset_index(drop=True)

    pd.testing.assert_frame_equal(figures(tmp_path / "merged"), figures(tmp_path / "full"))
    for name in ("token_stability.csv", "token_lm.csv", "token_lm_split.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "merged" / name), pd.read_csv(tmp_path / "full" / name))
