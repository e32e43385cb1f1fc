"""What makes pair scoring start fast must not change what it computes: forked workers see the
parent's current environment and folder, a re-read reference is the same, and a command imports
only what it needs."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from codecbench import audio
from codecbench.pipeline import stages, workers
from codecbench.types import Utterance


def test_forked_workers_take_the_parents_current_environment_and_folder(tmp_path, monkeypatch):
    workers.start_server(["codecbench.metrics.stoi"])  # started before the change, as in a run
    monkeypatch.setenv("CODECBENCH_WORKER_PROBE", "after-the-server-started")
    monkeypatch.chdir(tmp_path)
    pool = workers.make_pool(2, [], str(tmp_path))
    try:
        assert pool.submit(os.getenv, "CODECBENCH_WORKER_PROBE").result() == "after-the-server-started"
        assert pool.submit(os.getcwd).result() == str(tmp_path)
    finally:
        pool.shutdown()
    assert (tmp_path / "workers.log").exists()  # worker stderr goes to the run folder


def _tone(seconds: float, sr: int = 16000, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def test_a_reference_read_again_comes_from_the_runs_recent_files_until_it_changes(tmp_path, monkeypatch):
    path = tmp_path / "ref.wav"
    audio.save(path, _tone(1.0), 16000, subtype="FLOAT")
    files = stages.RecentFiles()
    reads = []
    real_load = audio.load
    monkeypatch.setattr(audio, "load", lambda p, **kw: reads.append(p) or real_load(p, **kw))
    u = Utterance(id="a", path=str(path))
    first, _ = stages.load_utterance(u, 0.1, 300, files)
    first[:100] = 0.5  # an item's array is its own: changing it changes nothing for the next item
    again, _ = stages.load_utterance(Utterance(id="b", path=str(path)), 0.1, 300, files)
    assert len(reads) == 1 and np.array_equal(again, _tone(1.0)) and again.flags.writeable
    os.replace(_write(tmp_path / "new.wav", _tone(1.5)), path)  # replaced: new inode, size, time
    changed, _ = stages.load_utterance(Utterance(id="c", path=str(path)), 0.1, 300, files)
    assert len(reads) == 2 and len(changed) == 24000
    silent = tmp_path / "silent.wav"
    audio.save(silent, np.zeros(16000, np.float32), 16000)
    for uid in ("s1", "s2"):  # the signal gate's verdict is kept with the file, and given each time
        with pytest.raises(ValueError, match="silent"):
            stages.load_utterance(Utterance(id=uid, path=str(silent)), 0.1, 300, files)


def _write(path, wave):
    audio.save(path, wave, 16000, subtype="FLOAT")
    return path


@pytest.mark.parametrize("command, absent", [
    ("score", ["codecbench.report.leaderboard", "codecbench.inhouse.train", "pandas", "torch"]),
    ("run", ["codecbench.report.mushra", "codecbench.models", "pandas", "torch"]),
])
def test_a_command_imports_only_its_own_module(command, absent):
    code = (f"import sys; from codecbench.cli import build_parser; build_parser({command!r}); "
            f"print(sorted(m for m in {absent!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
