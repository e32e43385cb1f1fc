"""Paper protocols: every shipped protocol validates offline, bad ones are refused with the reason, a run
under a protocol (tiny random models, synthetic LibriSpeech-layout audio, a fixture of published values)
ends with the comparison table, the table renders from a run folder, and `models download --config`
attempts everything a protocol needs. Also the whisper-english normaliser and the trained-language note."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from codecbench.config import ConfigError
from codecbench.protocol import spec
from codecbench.protocol.table import compare, render_markdown, render_text
from tests.cli_fixture import cli
from tests.paper_checkpoints import build_hubert_ctc, build_utmos, librispeech, write_spelling

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "tiny-protocol.yaml"
LLASA = {  # codecbench issue 26's values of Table 1 (arXiv 2502.04128)
    "dac-16k": [2.00, 0.95, 4.01, 4.15, 0.95, 4.00], "encodec-24k-6kbps": [2.15, 0.94, 2.77, 3.18, 0.89, 3.09],
    "encodec-24k-1.5kbps": [4.90, 0.85, 1.56, 1.94, 0.60, 1.58], "mimi-8cb": [2.96, 0.91, 2.25, 2.80, 0.73, 3.56],
    "reference-16k": [1.96, 1.00, 4.64, 4.55, 1.00, 4.09]}


@pytest.mark.parametrize("path", sorted((ROOT / "configs" / "protocols").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_protocol_validates_offline(path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    p = spec.load(str(path))
    spec.validate(p)
    assert p.dataset["utterances"] >= 1 and all(r.checked for r in p.rows if r.published)


def test_llasa_protocol_holds_the_papers_values_and_marks_what_was_not_checked():
    p = spec.load("llasa-table1")
    assert p.dataset["utterances"] == 2620 and p.dataset["format"] == "librispeech"
    cols = [c.name for c in p.columns]
    assert cols == ["WER", "STOI", "PESQ-WB", "PESQ-NB", "SPK-SIM", "UTMOS"]
    by_codec = {r.codec: r for r in p.rows}
    for codec, values in LLASA.items():
        assert [by_codec[codec].published[c] for c in cols] == values, codec
    assert sorted(by_codec["reference-16k"].unverified) == ["PESQ-NB", "PESQ-WB", "SPK-SIM", "STOI"]
    wer = next(m for m in p.metrics if m.name == "wer")
    assert wer.options["model"] == "facebook/hubert-large-ls960-ft" and wer.options["normalizer"] == "whisper-english"
    assert p.column("WER").metric == "wer_corpus" and p.column("WER").scale == 100


@pytest.mark.parametrize("change, message", [
    (lambda d: d["columns"].update(X={"metric": "nope"}), "no metric output"),
    (lambda d: d["columns"].update(X={"metric": "dnsmos_ovrl"}), "does not run"),
    (lambda d: d["rows"][0].update(codec="no-such-codec"), "unknown codec"),
    (lambda d: d["rows"][0]["published"].update(STOI="high"), "must be a number"),
    (lambda d: d["rows"][0]["published"].update(NOPE=1.0), "unknown column"),
    (lambda d: d["rows"][1].pop("checked"), "how the published values were checked"),
    (lambda d: d["rows"][1].update(unverified=["WER"]), "has no published value"),
    (lambda d: d.update(resampling="sinc"), "soxr-vhq"),
    (lambda d: d["source"].pop("table"), "source.table"),
])
def test_invalid_protocols_are_refused_with_the_reason(change, message):
    import yaml

    data = yaml.safe_load(FIXTURE.read_text())
    change(data)
    with pytest.raises(ConfigError, match=message):
        spec.validate(spec.from_dict(data, "fixture"))


def _protocol_file(tmp_path: Path) -> tuple[Path, Path]:
    models = tmp_path / "models"
    build_hubert_ctc(models / "hubert")
    build_utmos(models / "utmos")
    write_spelling(models / "normalizer.json")
    proto = tmp_path / "tiny.yaml"
    proto.write_text(FIXTURE.read_text().replace("@MODELS@", str(models)))
    return proto, models


def test_a_run_under_a_protocol_ends_with_ours_vs_published(tmp_path, capsys, monkeypatch):
    proto, _ = _protocol_file(tmp_path)
    ds = librispeech(tmp_path / "ls", ["HE REALISED THE COLOUR", "UH HELLO WORLD", "TEN DOLLARS"])
    with pytest.raises(ConfigError, match="give the tiny LibriSpeech folder"):
        spec.load(str(proto)).to_config()
    assert cli("run", "--protocol", proto, "--metrics", "stoi", "-q") == 2  # the protocol fixes the metrics
    out = tmp_path / "run"
    monkeypatch.setenv("CODECBENCH_TEST_TINY_LIBRISPEECH", str(ds))
    assert cli("run", "--protocol", proto, "--out", out, "--workers", "1", "--device", "cpu") == 0
    err = capsys.readouterr().err
    assert "A tiny protocol (test fixture)" in err and "published in CI" in err
    md = (out / "protocol.md").read_text()
    assert (out / "protocol.yaml").read_text() == proto.read_text()
    lines = {tuple(c.strip() for c in line.strip("|").split("|")[:2]): line for line in md.splitlines() if "|" in line}
    assert lines[("Ground Truth", "STOI")].rstrip(" |").endswith("yes")  # 1.000 [1.000, 1.000] vs 1.00
    assert lines[("Ground Truth", "PESQ-WB")].rstrip(" |").endswith("yes")  # 4.644 vs 4.64 (rounding)
    assert "9.99 (unverified)" in lines[("Ground Truth", "UTMOS")] and lines[("Ground Truth", "UTMOS")].rstrip(" |").endswith("no")
    assert lines[("Opus 6 kbps", "STOI")].rstrip(" |").endswith("no")
    assert "[" in lines[("Ground Truth", "WER")]  # the corpus WER has a bootstrap CI
    recs = [json.loads(x) for x in (out / "asr_transcripts.jsonl").read_text().splitlines()]
    assert {r["normalizer"] for r in recs} == {"whisper-english"}
    meta = json.loads((out / "metrics.json").read_text())
    assert meta["wer"]["options"]["normalizer"] == "whisper-english" and "normalizer whisper-english" in meta["wer"]["mode"]
    assert cli("protocol", "table", out, "--markdown") == 0
    assert capsys.readouterr().out == md


def _run_folder(tmp_path: Path, n: int = 40) -> Path:
    """A finished run folder by hand: summary.csv, metrics.json and ASR records of two codecs."""
    run = tmp_path / "run"
    run.mkdir()
    rows = [{"codec": "reference-16k", "lang": "all", "metric": "stoi", "n": n, "mean": 1.0, "ci_low": 1.0,
             "ci_high": 1.0, "status": "ok", "note": ""},
            {"codec": "opus-6kbps", "lang": "all", "metric": "stoi", "n": n, "mean": 0.95, "ci_low": 0.94,
             "ci_high": 0.96, "status": "ok", "note": ""},
            {"codec": "opus-6kbps", "lang": "all", "metric": "pesq_wb", "n": 0, "mean": np.nan, "ci_low": np.nan,
             "ci_high": np.nan, "status": "unavailable", "note": "pesq missing"},
            {"codec": "opus-6kbps", "lang": "all", "metric": "wer_corpus", "n": n, "mean": 0.1, "ci_low": np.nan,
             "ci_high": np.nan, "status": "ok", "note": ""}]
    pd.DataFrame(rows).to_csv(run / "summary.csv", index=False)
    (run / "metrics.json").write_text(json.dumps({"stoi": {"options": {}}, "pesq_wb": {"options": {}},
                                                  "wer": {"options": {"normalizer": "script"}}}))
    rng = np.random.default_rng(0)
    recs = [{"codec": "opus-6kbps", "utt_id": f"u{i}", "wer_counts": {"word_errors": int(e), "words": 10,
                                                                      "char_errors": 0, "chars": 40}}
            for i, e in enumerate(rng.integers(0, 3, n))]
    (run / "asr_transcripts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    return run


def test_the_table_renders_from_a_run_folder_and_a_fixture_of_published_values(tmp_path):
    import yaml

    data = yaml.safe_load(FIXTURE.read_text())
    data["metrics"][0] = {"name": "wer", "normalizer": "whisper-english"}
    data["rows"][1]["published"] = {"STOI": 0.965, "PESQ-WB": 3.0, "WER": 10.0}
    data["columns"]["STOI"]["decimals"] = 3
    cmp = compare(_run_folder(tmp_path), spec.from_dict(data, "fixture"))
    cells = {(c.row, c.column): c for c in cmp.cells}
    stoi = cells[("Opus 6 kbps", "STOI")]
    assert stoi.ours == pytest.approx(0.95) and stoi.ci == (0.94, 0.96) and stoi.diff == pytest.approx(-0.015)
    assert stoi.in_ci(3) is False and stoi.in_ci(2) is True  # 0.965 printed with 2 decimals stands for 0.96..0.97
    wer = cells[("Opus 6 kbps", "WER")]
    assert wer.ours == pytest.approx(10.0) and wer.ci[0] < 10.0 < wer.ci[1] and wer.in_ci(1)
    assert cells[("Opus 6 kbps", "PESQ-WB")].status == "unavailable" and cells[("Opus 6 kbps", "PESQ-WB")].ours is None
    assert any("wer.normalizer was 'script'" in w for w in cmp.warnings)
    assert any("utmos" in w for w in cmp.warnings)  # the run has no utmos
    text, md = render_text(cmp), render_markdown(cmp)
    assert "| Opus 6 kbps | STOI | 0.9500 [0.9400, 0.9600] | 0.965 | -0.0150 | no |" in md
    assert "unavailable" in text and text.count("\n") > len(cmp.cells)


def test_fewer_utterances_than_the_paper_are_flagged(tmp_path):
    import yaml

    data = yaml.safe_load(FIXTURE.read_text())
    data["dataset"]["utterances"] = 2620
    cmp = compare(_run_folder(tmp_path), spec.from_dict(data, "fixture"))
    assert any("40 utterances scored, the paper scored 2620" in w for w in cmp.warnings)


def test_models_download_config_attempts_everything_a_protocol_needs(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    monkeypatch.setenv("CODECBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CODECBENCH_WAVLM_ECAPA_MODEL", raising=False)
    path = ROOT / "configs" / "protocols" / "llasa-table1.yaml"
    assert cli("models", "download", "--config", path) == 1
    err = capsys.readouterr().err
    for needle in ("facebook/hubert-large-ls960-ft", "normalizer.json of openai/whisper-large-v3",
                   "wavlm_large_finetune.pth", "utmos22_strong", "descript/dac_16khz", "facebook/encodec_24khz",
                   "kyutai/mimi", "LibriSpeech test-clean, 2620 utterances", "test-clean.tar.gz"):
        assert needle in err, needle
    assert err.count("descript/dac_16khz") == 1  # dac-16k and dac-16k-2cb share their weights
    assert cli("models", "--config", path) == 0
    out = capsys.readouterr().out
    assert "spk_sim_wavlm_ecapa" in out and "reference-16k" in out and "mimi-8cb" in out


def test_whisper_english_normalizer(tmp_path, monkeypatch):
    from codecbench.metrics.registry import create

    spelling = write_spelling(tmp_path / "normalizer.json")
    m = create("wer", {"normalizer": "whisper-english", "normalizer_source": str(spelling)})
    assert m.normalize("Mr. Smith, uh, realise the COLOUR cost $10!", "en") == "mister smith realize the color cost $10"
    assert m.normalize("नमस्ते, दुनिया।", "hi") == "नमस्ते दुनिया"  # other languages: script-preserving
    assert create("wer").normalize("Mr. Smith!", "en") == "mr smith"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    model = build_hubert_ctc(tmp_path / "hubert")
    reason = create("wer", {"normalizer": "whisper-english", "model": str(model)}).unavailable_reason()
    assert "normalizer.json of openai/whisper-large-v3" in reason


def test_a_model_trained_on_english_notes_other_languages():
    from codecbench.summary import markdown, summarize

    rows = pd.DataFrame({"codec": ["c"] * 4, "lang": ["en", "en", "hi", "hi"], "utmos": [3.0, 3.2, 2.5, 2.7],
                         "utmos__failure": [""] * 4, "utmos__kind": [""] * 4})
    meta = {"utmos": {"name": "utmos", "outputs": [{"name": "utmos", "higher_is_better": True, "unit": "MOS"}],
                      "trained_languages": ["en"]}}
    s = summarize(rows, meta, {})
    notes = dict(zip(s["lang"], s["note"], strict=True))
    assert notes["en"] == "" and "not on hi" in notes["hi"] and "not on hi" in notes["all"]
    assert s["mean"].notna().all()  # kept, not dropped
    md = markdown(s, [], meta, {}, "r")
    assert "note: utmos: model trained on en only, not on hi" in md


def test_reference_codec_is_the_input_itself():
    from codecbench.codecs.registry import load_codec
    from codecbench.metrics.base import MetricInput
    from codecbench.metrics.bitrate import Bitrate
    from codecbench.types import Utterance

    codec = load_codec("reference-16k", "cpu")
    w = np.random.default_rng(0).standard_normal((2, 1600)).astype(np.float32)
    w[1, 1000:] = 0
    rec = codec.reconstruct(w, np.array([1600, 1000]), 16000)
    assert np.array_equal(rec.wave, w) and rec.codes is None and rec.bits is None
    x = MetricInput(ref=w[0], deg=rec.item(0), sample_rate=16000, utterance=Utterance(id="u"), codec=codec.info)
    vals = Bitrate().compute(x)
    assert all(v.kind == "not_applicable" for v in vals.values())


def test_paper_models_are_named_model_specs():
    from codecbench.models import all_models

    specs = all_models()
    assert specs["hubert-large-ls960-ft"].hub_id == "facebook/hubert-large-ls960-ft"
    assert specs["whisper-large-v3-hf"].hub_id == "openai/whisper-large-v3"
    assert specs["wavlm-base-plus-sv"].used_by == ("spk_sim_wavlm",)
    assert specs["utmos22-strong"].used_by == ("utmos",)
