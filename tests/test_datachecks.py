"""Data checks: each reference's effective bandwidth and level per row and per language, warnings for
wideband metrics and 16 kHz+ codecs on band-limited references and for transparent MUSHRA anchors,
a flag on rows scored by a model trained on another language, and mushra-analyze without listeners.

Bandwidth and level are checked on signals whose answer is known by construction: white noise
low-passed at a known frequency (the bandwidth lies within one smoothing width, 250 Hz, of the
cut-off), sines of known amplitude (RMS level 20 log10(A / sqrt 2)), and speech with pauses (the
active level lies above the RMS level, and matches the RMS of the active part)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from report_fixture import build_run, cli

from codecbench import audio
from codecbench.metrics.reference import SMOOTH_HZ, active_level, effective_bandwidth

SR = 16000


def _noise(seconds: float = 2.0, seed: int = 0, sr: int = SR) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.1, int(seconds * sr)).astype(np.float32)


def _lowpass(x: np.ndarray, cutoff: float, sr: int = SR) -> np.ndarray:
    from codecbench.report.mushra import lowpass

    return lowpass(x, sr, cutoff)


@pytest.mark.parametrize("cutoff", [3400.0, 5000.0, 7000.0])
def test_bandwidth_of_band_limited_noise_is_its_cut_off(cutoff):
    bw = effective_bandwidth(_lowpass(_noise(), cutoff), SR)
    assert abs(bw - cutoff) <= SMOOTH_HZ, bw
    assert effective_bandwidth(_noise(), SR) >= SR / 2 - SMOOTH_HZ  # white noise fills the band


def test_narrowband_speech_is_told_from_wideband(testdata):
    wave, sr = audio.load(testdata / "hi" / "hi_00.wav")  # a wideband clip of the shipped set
    narrow = audio.resample(audio.resample(wave, sr, 8000), 8000, sr)  # telephone band, stored at 16 kHz
    assert effective_bandwidth(wave, sr) > 6400 and effective_bandwidth(narrow, sr) < 4100


def test_levels_of_sines_and_of_speech_with_pauses():
    t = np.arange(SR) / SR
    for amp in (0.5, 0.05):
        sine = (amp * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        want = 20 * np.log10(amp / np.sqrt(2))
        assert audio.rms_dbfs(sine) == pytest.approx(want, abs=0.01)
        assert active_level(sine, SR) == pytest.approx(want, abs=0.01)  # no pause: active = RMS
    talk = np.concatenate([sine, np.zeros(SR, np.float32), sine])  # one third silence
    assert audio.rms_dbfs(talk) == pytest.approx(want + 10 * np.log10(2 / 3), abs=0.01)
    assert active_level(talk, SR) == pytest.approx(want, abs=0.05)


def _run_with_refs(tmp_path, name: str, waves: list[np.ndarray], metrics: str, codecs: str = "opus-6kbps"):
    folder = tmp_path / f"{name}-data"
    folder.mkdir()
    lines = []
    for i, w in enumerate(waves):
        audio.save(folder / f"u{i}.wav", w, SR)
        lines.append(json.dumps({"id": f"u{i}", "path": f"u{i}.wav", "lang": "hi", "text": "x"}))
    (folder / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / name
    assert cli("run", "--codecs", codecs, "--dataset", str(folder / "manifest.jsonl"), "--metrics", metrics,
               "--workers", "0", "--save-audio", "none", "--out", str(out), "-q") == 0
    return out


def _speechlike(seed: int) -> np.ndarray:
    """Harmonics with a syllable envelope and a noise floor: a reference the signal gate accepts."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(1.5 * SR)) / SR
    f0 = 110 + 40 * rng.random()
    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 70) if f0 * k < SR / 2)
    x = x * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)) + 0.02 * rng.standard_normal(len(t))
    return (0.2 * x / np.max(np.abs(x))).astype(np.float32)


