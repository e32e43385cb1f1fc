"""Issue 11: bad commands. Each is exit status 2, one line on stderr, no traceback, and (where the
mistake is in what was asked) no run folder left behind.

Commands still failing today are ``xfail(strict=True)`` with what is missing: when the run pipeline
validates them, the test XPASSes and fails, and the mark comes off. Commands that would otherwise
start real work meet a stub in place of the local executor's ``run`` (``stub``), so a missing check
fails fast instead of running a benchmark. Not covered: a full disk (needs a small filesystem).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import soundfile as sf

from codecbench.cli import main
from codecbench.store import RunStore
from tests.helpers import speechlike

CHECKPOINT = Path(__file__).resolve().parents[1] / "codecbench" / "checkpoints" / "ours-rvq"
VALIDATION = "numeric/option validation belongs to the config resolution of the run pipeline rebuild (part 7)"


@dataclass
class Case:
    id: str
    argv: Callable[[Path], list[str]]
    setup: Callable[[Path], None] | None = None
    stub: bool = False  # replace the runner: the command must be refused before any work
    no_folder: bool = False  # --out must not exist afterwards
    xfail: str | None = None
    marks: list = field(default_factory=list)


def _run(d: Path, *extra: str) -> list[str]:
    return ["run", "--dataset", str(d / "good.jsonl"), "--codecs", "opus-6kbps", "--metrics", "si_sdr",
            "--out", str(d / "out"), "--workers", "0", "--quiet", *extra]


def _bad_checkpoint(change: Callable[[dict], object]) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        shutil.copytree(CHECKPOINT, d / "ckpt")
        meta = json.loads((d / "ckpt" / "config.json").read_text())
        text = change(meta)
        (d / "ckpt" / "config.json").write_text(text if isinstance(text, str) else json.dumps(meta))
    return setup


def _damaged_rows(content: bytes) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        run = d / "damaged"
        run.mkdir()
        (run / "config.json").write_text(json.dumps({"run_id": "damaged"}))
        (run / "metrics.json").write_text("{}")
        row = {"run_id": "damaged", "codec": "a", "utt_id": "u", "lang": "en", "speaker": "", "duration": 1.0,
               "source_sr": 16000, "batch_size": 1, "status": "ok", "error": "", "computed_at": "", "audio": ""}
        (run / "rows.jsonl").write_bytes(json.dumps(row).encode() + b"\n" + content)
    return setup


def _locked(d: Path) -> None:
    store = RunStore(d / "out")
    store.dir.mkdir()
    store.lock()
    _HELD.append(store)


_HELD: list[RunStore] = []

CASES = [
    Case("score-missing-file", lambda d: ["score", str(d / "nope.wav"), str(d / "good.wav")]),
    Case("score-corrupt-file", lambda d: ["score", str(d / "corrupt.wav"), str(d / "good.wav")]),
    Case("score-fifo", lambda d: ["score", str(d / "fifo.wav"), str(d / "good.wav")]),
    Case("unknown-codec", lambda d: [*_run(d)[:4], "no-such-codec", *_run(d)[5:]], no_folder=True),
    Case("codecs-empty", lambda d: _run(d, "--codecs", ""), stub=True, no_folder=True),
    Case("metrics-comma", lambda d: _run(d, "--metrics", ","), stub=True, no_folder=True),
    Case("batch-size-0", lambda d: _run(d, "--batch-size", "0"), stub=True, no_folder=True),
    Case("limit-negative", lambda d: _run(d, "--limit", "-1"), stub=True, no_folder=True),
    Case("max-batch-seconds-nan", lambda d: _run(d, "--max-batch-seconds", "nan"), stub=True, no_folder=True),
    Case("workers-negative", lambda d: _run(d, "--workers", "-3"), stub=True, no_folder=True),
    Case("device-bogus", lambda d: _run(d, "--device", "bogus"), stub=True, no_folder=True),
    Case("device-cuda-without-cuda", lambda d: _run(d, "--device", "cuda"), stub=True, no_folder=True),
    Case("save-audio-abc-folder-exists", lambda d: _run(d, "--save-audio", "abc"), setup=lambda d: (d / "out").mkdir(),
         stub=True),
    Case("out-is-a-file", lambda d: _run(d)[:-5] + ["--out", str(d / "good.wav"), "--workers", "0", "--quiet"]),
    Case("checkpoint-not-json", lambda d: [*_run(d)[:4], f"ours-rvq:{d / 'ckpt'}", *_run(d)[5:]],
         setup=_bad_checkpoint(lambda m: "{not json"), no_folder=True),
    Case("checkpoint-huge-model", lambda d: [*_run(d)[:4], f"ours-rvq:{d / 'ckpt'}", *_run(d)[5:]],
         setup=_bad_checkpoint(lambda m: m["model"].update(dim=8192, mlp_ratio=16, decoder_blocks=64)),
         no_folder=True),
    Case("checkpoint-wrong-type", lambda d: [*_run(d)[:4], f"ours-rvq:{d / 'ckpt'}", *_run(d)[5:]],
         setup=_bad_checkpoint(lambda m: m["model"].update(fsq_levels="abc")), no_folder=True),
    Case("checkpoint-shape-mismatch", lambda d: [*_run(d)[:4], f"ours-rvq:{d / 'ckpt'}", *_run(d)[5:]],
         setup=_bad_checkpoint(lambda m: m["model"].update(n_quantizers=20)), no_folder=True),
    Case("run-folder-locked", lambda d: _run(d), setup=_locked),
    Case("run-folder-config-corrupt", lambda d: _run(d), setup=lambda d: ((d / "out").mkdir(),
                                                                           (d / "out" / "config.json").write_text("{"))),
    Case("rows-invalid-utf8", lambda d: ["report", str(d / "damaged"), "--out", str(d / "rep")],
         setup=_damaged_rows(b'{"codec": "\xff\xfe"}\n')),
    Case("rows-non-object-line", lambda d: ["report", str(d / "damaged"), "--out", str(d / "rep")],
         setup=_damaged_rows(b"[1, 2]\n")),
    Case("report-config-corrupt", lambda d: ["report", str(d / "damaged"), "--out", str(d / "rep")],
         setup=lambda d: (_damaged_rows(b"")(d), (d / "damaged" / "config.json").write_text('{"run_id": '))),
]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    sf.write(str(tmp_path / "good.wav"), speechlike(1.0, 16000), 16000)
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(range(256)))
    os.mkfifo(tmp_path / "fifo.wav")
    (tmp_path / "good.jsonl").write_text(json.dumps({"id": "u1", "path": str(tmp_path / "good.wav"), "lang": "en"}) + "\n")
    return tmp_path


def _reached_run(*args, **kwargs):
    raise AssertionError("the command reached the run: it was not refused up front")


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=c.xfail)]
                                               if c.xfail else []) for c in CASES])
def test_bad_command_is_one_line_exit_2(case: Case, folder: Path, capsys, monkeypatch):
    if case.setup:
        case.setup(folder)
    if case.stub:
        monkeypatch.setattr("codecbench.pipeline.local.LocalExecutor.run", _reached_run)
    try:
        code = main(case.argv(folder))
    except SystemExit as exc:  # argparse
        code = exc.code
    finally:
        while _HELD:
            _HELD.pop().close()
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.strip()]
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    if case.no_folder:
        assert not (folder / "out").exists(), "a refused command left its run folder behind"


def test_locked_folder_names_the_holder(folder: Path, capsys):
    _locked(folder)
    try:
        assert main(_run(folder)) == 2
    finally:
        _HELD.pop().close()
    err = capsys.readouterr().err
    assert f"pid {os.getpid()}" in err

