"""Stage-aware progress of ``run`` and ``score``: the live display on a terminal (a screenshot of a real
run on a pseudo-terminal, replayed on a small screen), plain log lines elsewhere, an ETA from measured
costs that is right before the slow codecs start, and the per-stage profile in timings.json."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from cli_fixture import env, manifest, popen
from helpers import speechlike
from terminal import Screen, run_in_pty

from codecbench import audio
from codecbench.pipeline.monitor import RunMonitor
from codecbench.pipeline.progress import clock, lines, log_line


def _pairs(folder: Path, n: int = 6, seconds: float = 1.5) -> tuple[Path, Path]:
    ref_lines, deg_lines = [], []
    rng = np.random.default_rng(0)
    for i in range(n):
        x = speechlike(seconds + 0.1 * i, 16000, seed=i)
        ref, deg = folder / "ref" / f"u{i}.wav", folder / "deg" / f"u{i}.wav"
        audio.save(ref, x, 16000)
        audio.save(deg, x + 0.01 * rng.standard_normal(len(x)).astype(np.float32), 16000)
        ref_lines.append(f"u{i} {ref}")
        deg_lines.append(f"u{i} {deg}")
    (folder / "ref.scp").write_text("\n".join(ref_lines) + "\n")
    (folder / "deg.scp").write_text("\n".join(deg_lines) + "\n")
    return folder / "ref.scp", folder / "deg.scp"


def test_live_display_on_a_terminal(tmp_path):
    data = manifest(tmp_path / "data", per_lang=3, seconds=1.5)
    out = tmp_path / "run"
    rc, raw = run_in_pty([sys.executable, "-m", "codecbench", "run", "--codecs", "opus-6kbps,opus-12kbps", "--dataset",
                          str(data), "--metrics", "pesq_wb,stoi", "--batch-size", "2", "--out", str(out)], env(), cols=100)
    screen = Screen(100).feed(raw)
    final = screen.text()
    (tmp_path / "progress-final.txt").write_text(final)  # the screenshot, for a person to look at
    (tmp_path / "progress-frames.txt").write_text("\n----\n".join(screen.frames))
    assert rc == 0, final[-3000:]
    # the last frame stays on screen above the results table: every stage done, rows written, ETA 0:00
    assert re.search(r"^codecbench +\d+:\d\d elapsed +ETA 0:00 +rows 12/12$", final, re.M), final
    for label in ("reconstruct", "signal metrics"):
        assert re.search(rf"^  {label} +12/12 +[\d.]+/s", final, re.M), final
    assert "model metrics" not in final  # this run has none
    assert final.index("rows 12/12") < re.search(r"opus-6kbps +xx", final).start()  # then the results table
    # while it ran: frames with partial counts and the codec being worked on
    mid = [f for f in screen.frames if re.search(r"reconstruct +([0-9]|1[01])/12", f)]
    assert mid and any(re.search(r"reconstruct +\d+/12 .*opus-(6|12)kbps", f) for f in mid), screen.frames[:3]
    assert all(f.count("\ncodecbench ") + f.startswith("codecbench ") == 1 for f in screen.frames)  # one display


def test_log_lines_when_not_a_terminal(tmp_path):
    ref, deg = _pairs(tmp_path)
    proc = popen("score", ref, deg, "--out", tmp_path / "run", "--metrics", "pesq_wb,stoi")
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert "\x1b" not in stderr and "\r" not in stderr
    last = [line for line in stderr.splitlines() if line.startswith("codecbench: [")][-1]
    assert re.fullmatch(r"codecbench: \[\d+:\d\d\] load pairs 6/6 \([\d.]+/s\); signal metrics 6/6 \([\d.]+/s\); "
                        r"rows 6/6; ETA 0:00", last), last
    quiet = popen("score", ref, deg, "--out", tmp_path / "run2", "--metrics", "pesq_wb,stoi", "-q")
    _, stderr = quiet.communicate(timeout=300)
    assert quiet.returncode == 0 and "codecbench: [" not in stderr


def test_timings_json_profile(tmp_path):
    data = manifest(tmp_path / "data", per_lang=2, seconds=1.2)
    out = tmp_path / "run"
    proc = popen("run", "--codecs", "opus-6kbps", "--dataset", data, "--metrics", "pesq_wb,stoi", "--out", out, "-q",
                 "--workers", "1")
    assert proc.wait(300) == 0, proc.stderr.read()
    t = json.loads((out / "timings.json").read_text())
    assert set(t["stages"]) == {"reconstruct", "signal_metrics"}
    for st in t["stages"].values():
        assert st["items"] == 4 and st["audio_seconds"] > 4.0
        assert st["busy_seconds"] > 0 and st["cpu_seconds"] > 0 and st["idle_seconds"] >= 0 and st["peak_rss_mb"] > 0
    assert t["stages"]["signal_metrics"]["workers"] == 1
    assert {"pesq_wb", "stoi", "ref_check"} <= set(t["metrics"])
    assert all(m["stage"] == "signal_metrics" and m["items"] == 4 for m in t["metrics"].values())
    assert t["cpu_seconds"]["main"] > 0 and t["cpu_seconds"]["workers"] > 0
    assert t["peak_rss_mb"]["main"] >= t["stages"]["reconstruct"]["peak_rss_mb"] > 0
    assert t["peak_rss_mb"]["signal_worker"] == t["stages"]["signal_metrics"]["peak_rss_mb"] > 0
    assert "output" in t["stages"]["reconstruct"]["queue_wait_seconds"]


def _work(codec: str, n: int, seconds: float) -> list:
    return [SimpleNamespace(codec=codec, utt=SimpleNamespace(id=f"{codec}{i}", duration=seconds)) for i in range(n)]


def test_eta_from_measured_costs_before_the_slow_codecs_start():
    """Three codecs of 10 items x 4 s, processed in order; the neural ones cost 20x Opus. After two
    batches of Opus, the ETA already counts the neural codecs at their (calibrated) estimated cost,
    not at Opus's; a first step's one-off set-up does not count once later steps exist; rows
    finished (none yet) play no part."""
    work = {"opus-6kbps": _work("opus-6kbps", 10, 4.0), "ours-rvq": _work("ours-rvq", 10, 4.0),
            "ours-fsq": _work("ours-fsq", 10, 4.0)}
    priors = {"opus-6kbps": 0.05, "ours-rvq": 1.0, "ours-fsq": 1.0}
    mon = RunMonitor(work, {"reconstruct": 1, "signal_metrics": 2}, cores=2, priors=priors, rows_total=30)
    assert mon.eta() is None  # nothing measured yet
    first, second = work["opus-6kbps"][:5], work["opus-6kbps"][5:]
    mon.end("reconstruct", "opus-6kbps", first, 9.0, 0.5, running=False, fixed=0.4)  # 8.6 s of one-off set-up
    # then 0.02 s per second of audio reading it, 0.03 running Opus (0.6 x its estimate)
    mon.end("reconstruct", "opus-6kbps", second, 20 * 0.05, 0.1, running=False, fixed=20 * 0.02)
    assert mon.eta() is None  # the signal metrics have not finished a step
    mon.end("signal_metrics", "opus-6kbps", first[:1], 0.4, 0.4, running=False)  # 0.1 s per s of audio
    codec_left = 80 * (0.02 + 1.0 * 0.6)  # the neural codecs: reading + 0.6 x their estimate = 49.6 s
    signal_left = 29 * 4.0 * 0.1 / 2  # 5.8 s on 2 workers
    assert mon.eta() == pytest.approx(max(codec_left, signal_left))
    snap = mon.snapshot()
    assert [s["done"] for s in snap["stages"]] == [10, 1] and snap["rows"] == 0
    text = lines(snap)
    assert text[0] == "codecbench  0:00 elapsed  ETA ~0:50 (2 codecs not started yet)  rows 0/30"
    assert "ETA ~0:50 (2 codecs" in log_line(snap) and clock(3725) == "1:02:05" and clock(None) == "?"
    mon.end("reconstruct", "ours-rvq", work["ours-rvq"][:5], 20 * 0.3, 1.0, running=False, fixed=0.4)
    # ours-rvq measured now; ours-fsq (the same estimate) scaled like it: reading + 0.28 x 1.0
    assert mon.eta() == pytest.approx(20 * 0.3 + 40 * (0.02 + 0.28))