def test_run_stores_data_checks_per_row_and_language_and_warns(tmp_path, capsys):
    narrow = [_lowpass(_speechlike(i), 3700.0) for i in range(4)]
    out = _run_with_refs(tmp_path, "narrow", narrow, "pesq_wb")  # --metrics does not turn the checks off
    err = capsys.readouterr().err
    rows = pd.read_parquet(out / "utterances.parquet")
    assert rows["ref_bandwidth_hz"].between(3400, 3950).all() and rows["ref_active_dbfs"].notna().all()
    summary = pd.read_csv(out / "summary.csv")
    assert {"ref_bandwidth_hz", "ref_active_dbfs", "ref_rms_dbfs"} <= set(summary["metric"])
    checks = json.loads((out / "data_checks.json").read_text())
    assert checks["references"]["hi"]["n"] == 4 and checks["references"]["hi"]["ref_bandwidth_hz"]["median"] < 4000
    assert any("hi: 4 of 4 references have an effective bandwidth below 5.6 kHz" in w and "pesq_wb" in w
               for w in checks["warnings"])
    assert any("16 kHz+ codecs (opus-6kbps)" in w for w in checks["warnings"])
    assert "codecbench: warning: hi: 4 of 4 references" in err  # in the run output, even with -q
    md = (out / "summary.md").read_text(encoding="utf-8")
    assert "## Data checks" in md and "⚠️ hi: 4 of 4 references" in md
    assert "ref_bandwidth_hz" not in md.split("## hi", 1)[1]  # not a codec column
    wide = _run_with_refs(tmp_path, "wide", [_speechlike(i) for i in range(4)], "pesq_wb")
    assert json.loads((wide / "data_checks.json").read_text())["warnings"] == []


def test_report_and_compare_repeat_the_warnings(tmp_path):
    narrow = [_lowpass(_speechlike(i), 3700.0) for i in range(4)]
    out = _run_with_refs(tmp_path, "narrow", narrow, "stoi")
    assert cli("report", str(out), "--out", str(tmp_path / "rep"), "--no-plots", "--examples", "0") == 0
    page = (tmp_path / "rep" / "index.html").read_text(encoding="utf-8")
    assert 'id="data-checks"' in page and "16 kHz+ codecs (opus-6kbps)" in page
    assert "ref_bandwidth_hz" not in page.split('id="provenance"')[0]  # no leaderboard column
    md = tmp_path / "cmp.md"
    assert cli("compare", str(out), str(out), "--max-drop", "stoi=0.01", "--markdown", str(md)) == 0
    assert "**Data checks:** hi: 4 of 4 references" in md.read_text(encoding="utf-8")


def test_rows_scored_outside_a_models_training_languages_are_flagged():
    from codecbench.pipeline.stages import language_flags

    flags = language_flags("clipped: 3 samples", "hi", ("dnsmos", "pesq_wb"))
    assert flags == "clipped: 3 samples; dnsmos: model trained on en only, not on hi"
    assert language_flags(flags, "hi", ("dnsmos",)) == flags  # never repeated (resume)
    assert language_flags("", "en-IN", ("dnsmos",)) == ""


def test_language_notes_in_the_data_checks_and_summary():
    from codecbench.datachecks import language_notes
    from codecbench.metrics.registry import get_metric
    from codecbench.summary import summarize

    assert get_metric("dnsmos").info().trained_languages == ("en",)  # declared, as UTMOS's
    meta = {"dnsmos": {"name": "dnsmos", "outputs": [{"name": "dnsmos_ovrl"}], "trained_languages": ["en"],
                       "unavailable": None}}
    rows = pd.DataFrame({"codec": "c", "utt_id": ["a", "b"], "lang": ["hi", "en"], "dnsmos_ovrl": [3.1, 3.2],
                         "dnsmos_ovrl__failure": ["", ""], "dnsmos_ovrl__kind": ["", ""]})
    notes = language_notes(rows, meta)
    assert len(notes) == 1 and notes[0].startswith("hi: dnsmos (dnsmos_ovrl) scored 1 rows") and "en speech" in notes[0]
    summary = summarize(rows, meta, {}).set_index("lang")["note"]
    assert "trained on en only, not on hi" in summary["hi"] and not summary["en"] and "not on hi" in summary["all"]


def test_mushra_warns_about_transparent_anchors(tmp_path, capsys):
    run = build_run(tmp_path / "run", codecs={"codec-a": 0.0}, per_lang=3, langs=("en",), save_audio=3)
    out = tmp_path / "s"
    assert cli("mushra", str(run), "--codecs", "codec-a", "--items", "2", "--out", str(out)) == 0
    err = capsys.readouterr().err
    meta = json.loads((out / "mushra_items.json").read_text(encoding="utf-8"))
    # 16 kHz references at 48 kHz: nothing above 8 kHz, so the 7 kHz anchor removes almost nothing
    a70 = meta["items"][0]["anchor_check"]["anchors"]["anchor70"]
    assert a70["near_transparent"] and meta["items"][0]["anchor_check"]["ref_bandwidth_hz"] < 8750
    assert any(w.startswith("MUSHRA anchor anchor70 (7 kHz low-pass) is (near-)transparent on 2 of 2 items")
               for w in meta["warnings"])
    assert "warning: MUSHRA anchor anchor70" in err
    assert not meta["items"][0]["anchor_check"]["anchors"]["anchor35"]["near_transparent"]  # the fixture is wideband


