"""Real processes: kill -9 of a run with the default worker pool in flight, then resume; `codecbench
train` through the CLI, killed and resumed; the example plugin installed and run through its entry point."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_fixture import ROOT, env, manifest, popen, rows

pytestmark = pytest.mark.slow


def _wait_for(cond, proc: subprocess.Popen, timeout: float = 240.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if proc.poll() is not None:
            raise AssertionError(f"finished before it could be killed (rc {proc.returncode}): {proc.stderr.read()[-2000:]}")
        if time.monotonic() > end:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_kill_9_with_the_default_worker_pool_in_flight_then_resume(tmp_path):
    data = manifest(tmp_path / "data", per_lang=12, seconds=1.5)
    out = tmp_path / "run"
    argv = ["run", "--codecs", "opus-6kbps,opus-12kbps", "--dataset", data, "--metrics", "pesq_wb,stoi,si_sdr",
            "--batch-size", "2", "--out", out, "-q"]  # --workers left at its default (a process pool)
    proc = popen(*argv)
    _wait_for(lambda: _lines(out / "rows.jsonl") >= 2, proc)
    os.killpg(proc.pid, signal.SIGKILL)  # the main process and its pool workers, mid-run
    proc.wait(30)
    done_before = _lines(out / "rows.jsonl")
    assert 2 <= done_before < 48
    again = popen(*argv)
    assert again.wait(600) == 0, again.stderr.read()[-3000:]
    r = rows(out)
    assert len(r) == 48 and not r.duplicated(["codec", "utt_id"]).any()
    assert (r["status"] == "ok").all() and r[["pesq_wb", "stoi", "si_sdr"]].notna().all().all()


TINY = ["--dim", "16", "--mlp-ratio", "2", "--encoder-blocks", "1", "--decoder-blocks", "1", "--latent-dim", "8",
        "--n-quantizers", "2", "--codebook-size", "16", "--threads", "1", "--batch-size", "2", "--segment-seconds", "0.4", "--log-every", "1"]


def test_train_through_the_cli_killed_and_resumed(tmp_path):
    data = manifest(tmp_path / "data", per_lang=2, seconds=1.0, langs=("xx",))
    out = tmp_path / "ckpt"
    argv = ["train", "--kind", "rvq", "--manifest", data, "--out", out, "--steps", "5000", "--save-every", "2", *TINY]
    proc = popen(*argv)
    _wait_for(lambda: (out / "model.safetensors").exists() and _lines(out / "log.jsonl") >= 4, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
    saved = json.loads((out / "config.json").read_text())["training"]["steps"]
    assert 2 <= saved < 5000
    resumed = popen(*[a if a != "5000" else str(saved + 3) for a in argv], "--resume")
    assert resumed.wait(300) == 0, resumed.stderr.read()[-3000:]
    assert json.loads((out / "config.json").read_text())["training"]["steps"] == saved + 3
    steps = [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert steps[-3:] == [saved + 1, saved + 2, saved + 3]
    run = tmp_path / "run"  # the trained checkpoint runs as a codec
    p = popen("run", "--codecs", f"ours-rvq:{out}", "--dataset", data, "--metrics", "si_sdr", "--workers", "0",
              "--out", run, "-q")
    assert p.wait(300) == 0, p.stderr.read()[-3000:]
    assert (rows(run)["status"] == "ok").all()


def test_example_plugin_installed_and_run_through_its_entry_point(tmp_path):
    target = tmp_path / "site"
    src = tmp_path / "example-plugin"  # built from a copy: setuptools leaves build/ beside the sources
    shutil.copytree(ROOT / "adapters" / "example-plugin", src, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                          "--target", str(target), str(src)],
                         capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stderr[-3000:]
    e = env()
    e["PYTHONPATH"] = os.pathsep.join([str(target), e["PYTHONPATH"]])
    listed = subprocess.run([sys.executable, "-m", "codecbench", "codecs"], env=e, capture_output=True, text=True,
                            timeout=300)
    assert listed.returncode == 0 and "example-mulaw-8k" in listed.stdout, listed.stderr[-2000:]
    models = subprocess.run([sys.executable, "-m", "codecbench", "models"], env=e, capture_output=True, text=True,
                            timeout=300)  # the plugin's model entry point
    assert models.returncode == 0 and "example-mulaw-curve" in models.stdout, models.stderr[-2000:]
    check = ("from codecbench.codecs.registry import get_spec; from codecbench.testing import check_codec; "
             "s = get_spec('example-mulaw-8k'); assert s.load.__module__ == 'codecbench_example', s.load.__module__; "
             "check_codec(s)")
    assert subprocess.run([sys.executable, "-c", check], env=e, capture_output=True, text=True,
                          timeout=300).returncode == 0
    data = manifest(tmp_path / "data", per_lang=1)
    p = popen("run", "--codecs", "example-mulaw-8k", "--dataset", data, "--metrics", "stoi,codebook", "--workers", "0",
              "--out", tmp_path / "run", "-q", env=e)
    assert p.wait(300) == 0, p.stderr.read()[-3000:]
    r = rows(tmp_path / "run")
    assert (r["status"] == "ok").all() and r["stoi"].notna().all() and r["codebook_used_share"].notna().all()
