"""Issue 25 part 5: every malformed manifest or pair-list line is a one-line error naming the file and
line; BOMs are dropped; fields are type-checked (``id: 0`` stays "0"; numeric text and speakers are
text). The cases are ``hostile_inputs.manifest_cases`` / ``pair_list_cases``."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from codecbench.cli import main
from codecbench.data.loaders import load_dataset
from codecbench.data.pairs import load_pairs
from codecbench.errors import CodecbenchError
from tests.hostile_inputs import manifest_cases, pair_list_cases

WAV = "/nonexistent/a.wav"  # manifests are read without opening their audio (probe records a missing file)


def _load(kind: str, path):
    if kind == "pairs":
        pairs = load_pairs(path) if path.suffix == ".jsonl" else load_pairs(path, path)
        return {i.id: {"text": i.text, "lang": i.lang} for i in pairs.items}
    return {u.id: {"text": u.text, "lang": u.lang, "speaker": u.speaker} for u in load_dataset(str(path)).utterances}


CASES = [("manifest", c) for c in manifest_cases(WAV)] + [("pairs", c) for c in pair_list_cases(WAV)]


@pytest.mark.parametrize("kind, case", [pytest.param(k, c, id=c.id) for k, c in CASES])
def test_each_manifest_case(tmp_path, kind, case):
    path = tmp_path / case.name
    path.write_bytes(case.content)
    if case.error is None:
        got = _load(kind, path)
        for uid, want in case.check.items():
            assert uid in got, (uid, list(got))
            for key, value in want.items():
                assert got[uid][key] == value, (uid, key, got[uid])
        return
    with pytest.raises(CodecbenchError) as exc:
        _load(kind, path)
    msg = str(exc.value)
    assert case.error.lower() in msg.lower() and "\n" not in msg, msg
    assert str(path) in msg, msg
    if case.line is not None:
        assert f"{path}:{case.line}:" in msg, msg


def test_a_bad_manifest_through_the_cli_is_one_line_and_no_folder(tmp_path, capsys):
    sf.write(str(tmp_path / "a.wav"), np.zeros(1600, np.float32), 16000)
    (tmp_path / "m.jsonl").write_text('{"id": "a", "path": "a.wav"}\n[1, 2]\n')
    assert main(["run", "--dataset", str(tmp_path / "m.jsonl"), "--codecs", "opus-6kbps", "--metrics", "si_sdr",
                 "--out", str(tmp_path / "out"), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"codecbench: error: {tmp_path / 'm.jsonl'}:2: expected a JSON object with id, path, lang, got list [1, 2]"
    assert not (tmp_path / "out").exists()


def test_csv_with_a_bom_keeps_its_id_column_and_quoted_newlines_keep_line_numbers(tmp_path):
    (tmp_path / "m.csv").write_bytes(b'\xef\xbb\xbfid,path,text\nc1,a.wav,"two\nlines"\nc2,b.wav,ok,surplus\n')
    with pytest.raises(CodecbenchError, match=r"m\.csv:4: more cells than the header's 3 columns"):
        load_dataset(str(tmp_path / "m.csv"))
    (tmp_path / "m.csv").write_bytes(b'\xef\xbb\xbfid,path,text\nc1,a.wav,"two\nlines"\n')
    (u,) = load_dataset(str(tmp_path / "m.csv")).utterances
    assert u.id == "c1" and u.text == "two\nlines"


def test_utf16_and_transcripts_in_latin1_name_the_file(tmp_path):
    (tmp_path / "m.jsonl").write_bytes('{"id": "a", "path": "a.wav"}\n'.encode("utf-16"))
    with pytest.raises(CodecbenchError, match="UTF-16 text; save it as UTF-8"):
        load_dataset(str(tmp_path / "m.jsonl"))
    folder = tmp_path / "corpus"
    folder.mkdir()
    sf.write(str(folder / "x.wav"), np.zeros(1600, np.float32), 16000)
    (folder / "x.txt").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(CodecbenchError, match=r"x\.txt:1: not UTF-8 \(byte 0xe9 at column 4\)"):
        load_dataset(str(folder))
