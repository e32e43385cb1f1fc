"""ASR for every language: the transformers backend on tiny random-init checkpoints (a Whisper and a
wav2vec2-CTC model, built by ``tests/asr_checkpoints.py`` in the hub folder layout), a model per language in one run,
the exact-match rate, routing and identity, and `codecbench models` for configured ASR models.

The checkpoints have random weights: their transcripts are gibberish, so these tests check the
plumbing (loading, batching, language routing, records, identity), never recognition quality."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from codecbench.cli import main
from codecbench.config import BenchConfig, ConfigError, identity_diff
from codecbench.metrics.asr import routing
from codecbench.metrics.base import Failure, MetricInput
from codecbench.metrics.registry import create
from codecbench.pipeline.resolve import resolve
from codecbench.store import RunStore
from codecbench.types import CodecInfo, Utterance
from tests.asr_checkpoints import DEVANAGARI, build_ctc, build_mms, build_whisper

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("asr-models")
    return {"whisper": build_whisper(root / "whisper-tiny-random"), "ctc": build_ctc(root / "w2v2-ctc-hi-random")}


def _waves(lengths_s: tuple[float, ...], seed: int = 1) -> list[np.ndarray]:
    """Noise with a random envelope: random-weight models give varied (non-repeating) transcripts."""
    rng = np.random.default_rng(seed)
    out = []
    for s in lengths_s:
        n = int(s * 16000)
        env = np.interp(np.arange(n), np.linspace(0, n, 20), rng.uniform(0.05, 0.5, 20))
        out.append((rng.standard_normal(n) * env).astype(np.float32))
    return out


def test_transformers_backends_batched_equals_single(tiny_models):
    from codecbench.metrics.asr.hf_backend import TransformersBackend

    waves = _waves((1.0, 2.3, 0.7))
    for name, langs in (("whisper", ["hi", "en", "hi"]), ("ctc", ["hi", "hi", "hi"])):
        b = TransformersBackend(str(tiny_models[name]), None, "cpu", beam_size=2)
        batched = b.transcribe(waves, langs)
        single = [b.transcribe([w], [lang])[0] for w, lang in zip(waves, langs, strict=True)]
        assert batched == single, name
        assert b.kind == ("whisper" if name == "whisper" else "ctc")
    ctc = TransformersBackend(str(tiny_models["ctc"]), None, "cpu")
    assert all(set(t) <= set(DEVANAGARI) | {" "} for t in ctc.transcribe(waves, ["hi"] * 3))  # no <s>, no blanks
    whisper = TransformersBackend(str(tiny_models["whisper"]), None, "cpu")
    assert whisper.forces_language("hi") and not whisper.forces_language("ta")  # no <|ta|> token: not forced


def test_mms_loads_each_languages_adapter(tmp_path):
    from codecbench.metrics.asr.hf_backend import TransformersBackend
    from codecbench.metrics.base import MetricUnavailable

    b = TransformersBackend(str(build_mms(tmp_path / "mms-random")), None, "cpu")
    waves = _waves((1.0, 1.2, 0.8))
    hi1, ta, hi2 = b.transcribe(waves, ["hi", "ta", "hi"])
    assert hi1 and set(hi1 + hi2) <= set(DEVANAGARI) | {" "}
    assert ta and all("\u0b80" <= c <= "\u0bff" or c == " " for c in ta)  # the Tamil adapter and vocabulary
    assert b.transcribe(waves[:1], ["hi"]) == [hi1] and b.forces_language("ta")
    with pytest.raises(MetricUnavailable, match="no adapter for bn"):
        b.transcribe(waves[:1], ["bn"])


def test_old_whisper_generation_config_is_completed_from_the_tokenizer(tmp_path):
    from codecbench.metrics.asr.hf_backend import TransformersBackend

    b = TransformersBackend(str(build_whisper(tmp_path / "stale", stale=True)), None, "cpu", beam_size=1)
    assert b.forces_language("hi") and not b.forces_language("ta")
    gc = b.load()[0].generation_config
    assert set(gc.lang_to_id) == {"<|en|>", "<|hi|>"} and set(gc.task_to_id) == {"transcribe", "translate"}
    (wave,) = _waves((1.0,))
    assert len(b.transcribe([wave], ["hi"])) == 1


def test_whisper_long_form_over_30_seconds(tiny_models):
    from codecbench.metrics.asr.hf_backend import TransformersBackend

    b = TransformersBackend(str(tiny_models["whisper"]), None, "cpu", beam_size=1)
    long, short = _waves((31.0, 1.0))
    out = b.transcribe([short, long], ["hi", "hi"])
    assert len(out) == 2 and out[0] == b.transcribe([short], ["hi"])[0]


def test_ctc_decoding_merges_repeats_before_dropping_blanks(tiny_models):
    from transformers import AutoTokenizer

    from codecbench.metrics.asr.hf_backend import ctc_decode

    tok = AutoTokenizer.from_pretrained(tiny_models["ctc"])
    ka, kha, bar, blank, bos = (tok.convert_tokens_to_ids(c) for c in ("क", "ख", "|", "<pad>", "<s>"))
    assert ctc_decode(tok, [ka, ka, blank, ka, bar, bos, kha, kha]) == "कक ख"


def test_routing_infers_backends_and_rejects_bad_entries(tiny_models, tmp_path):
    t = routing.routes({"model": "base", "backend": "auto", "revision": "",
                        "per_lang": {"hi": str(tiny_models["ctc"]), "ta": {"model": "org/whisper-ta", "revision": "abc"},
                                     "mr": "Systran/faster-whisper-small", "bn": "small"}})
    assert t["*"] == routing.AsrModel("base", "faster-whisper", "main")
    assert t["hi"] == routing.AsrModel(str(tiny_models["ctc"]), "transformers", None)
    assert t["ta"] == routing.AsrModel("org/whisper-ta", "transformers", "abc")
    assert t["mr"].backend == "faster-whisper" and t["bn"].backend == "faster-whisper"
    assert routing.model_for(t, "hi-IN") == t["hi"] and routing.model_for(t, "en") == t["*"]
    assert "@abc" in t["ta"].label
    none = routing.routes({"model": "none", "per_lang": {"hi": "org/x"}})
    assert routing.model_for(none, "en") is None
    with pytest.raises(ConfigError, match="per_lang.hi"):
        routing.routes({"model": "base", "per_lang": {"hi": ["a"]}})
    with pytest.raises(ConfigError, match="quote"):
        routing.routes({"model": "base", "per_lang": {False: "org/x"}})  # YAML `no:` reads as a boolean
    with pytest.raises(ConfigError, match="not a Whisper size"):
        routing.routes({"model": "bse"})
    assert routing.iso3("hi") == "hin" and routing.iso3("ta-IN") == "tam"


def test_language_map_is_part_of_the_run_identity(tiny_models):
    def cfg(hi: str):
        return resolve(BenchConfig(codecs=["opus-6kbps"], device="cpu",
                                   metrics=[{"name": "wer", "per_lang": {"hi": hi}}]))

    a, b = cfg(str(tiny_models["ctc"])), cfg(str(tiny_models["whisper"]))
    assert identity_diff(a.identity(), b.identity()) == ["metrics.wer.per_lang.hi"]
    assert a.metrics[0].options["per_lang"] == {"hi": str(tiny_models["ctc"])}


def test_exact_match_and_records_per_language(tiny_models, tmp_path):
    m = create("wer", {"model": str(tiny_models["whisper"]), "per_lang": {"hi": str(tiny_models["ctc"])}, "beam": 1})
    assert m.unavailable_reason() is None
    m.setup("cpu", str(tmp_path))
    (wave,) = _waves((1.5,))
    codec = CodecInfo(name="same", family="test", sample_rate=16000)
    xs = [MetricInput(ref=wave, deg=w, sample_rate=16000, codec=codec, utterance=Utterance(id=f"u{i}", lang=lang, text="क ख"))
          for i, (lang, w) in enumerate((("hi", wave), ("hi", np.zeros_like(wave)), ("en", wave)))]
    values = m.compute_batch(xs)
    recs = RunStore(tmp_path).records("asr_transcripts")
    by_id = {r["utt_id"]: r for r in recs}
    assert by_id["u0"]["backend"] == "transformers" and by_id["u0"]["model_id"] == str(tiny_models["ctc"])
    assert by_id["u2"]["model_id"] == str(tiny_models["whisper"]) and by_id["u2"]["language_forced"]
    assert values[0]["asr_exact_match"] == 1.0 and values[0]["dwer"] == 0.0  # identical audio
    second = values[1]["asr_exact_match"]  # silence: a different transcript, or unreliable (empty)
    assert (isinstance(second, Failure) and second.kind == "unreliable") or \
        second == float(by_id["u1"]["exact_match"])


def _manifest(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for i, (lang, text, secs) in enumerate((("en", "a tone", 1.2), ("en", "another tone", 0.9),
                                            ("hi", "एक स्वर", 1.1), ("hi", "दूसरा स्वर", 1.4))):
        (wave,) = _waves((secs,), seed=i)
        sf.write(folder / f"{lang}{i}.wav", wave, 16000)
        entries.append({"id": f"{lang}{i}", "path": f"{lang}{i}.wav", "lang": lang, "text": text})
    p = folder / "manifest.jsonl"
    p.write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in entries) + "\n", encoding="utf-8")
    return p


def test_one_run_with_a_model_per_language(tiny_models, tmp_path, capsys):
    manifest = _manifest(tmp_path / "data")
    bench = tmp_path / "bench.yaml"
    bench.write_text(f"dataset: {manifest}\ncodecs: [opus-12kbps]\nworkers: 0\nbatch_size: 4\n"
                     f"metrics:\n  - {{name: wer, model: {tiny_models['whisper']}, beam: 2,"
                     f" per_lang: {{hi: {tiny_models['ctc']}}}}}\n", encoding="utf-8")
    out = tmp_path / "run"
    assert main(["run", "--config", str(bench), "--out", str(out), "-q"]) == 0
    meta = json.loads((out / "metrics.json").read_text())["wer"]
    assert meta["languages"]["*"] == {"model": str(tiny_models["whisper"]), "backend": "transformers", "revision": None}
    assert meta["languages"]["hi"] == {"model": str(tiny_models["ctc"]), "backend": "transformers", "revision": None}
    assert "hi: " in meta["model"] and meta["options"]["per_lang"] == {"hi": str(tiny_models["ctc"])}
    rows = RunStore(out).rows()
    assert len(rows) == 4 and all("asr_exact_match" in r for r in rows)
    for r in rows:  # a number, or a recorded reason (random weights: English gibberish is unreliable)
        assert r["wer__kind"] in ("", "unreliable") and (r["wer__kind"] != "") == bool(np.isnan(r["wer"]))
    recs = RunStore(out).records("asr_transcripts")
    assert {r["lang"]: r["model_id"] for r in recs} == {"en": str(tiny_models["whisper"]), "hi": str(tiny_models["ctc"])}
    rel = json.loads((out / "asr_reliability.json").read_text())
    assert {m["model_id"]: set(m["languages"]) for m in rel.values()} == {
        str(tiny_models["whisper"]): {"en"}, str(tiny_models["ctc"]): {"hi"}}
    # reference transcripts were cached per model; batch size 1 gives the same transcripts
    assert len({p.parent.parent.name for p in (out / "asr_cache").rglob("*.json")}) == 2
    single = tmp_path / "single"
    assert main(["run", "--config", str(out / "config.yaml"), "--batch-size", "1", "--out", str(single), "-q"]) == 0
    texts = {(r["utt_id"], r["hypothesis"], r["reference_asr"]) for r in recs}
    assert texts == {(r["utt_id"], r["hypothesis"], r["reference_asr"]) for r in RunStore(single).records("asr_transcripts")}
    # another model for one language is another run: resuming the folder with it is refused, naming the key
    capsys.readouterr()
    assert main(["run", "--config", str(out / "config.yaml"), "--out", str(out), "-q",
                 "--metric-opt", f"wer.per_lang={{hi: {tiny_models['whisper']}}}"]) == 2
    assert "metrics.wer.per_lang.hi" in capsys.readouterr().err


def test_models_lists_and_downloads_configured_asr_models(tiny_models, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    bench = tmp_path / "bench.yaml"
    bench.write_text(f"codecs: [opus-6kbps]\nmetrics:\n  - {{name: wer, model: none, per_lang: {{en: "
                     f"{tiny_models['whisper']}, hi: {tiny_models['ctc']}, ta: {tiny_models['ctc']}}}}}\n")
    assert main(["models", "--config", str(bench), "--json"]) == 0
    rows = {r["used_by"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["wer (en)"]["model"] == str(tiny_models["whisper"]) and rows["wer (en)"]["available"]
    assert rows["wer (hi, ta)"]["backend"] == "transformers" and rows["wer (hi, ta)"]["langs"] == ["hi", "ta"]
    assert main(["models", "download", "--config", str(bench)]) == 0
    out = capsys.readouterr().out
    assert str(tiny_models["whisper"]) in out and str(tiny_models["ctc"]) in out
    # a hub model that is not cached, offline: one line naming it, exit 1
    bench.write_text("codecs: [opus-6kbps]\nmetrics: [{name: wer, model: none, per_lang: {hi: someone/whisper-hi}}]\n")
    assert main(["models", "download", "--config", str(bench)]) == 1
    assert "someone/whisper-hi" in capsys.readouterr().err


def test_hub_id_loads_from_the_cache_offline_and_records_the_commit(tiny_models, tmp_path, monkeypatch):
    """A hub id at an unpinned revision resolves, offline, to the cached snapshot; the record names its commit."""
    import shutil

    import huggingface_hub.constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--someone--w2v2-hi"
    shutil.copytree(tiny_models["ctc"], repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    m = create("wer", {"model": "none", "per_lang": {"hi": "someone/w2v2-hi"}})
    assert m.info().languages["hi"] == {"model": "someone/w2v2-hi", "backend": "transformers", "revision": "main"}
    assert m.unavailable_reason() is None
    m.setup("cpu", str(tmp_path / "run"))
    (wave,) = _waves((1.0,))
    x = MetricInput(ref=wave, deg=wave, sample_rate=16000, utterance=Utterance(id="u", lang="hi", text="क"))
    (values,) = m.compute_batch([x])
    (rec,) = RunStore(tmp_path / "run").records("asr_transcripts")
    assert rec["model_id"] == "someone/w2v2-hi" and rec["revision"] == "main" and rec["commit"] == commit
    (other,) = m.compute_batch([MetricInput(ref=wave, deg=wave, sample_rate=16000,
                                            utterance=Utterance(id="v", lang="en", text="a"))])
    assert other["wer"].kind == "not_applicable" and "no ASR model for language 'en'" in other["wer"].reason
    missing = create("wer", {"model": "none", "per_lang": {"ta": "someone/not-cached"}})
    assert "someone/not-cached" in missing.unavailable_reason() and "(ASR model for ta)" in missing.unavailable_reason()