def test_anchor_check_on_full_band_and_narrow_band_references():
    from codecbench.datachecks import anchor_check
    from codecbench.report.mushra import ANCHORS, lowpass

    full = _noise(1.0, sr=48000)
    narrow = lowpass(full, 48000, 3600.0)
    for ref, transparent in ((full, set()), (narrow, {"anchor35", "anchor70"})):
        res = anchor_check(ref, 48000, {k: lowpass(ref, 48000, c) for k, c in ANCHORS.items()}, ANCHORS)
        assert {k for k, a in res["anchors"].items() if a["near_transparent"]} == transparent, res


def test_mushra_analyze_without_any_listener_kept_is_an_error(tmp_path, capsys):
    rows = []
    for listener in ("L1", "L2"):
        for i in range(4):
            for stim, score in (("reference", 50), ("anchor35", 20), ("codec-a", 70)):
                rows.append({"session_test_id": "t", "name": listener, "trial_id": f"en_{i:02d}",
                             "rating_stimulus": stim, "rating_score": score, "rating_time": 1, "rating_comment": ""})
    path = tmp_path / "mushra.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    assert cli("mushra-analyze", str(path), "--out", str(tmp_path / "a")) == 1
    err = capsys.readouterr().err
    assert "no listener kept: all 2 listener(s) were excluded by post-screening" in err and "L1 4/4" in err
    assert not (tmp_path / "a" / "mushra_scores.csv").exists()


def test_resuming_a_run_without_data_checks_fills_them_without_the_codec(tmp_path):
    """A run folder from before the data checks: resuming computes ref_* for every row and never runs
    the codec again (the checks read only the reference)."""
    from dataclasses import replace

    from helpers import MULAW_INFO, mulaw_spec

    from codecbench.codecs.registry import CodecSpec, register

    calls = []

    class Counting(type(mulaw_spec().load(None, "cpu"))):
        def encode_native(self, wave, lengths):
            calls.append(len(lengths))
            return super().encode_native(wave, lengths)

    info = replace(MULAW_INFO, name="test-count")
    register(CodecSpec(info=info, load=lambda arg, device: Counting(info)))
    out = _run_with_refs(tmp_path, "old", [_speechlike(i) for i in range(3)], "si_sdr", codecs="test-count")
    assert calls
    rows = [json.loads(x) for x in (out / "rows.jsonl").read_text().splitlines()]
    for r in rows:  # as an older codecbench wrote them
        for k in [k for k in r if k.startswith("ref_")]:
            del r[k]
    (out / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (out / "utterances.parquet").unlink()
    calls.clear()
    assert cli("run", "--codecs", "test-count", "--dataset", str(tmp_path / "old-data" / "manifest.jsonl"),
               "--metrics", "si_sdr", "--workers", "0", "--save-audio", "none", "--out", str(out), "-q") == 0
    assert calls == []
    resumed = pd.read_parquet(out / "utterances.parquet")
    assert len(resumed) == 3 and resumed["ref_bandwidth_hz"].notna().all() and resumed["si_sdr"].notna().all()


def test_band_warning_without_a_language_has_no_empty_prefix():
    """A pair list without languages (``score REF.scp DEG.scp``): the warning starts with its count."""
    from codecbench.datachecks import band_warnings

    rows = pd.DataFrame({"utt_id": ["a", "b"], "codec": ["deg", "deg"], "lang": ["", ""],
                         "ref_bandwidth_hz": [3700.0, 3800.0], "pesq_wb": [2.0, 2.1]})
    meta = {"pesq_wb": {"band_hz": 7000.0, "outputs": [{"name": "pesq_wb"}]}}
    warnings = band_warnings(rows, meta, {})
    assert warnings and warnings[0].startswith("2 of 2 references have an effective bandwidth below 5.6 kHz"), warnings
