"""Every numeric or enumerated option of every command (issue 25 part 6): each bad value is exit status 2
with exactly one line on stderr, refused before any work (``tests/bad_options.py`` holds the table).

Commands that would start work meet a stub in place of it (the run's executor, the trainer), so a
value that slipped through fails the test instead of running a benchmark or a training."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.bad_options import CASES, call, classify, cuda_cases, make_folder


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return make_folder(tmp_path_factory.mktemp("options"))


def _reached(*args, **kwargs):
    raise AssertionError("the command reached its work: the value was not refused up front")


@pytest.mark.parametrize("argv", [pytest.param(argv, id=cid) for cid, argv in CASES + cuda_cases()])
def test_bad_value_is_one_line_exit_2(argv, base, tmp_path, monkeypatch):
    folder = tmp_path / "d"
    shutil.copytree(base, folder)
    monkeypatch.setattr("codecbench.pipeline.local.LocalExecutor.run", _reached)
    monkeypatch.setattr("codecbench.inhouse.train.train", _reached)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, err, tb = call(argv(folder))
    assert tb is None, tb
    assert classify(code, err, tb) == "ok", f"exit {code}: {err}"
    assert not (folder / "out").exists(), "a refused command left its run folder behind"
