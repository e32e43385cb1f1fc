"""Issue 25 part 3: hostile checkpoint folders (``hostile_inputs``: FIFOs and links to /dev/zero as
model.safetensors or config.json, a 5 GB sparse config, lying safetensors headers, configs whose
derived sizes explode) given to ``run`` as NAME:FOLDER each fail fast: exit 2, one line with the
reason, no run folder left. A SIGALRM bounds each case, so a regression fails instead of hanging."""

from __future__ import annotations

import json
import os
import signal
import time

import numpy as np
import pytest
import soundfile as sf

from codecbench import safe_io
from codecbench.cli import main
from codecbench.inhouse.config import CheckpointMismatch
from codecbench.inhouse.guard import check_model_dict
from tests.hostile_inputs import (
    INHOUSE_CASE_IDS,
    PRETRAINED_CASE_IDS,
    inhouse_checkpoint_cases,
    pretrained_checkpoint_cases,
)

pytest.importorskip("transformers")  # the pretrained layout (strict mode: a failure)
SECONDS = 20  # each case; they take well under one


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile-ckpt")
    sf.write(str(d / "a.wav"), (0.3 * np.sin(np.arange(16000) / 5)).astype(np.float32), 16000)
    (d / "m.jsonl").write_text(json.dumps({"id": "a", "path": str(d / "a.wav"), "lang": "en"}) + "\n")
    cases = inhouse_checkpoint_cases(d / "inhouse") + pretrained_checkpoint_cases(d / "pretrained")
    assert tuple(c.id for c in cases) == INHOUSE_CASE_IDS + PRETRAINED_CASE_IDS
    return d, {c.id: c for c in cases}


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


@pytest.mark.parametrize("uid", INHOUSE_CASE_IDS + PRETRAINED_CASE_IDS)
def test_hostile_checkpoint_fails_fast_with_one_line(corpus, uid, capsys):
    d, cases = corpus
    case = cases[uid]
    out = d / "out" / uid
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(SECONDS)
    t = time.perf_counter()
    try:
        code = main(["run", "--codecs", case.codec, "--dataset", str(d / "m.jsonl"), "--metrics", "si_sdr",
                     "--workers", "0", "--out", str(out), "-q"])
    except _Timeout:
        pytest.fail(f"{uid}: still running after {SECONDS} s")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.strip() and not x.startswith("codecbench: warning")]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err[-2000:]
    assert case.error in lines[0], lines[0]
    assert not out.exists()
    assert time.perf_counter() - t < SECONDS


@pytest.mark.parametrize("model, match", [
    ({"stft_hop": 1, "n_fft": 16384, "frame_hop": 16}, "MiB of memory per second"),
    ({"stft_hop": 1, "frame_hop": 1, "n_fft": 16}, "frame rate"),
    ({"n_fft": 64, "stft_hop": 160}, "n_fft \\(64\\) must be at least stft_hop"),
    ({"phase_iters": 10**9}, "phase_iters"),
])
def test_the_guard_bounds_derived_sizes(model, match):
    with pytest.raises(CheckpointMismatch, match=match):
        check_model_dict(model, "cfg")
    check_model_dict({}, "cfg")  # the defaults (the shipped architecture) pass


def test_reads_are_bounded_by_bytes_read_and_regular_files_only(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    for path, why in ((tmp_path / "fifo", "a FIFO"), ("/dev/zero", "a character device"), (tmp_path, "a folder")):
        with pytest.raises(safe_io.UnsafeFile, match=f"not a regular file \\({why}\\)"):
            safe_io.read_bounded(path, 100)
    sparse = tmp_path / "sparse"
    with open(sparse, "wb") as f:
        f.truncate(5 << 30)
    with pytest.raises(safe_io.UnsafeFile, match="more than 1000 bytes"):
        safe_io.read_bounded(sparse, 1000)
    (tmp_path / "small").write_bytes(b"x" * 1000)
    assert safe_io.read_bounded(tmp_path / "small", 1000) == b"x" * 1000
    os.symlink(tmp_path / "loop2", tmp_path / "loop1")
    os.symlink(tmp_path / "loop1", tmp_path / "loop2")
    with pytest.raises(safe_io.UnsafeFile, match="symlink loop"):
        safe_io.read_bounded(tmp_path / "loop1", 10)
    assert safe_io.path_problem(tmp_path / "loop1").startswith("symlink loop")
