"""Issue 25 part 6 (files): a full disk, a read-only place and a file in the path of ``--out`` are one
line naming the path, exit status 2, for ``run``, ``score`` (pair lists) and ``report``.

A full disk is simulated with RLIMIT_FSIZE (``ulimit -f``) in a subprocess: every write past the limit
fails with EFBIG, as ENOSPC would on a full disk (a small tmpfs would need privileges). A read-only
place is /sys (sysfs refuses new folders, to root too).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
from cli_fixture import env

from codecbench.cli import main
from tests.helpers import speechlike

READ_ONLY = Path("/sys/codecbench-cannot-write-here")


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    for k in range(2):
        sf.write(str(tmp_path / f"u{k}.wav"), speechlike(1.2, 16000, seed=k), 16000)
    (tmp_path / "m.jsonl").write_text("".join(json.dumps({"id": f"u{k}", "path": str(tmp_path / f"u{k}.wav"),
                                                          "lang": "en"}) + "\n" for k in range(2)))
    (tmp_path / "p.jsonl").write_text("".join(json.dumps({"id": f"u{k}", "ref": str(tmp_path / f"u{k}.wav"),
                                                          "deg": str(tmp_path / f"u{k}.wav")}) + "\n" for k in range(2)))
    return tmp_path


def _run(d: Path, out: Path | str, *extra: str) -> list[str]:
    return ["run", "--dataset", str(d / "m.jsonl"), "--codecs", "opus-6kbps", "--metrics", "si_sdr", "--workers", "0",
            "--out", str(out), "-q", *extra]


def _score(d: Path, out: Path | str) -> list[str]:
    return ["score", str(d / "p.jsonl"), "--metrics", "si_sdr", "--workers", "0", "--out", str(out), "-q"]


def _limited(argv: list[str], max_bytes: int) -> subprocess.CompletedProcess:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return subprocess.run([sys.executable, "-m", "codecbench", *argv], env=env(), capture_output=True, text=True,
                          timeout=600, preexec_fn=limit)


def _one_line(err: str) -> str:
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err[-3000:]
    return lines[0]


@pytest.mark.parametrize("command, limit", [("run", 40_000), ("score", 1_000)])
def test_a_full_disk_is_one_line_naming_the_file(inputs, command, limit):
    out = inputs / "out"
    argv = _run(inputs, out, "--save-audio", "all") if command == "run" else _score(inputs, out)
    res = _limited(argv, limit)
    line = _one_line(res.stderr)
    assert res.returncode == 2 and line.startswith(f"codecbench: error: cannot write {out}/"), line
    assert "File too large" in line, line
    again = subprocess.run([sys.executable, "-m", "codecbench", *argv], env=env(), capture_output=True, text=True,
                           timeout=600)  # room again: the same command completes
    assert again.returncode == 0, again.stderr[-3000:]


def test_a_full_disk_while_writing_a_report(inputs):
    assert main(_run(inputs, inputs / "run", "--save-audio", "all")) == 0
    res = _limited(["report", str(inputs / "run"), "--out", str(inputs / "rep"), "--no-plots"], 20_000)
    line = _one_line(res.stderr)
    assert res.returncode == 2 and f"cannot write {inputs / 'rep'}" in line and "File too large" in line, line


@pytest.mark.parametrize("command", ["run", "score", "report"])
@pytest.mark.parametrize("where", ["read-only", "file-in-path"])
def test_out_in_a_place_that_cannot_hold_it(inputs, capsys, command, where):
    out = READ_ONLY / "x" if where == "read-only" else inputs / "u0.wav" / "sub"
    if command == "report":
        assert main(_run(inputs, inputs / "run")) == 0
        capsys.readouterr()
        argv = ["report", str(inputs / "run"), "--out", str(out), "--no-plots"]
    else:
        argv = _run(inputs, out) if command == "run" else _score(inputs, out)
    assert main(argv) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("codecbench: error: cannot write ") and str(out.parent) in line, line
