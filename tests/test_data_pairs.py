"""Pair lists for codec-free scoring: Kaldi wav.scp, folders, JSONL; unmatched ids listed; user
mistakes as PairsError (a CodecbenchError)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from codecbench import audio
from codecbench.data.pairs import PairsError, load_pairs, read_scp
from codecbench.errors import CodecbenchError


def _wav(path: Path) -> str:
    audio.save(path, np.zeros(160, np.float32), 16000)
    return str(path)


def test_kaldi_scp_pairs_with_text_and_langs(tmp_path):
    (tmp_path / "ref").mkdir()
    (tmp_path / "deg").mkdir()
    ref_lines, deg_lines = [], []
    for uid in ("a", "b", "c"):
        ref_lines.append(f"{uid} {_wav(tmp_path / 'ref' / (uid + '.wav'))}")
    for uid in ("b", "a", "d"):
        deg_lines.append(f"{uid}\t{_wav(tmp_path / 'deg' / (uid + '.wav'))}")
    (tmp_path / "ref" / "wav.scp").write_text("\n".join(ref_lines) + "\n\n")
    (tmp_path / "deg" / "wav.scp").write_text("\n".join(deg_lines) + "\n")
    (tmp_path / "ref" / "text").write_text("a नमस्ते दुनिया\nb hello\n")
    (tmp_path / "ref" / "utt2lang").write_text("a hi\nb en\n")
    pairs = load_pairs(tmp_path / "ref" / "wav.scp", tmp_path / "deg" / "wav.scp")
    assert [p.id for p in pairs.items] == ["a", "b"]  # reference order
    assert pairs.items[0].deg.endswith("deg/a.wav") and pairs.items[0].text == "नमस्ते दुनिया"
    assert pairs.items[1].lang == "en"
    assert pairs.unmatched_ref == ["c"] and pairs.unmatched_deg == ["d"]
    assert "1 only in the reference list: c" in pairs.unmatched_summary()
    u = pairs.items[0].utterance()
    assert u.path == pairs.items[0].ref and u.extra["deg_path"] == pairs.items[0].deg and u.lang == "hi"


def test_folders_match_by_relative_stem_and_mix_with_scp(tmp_path):
    for side in ("ref", "deg"):
        (tmp_path / side / "spk1").mkdir(parents=True)
    _wav(tmp_path / "ref" / "spk1" / "u1.wav")
    (tmp_path / "ref" / "spk1" / "u1.txt").write_text("some words\n")
    _wav(tmp_path / "ref" / "u2.wav")
    _wav(tmp_path / "deg" / "spk1" / "u1.wav")
    audio.save(tmp_path / "deg" / "u2.flac", np.zeros(160, np.float32), 16000)  # another format is fine
    pairs = load_pairs(tmp_path / "ref", tmp_path / "deg")
    assert [p.id for p in pairs.items] == ["spk1/u1", "u2"] and not pairs.unmatched_ref
    assert pairs.items[0].text == "some words" and pairs.items[1].deg.endswith("u2.flac")
    scp = tmp_path / "deg.scp"
    scp.write_text(f"u2 {tmp_path / 'deg' / 'u2.flac'}\n")
    mixed = load_pairs(tmp_path / "ref", scp)
    assert [p.id for p in mixed.items] == ["u2"] and mixed.unmatched_ref == ["spk1/u1"]


def test_jsonl_pairs_resolve_relative_paths(tmp_path):
    lines = [{"id": "x1", "ref": "r/x1.wav", "deg": "/abs/x1.wav", "lang": "ta", "text": "vanakkam", "snr": 5},
             {"id": "x2", "ref": "r/x2.wav", "deg": "d/x2.wav"}]
    f = tmp_path / "pairs.jsonl"
    f.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in lines) + "\n")
    pairs = load_pairs(f)
    a, b = pairs.items
    assert a.ref == str(tmp_path / "r" / "x1.wav") and a.deg == "/abs/x1.wav"
    assert a.lang == "ta" and a.text == "vanakkam" and a.extra == {"snr": 5}
    assert b.lang is None and b.deg == str(tmp_path / "d" / "x2.wav")


@pytest.mark.parametrize("content, match", [
    ("a\n", "expected '<utterance-id> <path>'"),
    ("a sox x.wav -t wav - |\n", "command pipe"),
    ("a foo.ark:1234\n", "archive"),
    ("a x.wav\na y.wav\n", "duplicate utterance id 'a'"),
])
def test_bad_scp_lines_are_user_errors(tmp_path, content, match):
    f = tmp_path / "wav.scp"
    f.write_text(content)
    with pytest.raises(PairsError, match=match):
        read_scp(f)


def test_other_user_mistakes(tmp_path):
    assert issubclass(PairsError, CodecbenchError)
    with pytest.raises(PairsError, match="not found"):
        load_pairs(tmp_path / "missing.scp", tmp_path / "other.scp")
    a, b = tmp_path / "a.scp", tmp_path / "b.scp"
    a.write_text("x1 /a/x1.wav\n")
    b.write_text("y1 /b/y1.wav\n")
    with pytest.raises(PairsError, match="no utterance id is in both"):
        load_pairs(a, b)
    with pytest.raises(PairsError, match="audio file"):
        load_pairs(_wav(tmp_path / "one.wav"), b)
    with pytest.raises(PairsError, match=".jsonl"):
        load_pairs(a)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "ref": "r.wav"}\n')
    with pytest.raises(PairsError, match="missing deg"):
        load_pairs(bad)
    bad.write_text("not json\n")
    with pytest.raises(PairsError, match="not JSON"):
        load_pairs(bad)
    (tmp_path / "empty").mkdir()
    with pytest.raises(PairsError, match="no audio files"):
        load_pairs(tmp_path / "empty", b)
