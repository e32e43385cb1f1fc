"""MUSHRA stimuli (anchors, loudness, webMUSHRA YAML, stratified items) and ratings post-screening."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from report_fixture import build_run, cli

from codecbench import audio
from codecbench.report.mushra import ANCHORS, lowpass
from codecbench.report.mushra_analysis import analyze, post_screen, t_interval

SR = 48000


@pytest.fixture(scope="module")
def stimuli(tmp_path_factory):
    d = tmp_path_factory.mktemp("mushra")
    run = build_run(d / "run", codecs={"codec-a": 0.0, "opus-6kbps": 0.3}, per_lang=5, save_audio=3)
    out = d / "stim"
    assert cli("mushra", str(run), "--codecs", "codec-a,opus-6kbps", "--items", "4", "--out", str(out)) == 0
    return run, out, json.loads((out / "mushra_items.json").read_text(encoding="utf-8"))


def test_items_stratified_and_deterministic(stimuli, tmp_path):
    run, _, meta = stimuli
    assert [it["lang"] for it in meta["items"]] == ["en", "en", "hi", "hi"]
    assert cli("mushra", str(run), "--codecs", "codec-a,opus-6kbps", "--items", "4", "--out", str(tmp_path)) == 0
    again = json.loads((tmp_path / "mushra_items.json").read_text(encoding="utf-8"))
    assert [i["utt_id"] for i in again["items"]] == [i["utt_id"] for i in meta["items"]]


def test_anchors_carry_no_energy_above_cutoff(stimuli):
    _, out, meta = stimuli
    for item in meta["items"]:
        for key, cutoff in ANCHORS.items():
            wave, sr = audio.load(out / item["files"][key])
            assert sr == SR
            power = np.abs(np.fft.rfft(wave.astype(np.float64))) ** 2
            freqs = np.fft.rfftfreq(len(wave), 1.0 / sr)
            above = power[freqs > cutoff].sum() / power.sum()
            assert 10 * np.log10(above + 1e-30) < -60.0, (item["id"], key)
        ref, _ = audio.load(out / item["files"]["reference"])
        power = np.abs(np.fft.rfft(ref.astype(np.float64))) ** 2
        freqs = np.fft.rfftfreq(len(ref), 1.0 / SR)
        assert power[freqs > 3500].sum() / power.sum() > 1e-5  # the reference itself has energy there (> -50 dB)


def test_lowpass_function_is_steep():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SR).astype(np.float32)
    y = lowpass(x, SR, 3500.0)
    spec = np.abs(np.fft.rfft(y.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(y), 1.0 / SR)
    assert spec[freqs > 3500].sum() / spec.sum() < 1e-9
    assert spec[freqs < 3400].sum() > 0.99 * (np.abs(np.fft.rfft(x.astype(np.float64))) ** 2)[freqs < 3400].sum()


def test_loudness_of_an_items_stimuli_within_half_lu(stimuli):
    import pyloudnorm  # measured independently of codecbench's own loudness()

    _, out, meta = stimuli
    for item in meta["items"]:
        assert set(item["files"]) == {"reference", "anchor35", "anchor70", "codec-a", "opus-6kbps"}
        values = []
        for rel in item["files"].values():
            wave, sr = audio.load(out / rel)
            assert sr == SR and audio.peak_dbfs(wave) <= -0.99
            values.append(pyloudnorm.Meter(sr).integrated_loudness(wave.astype(np.float64)))
        assert max(values) - min(values) <= 0.5, (item["id"], values)
        assert abs(np.mean(values) - (-23.0)) < 1.0 or item["clip_gain_db"] < 0


def test_config_is_valid_webmushra_yaml(stimuli):
    _, out, meta = stimuli
    cfg = yaml.safe_load((out / "mushra.yaml").read_text(encoding="utf-8"))
    assert cfg["testId"] and cfg["remoteService"] == "service/write.php"
    trials = next(p for p in cfg["pages"] if isinstance(p, list) and p[0] == "random")[1:]
    assert [t["id"] for t in trials] == [i["id"] for i in meta["items"]]
    training = cfg["pages"][1]
    assert training["id"] == "training" and training["type"] == "mushra" and training["showConditionNames"] is True
    assert meta["training"]["utt_id"] not in {i["utt_id"] for i in meta["items"]}  # not a test item
    prefix = "configs/resources/codecbench/"
    for t in trials:
        assert t["type"] == "mushra" and t["createAnchor35"] is False
        assert set(t["stimuli"]) == {"anchor35", "anchor70", "codec-a", "opus-6kbps"}
        for path in [t["reference"], *t["stimuli"].values()]:
            assert path.startswith(prefix) and (out / path[len(prefix):]).exists()
    assert cfg["pages"][-1]["type"] == "finish"


def test_unsaved_reconstruction_with_no_reencode_stops(tmp_path, capsys):
    run = build_run(tmp_path / "run", codecs={"codec-a": 0.0}, per_lang=3, save_audio=1)
    assert cli("mushra", str(run), "--codecs", "codec-a", "--items", "4", "--out", str(tmp_path / "s"),
               "--no-reencode") == 2
    assert "did not save codec-a's reconstruction" in capsys.readouterr().err
    assert cli("mushra", str(run), "--codecs", "nosuch", "--items", "2", "--out", str(tmp_path / "s")) == 2


def test_reencode_runs_the_codec(tmp_path, monkeypatch):
    from codecbench.codecs import registry
    from codecbench.codecs.base import Codec
    from codecbench.codecs.registry import CodecSpec
    from codecbench.types import CodecInfo, Encoded

    info = CodecInfo(name="codec-a", family="test", sample_rate=16000)

    class Halve(Codec):
        def encode_native(self, wave, lengths):
            return Encoded(codes=None, frames=None, state=wave)

        def decode_native(self, encoded, lengths):
            return encoded.state * 0.5

    monkeypatch.setattr(registry.CODECS, "_items", {"codec-a": CodecSpec(info=info, load=lambda arg, dev: Halve(info, "cpu"))})
    run = build_run(tmp_path / "run", codecs={"codec-a": 0.0}, per_lang=3, save_audio=0)
    out = tmp_path / "s"
    assert cli("mushra", str(run), "--codecs", "codec-a", "--items", "2", "--out", str(out)) == 0  # by default
    meta = json.loads((out / "mushra_items.json").read_text(encoding="utf-8"))
    assert all(it["reencoded"] == ["codec-a"] for it in meta["items"])


def _ratings(ref_low: dict[str, int], n_items: int = 10) -> pd.DataFrame:
    rows = []
    for listener, n_low in ref_low.items():
        for i in range(n_items):
            trial = f"{'en' if i % 2 == 0 else 'hi'}_{i:02d}"
            for stim, score in (("reference", 60 if i < n_low else 100), ("anchor35", 20), ("anchor70", 45),
                                ("codec-a", 70), ("opus-6kbps", 55)):
                rows.append({"session_test_id": "codecbench_mushra", "name": listener, "trial_id": trial,
                             "rating_stimulus": stim, "rating_score": score, "rating_time": 1000, "rating_comment": ""})
    return pd.DataFrame(rows)


def test_post_screening_on_synthetic_ratings(tmp_path):
    df = _ratings({"L1": 0, "L2": 1, "L3": 2, "L4": 5})
    df["listener"] = df["name"]
    screen = {s.listener: s for s in post_screen(df, "listener")}
    assert [screen[k].excluded for k in ("L1", "L2", "L3", "L4")] == [False, False, True, True]  # 10% ok, 20% out
    assert screen["L3"].items_ref_below == 2 and screen["L3"].items == 10
    path = tmp_path / "mushra.csv"
    df.drop(columns="listener").to_csv(path, index=False)
    items = {"items": [{"id": f"{'en' if i % 2 == 0 else 'hi'}_{i:02d}", "lang": "en" if i % 2 == 0 else "hi",
                        "stimuli": {"reference": "reference", "anchor35": "anchor35", "anchor70": "anchor70",
                                    "codec-a": "codec-a", "opus-6kbps": "opus-6kbps"}} for i in range(10)]}
    (tmp_path / "items.json").write_text(json.dumps(items))
    assert cli("mushra-analyze", str(path), "--items", str(tmp_path / "items.json"), "--out", str(tmp_path / "a")) == 0
    scores = pd.read_csv(tmp_path / "a" / "mushra_scores.csv")
    ref_all = scores[(scores.condition == "reference") & (scores.lang == "all")].iloc[0]
    assert ref_all["n_listeners"] == 2 and ref_all["n"] == 20 and ref_all["mean"] == pytest.approx(98.0)
    codec = scores[(scores.condition == "codec-a") & (scores.lang == "en")].iloc[0]
    assert codec["mean"] == 70 and codec["ci_low"] == pytest.approx(70) and codec["n"] == 10
    assert (tmp_path / "a" / "mushra_scores.png").exists() and (tmp_path / "a" / "mushra_scores.svg").exists()
    assert "L3 (2/10 items)" in (tmp_path / "a" / "mushra_scores.md").read_text(encoding="utf-8")
    _, s2 = analyze(df.assign(listener=df["name"]), None)
    assert set(s2["lang"]) == {"all"}


def test_analyze_rejects_non_webmushra_csv(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,2\n")
    assert cli("mushra-analyze", str(p)) == 2


def test_long_items_cropped_alike(tmp_path):
    run = build_run(tmp_path / "run", codecs={"codec-a": 0.0}, per_lang=2, langs=("en",), save_audio=2)
    out = tmp_path / "s"
    assert cli("mushra", str(run), "--codecs", "codec-a", "--items", "1", "--out", str(out), "--max-seconds", "0.6") == 0
    meta = json.loads((out / "mushra_items.json").read_text(encoding="utf-8"))
    lengths = {k: len(audio.load(out / rel)[0]) for k, rel in meta["items"][0]["files"].items()}
    assert set(lengths.values()) == {int(0.6 * SR)}
    tail = audio.load(out / meta["items"][0]["files"]["codec-a"])[0][-10:]
    assert np.abs(tail).max() < 1e-3  # faded out like the reference


def test_t_interval_matches_scipy():
    from scipy import stats

    rng = np.random.default_rng(3)
    for n in (2, 5, 17, 60):
        x = rng.normal(60, 15, n)
        m, lo, hi = t_interval(x)
        ref_lo, ref_hi = stats.t.interval(0.95, n - 1, loc=x.mean(), scale=stats.sem(x))
        assert m == pytest.approx(x.mean()) and lo == pytest.approx(ref_lo) and hi == pytest.approx(ref_hi)
    assert np.isnan(t_interval(np.array([50.0]))[1])


def test_training_ratings_are_not_scored(tmp_path):
    df = _ratings({"L1": 0, "L2": 0}, n_items=4)
    train = df[df["trial_id"] == df["trial_id"].iloc[0]].assign(trial_id="training", rating_score=0)
    _, scores = analyze(pd.concat([df, train]).assign(listener=lambda d: d["name"]), None)
    codec = scores[(scores.condition == "codec-a") & (scores.lang == "all")].iloc[0]
    assert codec["mean"] == 70 and codec["n"] == 8
