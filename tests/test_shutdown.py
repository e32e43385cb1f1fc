"""Issue 25 part 2, with real processes: a run killed with -9 or sent SIGTERM leaves no process behind
(its forkserver, worker pool and resource tracker included: checked in /proc by session id), SIGTERM
is handled like Ctrl-C (exit 143 with a message, rows kept, lock released), and the run resumes to the
same rows. Only the main process is signalled, as ``timeout`` or a scheduler's kill of the main
process would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_fixture import env, manifest, rows

from codecbench.store import RunStore

pytestmark = pytest.mark.slow
ROWS = 24  # 2 codecs x 2 languages x 6 utterances


def session_processes(sid: int) -> list[str]:
    """'pid name' of every live process in session ``sid`` (zombies excluded): a run started with
    start_new_session is its session's leader, and its children stay in the session when reparented."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name, rest = stat[stat.index("(") + 1: stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        if rest[0] != "Z" and int(rest[3]) == sid:
            found.append(f"{entry} {name}")
    return found


def wait_gone(sid: int, timeout: float = 20.0) -> list[str]:
    end = time.monotonic() + timeout
    while (left := session_processes(sid)) and time.monotonic() < end:
        time.sleep(0.2)
    return left


_SESSIONS: list[int] = []


@pytest.fixture(autouse=True)
def _no_leftovers():
    """Whatever a failing test leaves behind is killed here, not left running on the machine."""
    yield
    while _SESSIONS:
        for line in session_processes(_SESSIONS.pop()):
            try:
                os.kill(int(line.split()[0]), signal.SIGKILL)
            except ProcessLookupError:
                pass


def popen(tmp_path: Path, *argv) -> tuple[subprocess.Popen, Path]:
    """The command in its own session, stderr to a file: a process left behind must not be able to
    keep the test waiting for the end of a pipe."""
    err = tmp_path / f"stderr-{time.monotonic_ns()}.txt"
    with open(err, "w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "codecbench", *map(str, argv)], env=env(), stdout=subprocess.DEVNULL,
                                stderr=f, start_new_session=True)
    _SESSIONS.append(proc.pid)
    return proc, err


def _start(tmp_path: Path):
    data = manifest(tmp_path / "data", per_lang=6, seconds=1.5)
    out = tmp_path / "run"
    argv = ["run", "--codecs", "opus-6kbps,opus-12kbps", "--dataset", data, "--metrics", "pesq_wb,stoi,si_sdr",
            "--batch-size", "2", "--workers", "2", "--out", out, "-q"]
    proc, err = popen(tmp_path, *argv)
    end = time.monotonic() + 300
    while not (out / "rows.jsonl").exists() or len((out / "rows.jsonl").read_text().splitlines()) < 2:
        assert proc.poll() is None, err.read_text()[-2000:]
        assert time.monotonic() < end, "the run wrote no rows"
        time.sleep(0.05)
    assert len(session_processes(proc.pid)) >= 4, session_processes(proc.pid)  # main, forkserver, 2 workers
    return proc, err, argv, out


def _resumes(tmp_path: Path, argv: list, out: Path) -> None:
    again, err = popen(tmp_path, *argv)
    assert again.wait(600) == 0, err.read_text()[-3000:]
    assert not wait_gone(again.pid)
    r = rows(out)
    assert len(r) == ROWS and not r.duplicated(["codec", "utt_id"]).any()
    assert (r["status"] == "ok").all() and r[["pesq_wb", "stoi", "si_sdr"]].notna().all().all()


def test_kill_9_of_the_main_process_leaves_no_process_behind(tmp_path):
    proc, _, argv, out = _start(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert wait_gone(proc.pid) == [], "processes of the killed run are still alive"
    _resumes(tmp_path, argv, out)


def test_sigterm_is_a_clean_stop(tmp_path):
    proc, err_file, argv, out = _start(tmp_path)
    os.kill(proc.pid, signal.SIGTERM)
    code = proc.wait(120)
    err = err_file.read_text()
    assert code == 143, err[-2000:]
    lines = [x for x in err.splitlines() if x.strip()]
    assert "Traceback" not in err and lines and "terminated" in lines[-1] and "resume" in lines[-1], err[-2000:]
    assert wait_gone(proc.pid) == []
    assert (out / ".lock").read_text() == ""  # released: the next run takes it at once
    raw = (out / "rows.jsonl").read_bytes()
    assert raw.endswith(b"\n") and 1 <= len(raw.splitlines()) < ROWS  # whole rows only, and not all of them
    assert all(r["status"] == "ok" for r in RunStore(out).rows())  # nothing recorded as a crash
    _resumes(tmp_path, argv, out)


def test_workers_are_capped_at_the_cpus_this_process_may_use(capsys):
    from codecbench.config import BenchConfig
    from codecbench.pipeline.resolve import available_cpus, resolve

    cfg = resolve(BenchConfig(codecs=["opus-6kbps"], metrics=["si_sdr"], workers=100000))
    assert cfg.workers == available_cpus() == len(os.sched_getaffinity(0))
    assert f"workers 100000 capped at {available_cpus()}" in capsys.readouterr().err
    assert resolve(BenchConfig(codecs=["opus-6kbps"], metrics=["si_sdr"], workers=1)).workers == 1
