"""Issue 25's hostile corpus, built in a test's folder: audio edge cases for the one input gate, bad
manifests, and hostile checkpoint folders (in-house and pretrained layouts).

Each builder writes its files and returns the cases with what each must give, so the tests (and a
measurement against an older checkout) read one list.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from tests.helpers import speechlike

SR = 16000
ROOT = Path(__file__).resolve().parents[1]
INHOUSE = ROOT / "codecbench" / "checkpoints" / "ours-rvq"


# -- audio edge cases ----------------------------------------------------------------------------
@dataclass
class AudioCase:
    id: str
    path: str
    expect: str  # "fail": the row fails with ``value`` in its reason; "flag": scored, ``value`` in flags; "score"
    value: str = ""


def _write(path: Path, wave: np.ndarray, sr: int, **kw) -> str:
    sf.write(str(path), wave, sr, **kw)
    return str(path)


def _truncated_wav(path: Path, wave: np.ndarray) -> str:
    """A 16-bit WAV whose data chunk claims twice the frames the file holds (a cut copy)."""
    sf.write(str(path), wave, SR, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    at = data.find(b"data")
    (n,) = struct.unpack("<I", data[at + 4: at + 8])
    data[at + 4: at + 8] = struct.pack("<I", 2 * n)
    data[4:8] = struct.pack("<I", len(data) - 8 + n)
    path.write_bytes(bytes(data))
    return str(path)


AUDIO_CASE_IDS = ("control", "dc-only", "click", "short-0.05s", "truncated-wav", "one-silent-channel", "opposite-phase",
                  "rate-1k", "rate-4k", "symlink-loop", "nan", "m4a")


def audio_cases(folder: Path) -> list[AudioCase]:
    """Every audio kind of issue 25 part 1, and a control; all 16 kHz speech-like unless stated."""
    folder.mkdir(parents=True, exist_ok=True)
    s = speechlike(2.0, SR, seed=3)
    cases = [AudioCase("control", _write(folder / "control.wav", s, SR), "score")]

    def add(uid: str, path: str, expect: str, value: str = "") -> None:
        cases.append(AudioCase(uid, path, expect, value))

    add("dc-only", _write(folder / "dc.wav", np.full(2 * SR, 0.5, np.float32), SR), "fail", "DC only")
    click = np.zeros(2 * SR, np.float32)
    click[SR] = 0.9
    add("click", _write(folder / "click.wav", click, SR), "fail", "no signal")
    add("short-0.05s", _write(folder / "short.wav", s[: SR // 20], SR), "fail", "too short")
    add("truncated-wav", _truncated_wav(folder / "truncated.wav", s), "fail", "truncated")
    add("one-silent-channel", _write(folder / "half.wav", np.stack([s, np.zeros_like(s)], axis=1), SR), "flag",
        "channel 2 of 2 is silent")
    add("opposite-phase", _write(folder / "antiphase.wav", np.stack([s, -s], axis=1), SR, subtype="FLOAT"), "fail",
        "cancel")
    for rate in (1000, 4000):
        t = np.arange(2 * rate) / rate
        tone = (0.3 * np.sin(2 * np.pi * 0.2 * rate * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
        add(f"rate-{rate // 1000}k", _write(folder / f"r{rate}.wav", tone, rate), "fail", f"sample rate {rate} Hz")
    os.symlink(folder / "loop-b.wav", folder / "loop-a.wav")
    os.symlink(folder / "loop-a.wav", folder / "loop-b.wav")
    add("symlink-loop", str(folder / "loop-a.wav"), "fail", "symlink loop")
    nan = s.copy()
    nan[100] = np.nan
    add("nan", _write(folder / "nan.wav", nan, SR, subtype="FLOAT"), "fail", "NaN or Inf")
    m4a = folder / "speech.m4a"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(folder / "control.wav"), "-c:a", "aac",
                    "-b:a", "96k", str(m4a)], check=True, timeout=120)
    add("m4a", str(m4a), "score")
    return cases


# -- manifests -------------------------------------------------------------------------------------
@dataclass
class ManifestCase:
    id: str
    name: str  # file name (its suffix picks the reader)
    content: bytes
    error: str | None = None  # a substring of the one-line error; None: it must load
    line: int | None = None  # the line the error must name
    check: dict = field(default_factory=dict)  # utterance id -> {field: value} when it loads


def _jsonl(*recs) -> bytes:
    return "".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in recs).encode()


def manifest_cases(wav: str) -> list[ManifestCase]:
    """Malformed and odd-but-valid manifests (every path points at ``wav``)."""
    ok = {"id": "a", "path": wav, "lang": "en"}
    bom = b"\xef\xbb\xbf"
    return [
        ManifestCase("jsonl-list-line", "m.jsonl", _jsonl(ok, "[1, 2]"), "expected a JSON object", 2),
        ManifestCase("jsonl-number-line", "m.jsonl", _jsonl(ok, "42"), "expected a JSON object", 2),
        ManifestCase("jsonl-string-line", "m.jsonl", _jsonl(ok, '"a.wav"'), "expected a JSON object", 2),
        ManifestCase("jsonl-not-json", "m.jsonl", _jsonl(ok, "{oops"), "not JSON", 2),
        ManifestCase("jsonl-latin1", "m.jsonl", _jsonl(ok) + '{"id": "é", "path": "x.wav"}\n'.encode("latin-1"),
                     "not UTF-8", 2),
        ManifestCase("jsonl-bom", "m.jsonl", bom + _jsonl(ok), check={"a": {"lang": "en"}}),
        ManifestCase("jsonl-path-number", "m.jsonl", _jsonl(ok, {"id": "b", "path": 123}), "path", 2),
        ManifestCase("jsonl-path-list", "m.jsonl", _jsonl(ok, {"id": "b", "path": ["x.wav"]}), "path", 2),
        ManifestCase("jsonl-no-path", "m.jsonl", _jsonl(ok, {"id": "b"}), "no 'path'", 2),
        ManifestCase("jsonl-lang-list", "m.jsonl", _jsonl(ok, {"id": "b", "path": wav, "lang": ["hi", "en"]}),
                     "lang", 2),
        ManifestCase("jsonl-lang-object", "m.jsonl", _jsonl(ok, {"id": "b", "path": wav, "lang": {"x": 1}}), "lang", 2),
        ManifestCase("jsonl-text-number", "m.jsonl", _jsonl({"id": "b", "path": wav, "lang": "en", "text": 12345}),
                     check={"b": {"text": "12345"}}),
        ManifestCase("jsonl-text-list", "m.jsonl", _jsonl(ok, {"id": "b", "path": wav, "text": ["x"]}), "text", 2),
        ManifestCase("jsonl-id-zero", "m.jsonl", _jsonl({"id": 0, "path": wav, "lang": "en"}), check={"0": {"lang": "en"}}),
        ManifestCase("jsonl-id-float", "m.jsonl", _jsonl(ok, {"id": 1.5, "path": wav}), "id", 2),
        ManifestCase("jsonl-id-bool", "m.jsonl", _jsonl(ok, {"id": True, "path": wav}), "id", 2),
        ManifestCase("jsonl-id-list", "m.jsonl", _jsonl(ok, {"id": ["a"], "path": wav}), "id", 2),
        ManifestCase("jsonl-speaker-number", "m.jsonl", _jsonl({"id": "b", "path": wav, "speaker": 17}),
                     check={"b": {"speaker": "17"}}),
        ManifestCase("jsonl-duplicate-id", "m.jsonl", _jsonl(ok, ok), "duplicate"),
        ManifestCase("jsonl-empty", "m.jsonl", b"\n\n", "no utterances"),
        ManifestCase("json-bom", "m.json", bom + json.dumps([ok]).encode(), check={"a": {"lang": "en"}}),
        ManifestCase("json-latin1", "m.json", json.dumps([ok], ensure_ascii=False).replace("en", "é").encode("latin-1"),
                     "not UTF-8", 1),
        ManifestCase("json-not-a-list", "m.json", b'"hello"', "expected a JSON list"),
        ManifestCase("json-entry-not-object", "m.json", json.dumps([ok, 5]).encode(), "entry 2"),
        ManifestCase("json-broken", "m.json", b'[{"id": "a",\n "path": }]', "not JSON", 2),
        ManifestCase("csv-bom", "m.csv", bom + f"id,path,lang\nc1,{wav},en\n".encode(), check={"c1": {"lang": "en"}}),
        ManifestCase("csv-latin1", "m.csv", f"id,path,lang\nc1,{wav},en\nc2,{wav},\xe9\n".encode("latin-1"),
                     "not UTF-8", 3),
        ManifestCase("csv-no-path-column", "m.csv", b"id,file_name\nc1,a.wav\n", "no 'path'", 2),
        ManifestCase("csv-extra-cells", "m.csv", f"id,path\nc1,{wav},surplus\n".encode(), "more cells", 2),
        ManifestCase("tsv-bom", "m.tsv", bom + f"id\tpath\tlang\nt1\t{wav}\ten\n".encode(), check={"t1": {"lang": "en"}}),
    ]


def pair_list_cases(wav: str) -> list[ManifestCase]:
    """Malformed pair lists (JSONL of id/ref/deg; Kaldi wav.scp)."""
    ok = {"id": "a", "ref": wav, "deg": wav}
    bom = b"\xef\xbb\xbf"
    return [
        ManifestCase("pairs-list-line", "p.jsonl", _jsonl(ok, "[1]"), "expected an object", 2),
        ManifestCase("pairs-latin1", "p.jsonl", _jsonl(ok) + '{"id": "é", "ref": "a", "deg": "b"}\n'.encode("latin-1"),
                     "not UTF-8", 2),
        ManifestCase("pairs-bom", "p.jsonl", bom + _jsonl(ok), check={"a": {}}),
        ManifestCase("pairs-ref-number", "p.jsonl", _jsonl(ok, {"id": "b", "ref": 123, "deg": wav}), "ref", 2),
        ManifestCase("pairs-lang-list", "p.jsonl", _jsonl(ok, {"id": "b", "ref": wav, "deg": wav, "lang": ["hi"]}),
                     "lang", 2),
        ManifestCase("pairs-text-number", "p.jsonl", _jsonl({"id": "b", "ref": wav, "deg": wav, "text": 12345}),
                     check={"b": {"text": "12345"}}),
        ManifestCase("pairs-id-zero", "p.jsonl", _jsonl({"id": 0, "ref": wav, "deg": wav}), check={"0": {}}),
        ManifestCase("scp-bom", "ref.scp", bom + f"u1 {wav}\n".encode(), check={"u1": {}}),
        ManifestCase("scp-latin1", "ref.scp", f"u1 {wav}\nu\xe9 {wav}\n".encode("latin-1"), "not UTF-8", 2),
    ]


# -- hostile checkpoint folders --------------------------------------------------------------------
@dataclass
class CheckpointCase:
    id: str
    folder: Path
    codec: str  # the --codecs name, NAME:FOLDER
    error: str  # a substring of the one-line error


def _copy_inhouse(folder: Path) -> Path:
    shutil.copytree(INHOUSE, folder)
    return folder


def _model_update(folder: Path, **model) -> None:
    meta = json.loads((folder / "config.json").read_text())
    meta["model"].update(model)
    (folder / "config.json").write_text(json.dumps(meta))


def _safetensors(path: Path, header: dict | bytes, data: bytes = b"", n: int | None = None) -> None:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw) if n is None else n) + raw + data)


def _real_header(path: Path) -> tuple[dict, bytes]:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8: 8 + n]), raw[8 + n:]


INHOUSE_CASE_IDS = ("model-fifo", "model-dev-zero", "model-folder", "config-fifo", "config-dev-zero", "config-folder",
                    "config-sparse-5GB", "header-length-beyond-file", "header-not-json", "header-a-list",
                    "header-offsets-beyond-data", "header-size-not-shape", "header-dtype-unknown",
                    "header-negative-shape", "header-overlapping", "stft-hop-1-nfft-16384", "frame-hop-1",
                    "nfft-below-hop", "phase-iters-huge")
PRETRAINED_CASE_IDS = ("pre-model-fifo", "pre-model-dev-zero", "pre-config-fifo", "pre-config-dev-zero",
                       "pre-config-sparse-5GB", "pre-config-not-json", "pre-header-beyond-file",
                       "pre-header-offsets-beyond-data")


def inhouse_checkpoint_cases(root: Path) -> list[CheckpointCase]:
    """In-house checkpoint folders (``ours-rvq:FOLDER``) that must each fail fast with one line."""
    cases: list[CheckpointCase] = []

    def case(uid: str, error: str) -> Path:
        folder = _copy_inhouse(root / uid)
        cases.append(CheckpointCase(uid, folder, f"ours-rvq:{folder}", error))
        return folder

    _not_regular_files(case, "", folders=True)
    f = case("config-sparse-5GB", "at most")
    with open(f / "config.json", "r+b") as fh:  # a sparse file: 5 GB by its size, nothing on disk
        fh.truncate(5 << 30)
    header, data = _real_header(INHOUSE / "model.safetensors")
    f = case("header-length-beyond-file", "not a safetensors file")
    _safetensors(f / "model.safetensors", header, data, n=1 << 40)
    f = case("header-not-json", "not valid JSON")
    _safetensors(f / "model.safetensors", b"{not json" + b" " * 7, data)
    f = case("header-a-list", "not an object")
    _safetensors(f / "model.safetensors", [1, 2], data)
    name = next(k for k in header if k != "__metadata__")
    lies = {
        "header-offsets-beyond-data": lambda t: t.update(data_offsets=[0, len(data) + 10**9]),
        "header-size-not-shape": lambda t: t.update(data_offsets=[t["data_offsets"][0], t["data_offsets"][0] + 2]),
        "header-dtype-unknown": lambda t: t.update(dtype="F128"),
        "header-negative-shape": lambda t: t.update(shape=[-1]),
    }
    for uid, lie in lies.items():
        f = case(uid, "safetensors header")
        bad = json.loads(json.dumps(header))
        lie(bad[name])
        _safetensors(f / "model.safetensors", bad, data)
    f = case("header-overlapping", "safetensors header")
    bad = json.loads(json.dumps(header))
    first, second = [k for k in bad if k != "__metadata__"][:2]
    bad[second]["data_offsets"] = bad[first]["data_offsets"]
    bad[second]["shape"], bad[second]["dtype"] = bad[first]["shape"], bad[first]["dtype"]
    _safetensors(f / "model.safetensors", bad, data)
    f = case("stft-hop-1-nfft-16384", "memory")
    _model_update(f, stft_hop=1, n_fft=16384, frame_hop=16)
    f = case("frame-hop-1", "frame rate")
    _model_update(f, stft_hop=1, frame_hop=1, n_fft=16)
    f = case("nfft-below-hop", "n_fft")
    _model_update(f, n_fft=64, stft_hop=160)
    f = case("phase-iters-huge", "phase_iters")
    _model_update(f, phase_iters=10**9)
    return cases


def _not_regular_files(case: Callable[[str, str], Path], prefix: str, folders: bool = False) -> None:
    """Cases whose weights or config is a FIFO or a link to /dev/zero (reading either would hang), and
    with ``folders`` a folder."""
    for name in ("model.safetensors", "config.json"):
        stem = name.split(".")[0]
        f = case(f"{prefix}{stem}-fifo", "not a regular file")
        (f / name).unlink()
        os.mkfifo(f / name)
        f = case(f"{prefix}{stem}-dev-zero", "not a regular file")
        (f / name).unlink()
        os.symlink("/dev/zero", f / name)
        if folders:
            f = case(f"{prefix}{stem}-folder", "not a regular file")
            (f / name).unlink()
            (f / name).mkdir()


def pretrained_checkpoint_cases(root: Path) -> list[CheckpointCase]:
    """Pretrained (hub layout) folders given as ``encodec-24k-6kbps:FOLDER`` that must fail fast."""
    from codecbench.codecs._testing import build_checkpoint

    good = build_checkpoint("encodec-24k", root / "good")
    cases: list[CheckpointCase] = []

    def case(uid: str, error: str) -> Path:
        folder = root / uid
        shutil.copytree(good, folder)
        cases.append(CheckpointCase(uid, folder, f"encodec-24k-6kbps:{folder}", error))
        return folder

    _not_regular_files(case, "pre-")
    f = case("pre-config-sparse-5GB", "at most")
    with open(f / "config.json", "r+b") as fh:
        fh.truncate(5 << 30)
    f = case("pre-config-not-json", "not valid JSON")
    (f / "config.json").write_text("{oops")
    header, data = _real_header(good / "model.safetensors")
    f = case("pre-header-beyond-file", "not a safetensors file")
    _safetensors(f / "model.safetensors", header, data, n=1 << 40)
    f = case("pre-header-offsets-beyond-data", "safetensors header")
    bad = json.loads(json.dumps(header))
    name = next(k for k in bad if k != "__metadata__")
    bad[name]["data_offsets"] = [0, len(data) + 10**9]
    _safetensors(f / "model.safetensors", bad, data)
    return cases
