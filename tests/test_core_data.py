"""Dataset loaders: manifests (JSONL, CSV, JSON list as in ../shared), local corpus layouts, default set."""

from __future__ import annotations

import json
import shutil

import pytest

from codecbench import audio
from codecbench.data import DatasetError, filter_langs, load_dataset
from codecbench.data.loaders import detect_format
from tests.helpers import speechlike


def _wav(path, sr=16000, seconds=0.5):
    path.parent.mkdir(parents=True, exist_ok=True)
    audio.save(path, speechlike(seconds, sr), sr)


def test_jsonl_and_csv_manifests_keep_extra_fields(tmp_path):
    _wav(tmp_path / "a.wav")
    _wav(tmp_path / "sub" / "b.flac", sr=22050)
    (tmp_path / "m.jsonl").write_text(
        json.dumps({"id": "a", "path": "a.wav", "lang": "hi", "text": "नमस्ते", "speaker": "s1", "gender": "f"}) + "\n"
        + json.dumps({"id": "b", "path": "sub/b.flac", "lang": "ta", "text": "வணக்கம்"}) + "\n", encoding="utf-8")
    (tmp_path / "m.csv").write_text("id,path,lang,text,speaker,gender\na,a.wav,hi,नमस्ते,s1,f\nb,sub/b.flac,ta,வணக்கம்,,\n",
                                    encoding="utf-8")
    for name in ("m.jsonl", "m.csv"):
        ds = load_dataset(str(tmp_path / name))
        a, b = ds.utterances
        assert a.extra["gender"] == "f" and a.text == "नमस्ते" and a.speaker == "s1"
        assert (a.source_sr, b.source_sr) == (16000, 22050) and b.duration == pytest.approx(0.5)
        assert ds.langs == ["hi", "ta"]


def test_reads_shared_manifest_as_is(testdata):
    ds = load_dataset(str(testdata / "manifest.json"))
    assert len(filter_langs(ds, ["hi", "en"])) == 18
    assert all(u.source_sr for u in ds.utterances)
    no_lang = [u for u in ds.utterances if u.lang is None]
    assert no_lang and len(filter_langs(ds, None)) == len(ds.utterances)  # usable only unfiltered
    with pytest.raises(DatasetError, match="it has: en, hi"):
        filter_langs(ds, ["ta"])


def test_plain_folder(tmp_path):
    _wav(tmp_path / "spk1" / "x.wav")
    (tmp_path / "spk1" / "x.txt").write_text("hello there\n")
    _wav(tmp_path / "y.wav")
    ds = load_dataset(str(tmp_path))
    assert detect_format(tmp_path) == "folder"
    by_id = {u.id: u for u in ds.utterances}
    assert by_id["spk1/x"].text == "hello there" and by_id["spk1/x"].speaker == "spk1" and by_id["y"].text is None


def test_common_voice_layout(tmp_path):
    root = tmp_path / "cv" / "ta"
    _wav(root / "clips" / "common_voice_ta_1.wav")
    (root / "test.tsv").write_text("client_id\tpath\tsentence\tup_votes\tlocale\tsegment\n"
                                   "abc\tcommon_voice_ta_1.wav\tவணக்கம்\t2\tta\t\n", encoding="utf-8")
    ds = load_dataset(str(root))
    assert detect_format(root) == "commonvoice"
    (u,) = ds.utterances
    assert u.lang == "ta" and u.speaker == "abc" and u.text == "வணக்கம்" and u.extra["up_votes"] == "2"


def test_fleurs_layout(tmp_path):
    d = tmp_path / "fleurs" / "hi_in"
    _wav(d / "audio" / "test" / "123.wav")
    (d / "test.tsv").write_text("7\t123.wav\tनमस्ते, दुनिया!\tनमस्ते दुनिया\tn a m\t8000\tFEMALE\n", encoding="utf-8")
    ds = load_dataset(str(tmp_path / "fleurs"))
    (u,) = ds.utterances
    assert u.lang == "hi" and u.text == "नमस्ते, दुनिया!" and u.extra["gender"] == "FEMALE" and u.source_sr == 16000


def test_librispeech_layout(tmp_path):
    ch = tmp_path / "test-clean" / "61" / "70968"
    _wav(ch / "61-70968-0000.flac")
    (ch / "61-70968.trans.txt").write_text("61-70968-0000 HE BEGAN A CONFUSED COMPLAINT\n")
    ds = load_dataset(str(tmp_path / "test-clean"))
    (u,) = ds.utterances
    assert (u.id, u.lang, u.speaker, u.text) == ("61-70968-0000", "en", "61", "HE BEGAN A CONFUSED COMPLAINT")


def test_errors_are_clear(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        load_dataset(str(tmp_path / "nope.jsonl"))
    (tmp_path / "dup.jsonl").write_text('{"id": "a", "path": "a.wav"}\n{"id": "a", "path": "b.wav"}\n')
    with pytest.raises(DatasetError, match="duplicate"):
        load_dataset(str(tmp_path / "dup.jsonl"))
    (tmp_path / "bad.jsonl").write_text('{"id": "a", "path": "a.wav"}\nnot json\n')
    with pytest.raises(DatasetError, match="bad.jsonl:2"):
        load_dataset(str(tmp_path / "bad.jsonl"))


def test_embedded_default_set_is_deterministic(tmp_path, monkeypatch):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (scripts/install-system-deps installs it)")
    monkeypatch.setenv("CODECBENCH_CACHE", str(tmp_path / "c1"))
    first = load_dataset(None)
    monkeypatch.setenv("CODECBENCH_CACHE", str(tmp_path / "c2"))
    second = load_dataset(None)
    assert {"en", "hi", "ta"} <= set(first.langs)
    for a, b in zip(first.utterances, second.utterances, strict=True):
        assert a.id == b.id and a.text == b.text and a.source_sr == 22050
        assert open(a.path, "rb").read() == open(b.path, "rb").read()
    hi = [u for u in first.utterances if u.lang == "hi"]
    assert any("\u094d" in u.text or "\u093e" in u.text for u in hi)  # native script with vowel signs / virama
    assert len({u.speaker for u in hi}) == 2
